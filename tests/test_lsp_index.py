"""The kernel index: open documents over disk contents, ignored directories, watchers."""

from __future__ import annotations

import asyncio
import os

import pytest

from kf_lsp.core.index import KernelIndex, is_kernel_path, parse_entry
from kf_lsp.lsp.watch import Debouncer, FolderWatcher

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAXPY = open(os.path.join(REPO, "examples", "sycl", "saxpy.cpp")).read()
CUDA = open(os.path.join(REPO, "examples", "cuda", "saxpy.cu")).read()


def tree(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "saxpy.cpp").write_text(SAXPY)
    (tmp_path / "src" / "k.cu").write_text(CUDA)
    (tmp_path / "src" / "plain.cpp").write_text("int main() { return 0; }\n")
    (tmp_path / "notes.txt").write_text("__global__ void nope() {}\n")
    for ignored in ("build", ".git", "node_modules", ".kf", ".venv", "cmake-build-debug"):
        (tmp_path / ignored).mkdir()
        (tmp_path / ignored / "copy.cu").write_text(CUDA)
    return tmp_path


def test_scan_indexes_kernel_files_and_skips_build_directories(tmp_path):
    root = tree(tmp_path)
    idx = KernelIndex()
    assert idx.scan([str(root)]) == 2
    names = sorted(os.path.relpath(e.path, os.path.realpath(root)) for e in idx.files())
    assert names == ["src/k.cu", "src/saxpy.cpp"]
    assert idx.kernel(str(root / "src" / "saxpy.cpp"), "saxpy") is not None
    assert not is_kernel_path("/w/build/x.cu") and not is_kernel_path("/w/cmake-build-rel/x.cu")
    assert is_kernel_path("/w/src/x.cuh") and not is_kernel_path("/w/src/x.py")


def test_open_documents_win_over_disk(tmp_path):
    root = tree(tmp_path)
    path = str(root / "src" / "saxpy.cpp")
    idx = KernelIndex()
    idx.scan([str(root)])
    edited = SAXPY.replace("void saxpy(", "void saxpy2(")
    idx.open(path, edited, 4)
    (root / "src" / "saxpy.cpp").write_text(SAXPY.replace("void saxpy(", "void saxpy3("))
    e = idx.refresh(path)  # a watcher saw the disk change: the editor's text stays
    assert e.open and e.version == 4 and [k.name for k in e.kernels] == ["saxpy2"]
    e = idx.close(path)  # closed: the disk copy takes over
    assert not e.open and [k.name for k in e.kernels] == ["saxpy3"]
    os.remove(path)
    assert idx.refresh(path) is None and idx.get(path) is None


def test_malformed_text_never_raises():
    for text in ["", "\x00\x01", "__global__ void k(float* x {", "/* never closed", '"', "template <",
                 "__global__ void k(int n) { if (n) { }", "// @kf in x: float[\n__global__ void k(float* x) {}"]:
        e = parse_entry("/w/a.cu", text, 1, True)
        assert e.error is None
    e = parse_entry("/w/a.cu", "// @kf in x: float[\n__global__ void k(float* x) {}", 1, True)
    assert e.kernels and e.kernels[0].spec_errors


def test_kernel_at_line_covers_spec_and_definition():
    e = parse_entry("/w/saxpy.cpp", SAXPY, 1, True)
    k = e.kernels[0]
    assert e.kernel_at(k.region.start.line) is k and e.kernel_at(k.region.end.line) is k
    assert e.kernel_at(0) is None
    assert e.current["saxpy"]


@pytest.mark.asyncio
async def test_debouncer_coalesces_and_filters():
    got: list[set[str]] = []
    d = Debouncer(asyncio.get_running_loop(), 0.2, got.append)
    d.add(["/w/a.cu", "/w/b.txt"])
    d.add(["/w/a.cu", "/w/build/c.cu", "/w/c.cuh"])
    assert got == []  # nothing before the pause (no sleep here: a loaded machine may sleep long)
    for _ in range(600):  # the pause, however late the loop runs it (60 s at most)
        if got:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)  # (a second call would come after another pause)
    assert got == [{"/w/a.cu", "/w/c.cuh"}]


@pytest.mark.asyncio
async def test_folder_watcher_reports_changes(tmp_path):
    got: list[set[str]] = []
    d = Debouncer(asyncio.get_running_loop(), 0.1, got.append)
    w = FolderWatcher(d)
    assert w.start([str(tmp_path)]) is None
    try:
        (tmp_path / "new.cu").write_text(CUDA)
        (tmp_path / "build").mkdir()
        (tmp_path / "build" / "gen.cu").write_text(CUDA)
        for _ in range(600):  # a guard, not a claim: returns at the first report (60 s at most, as wait_for)
            await asyncio.sleep(0.1)
            if got:
                break
        assert got, "the watcher reported nothing in 60 s"
        paths = set().union(*got)
        assert any(p.endswith("new.cu") for p in paths)
        assert not any("build" in p for p in paths)
    finally:
        w.stop()
