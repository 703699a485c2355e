"""Issue 17/18, measured on projects kf had not seen (report: /work/notes/findings-17.md).

A new user's first steps on five public projects (CUDA samples, HeCBench programs, an SGEMM
tutorial built with CMake, oneAPI's dpct-migrated samples) failed in ways the corpus did not
show. Each test is one of those cases, on a small project laid out like the real one
(tmp_path), or on the real files kept in tests/corpus. Drafts only (no compile, no device):
they are cheap.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from backends.kernel.project_flags import compile_command_flags
from backends.kernel.scanner import find_kernels
from backends.kernel.spec import draft_spec

from test_host_drafts import buffer, lines, variables


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))


def draft(path: Path, kernel: str) -> str:
    text = path.read_text()
    k = next(k for k in find_kernels(text, str(path)) if k.name == kernel)
    return draft_spec(k, text=text, path=str(path))


def spec_lines(d: str) -> str:
    return "\n".join(ln for ln in d.splitlines() if "@kf" in ln)


# -- CMake's compile_commands.json --

def test_cmake_response_files_give_the_include_dirs(tmp_path):
    """CMake puts a CUDA target's include directories in `--options-file includes_CUDA.rsp`:
    cuda-samples failed with `helper_cuda.h: No such file or directory`."""
    build = tmp_path / "build"
    (build / "CMakeFiles" / "t.dir").mkdir(parents=True)
    (build / "CMakeFiles" / "t.dir" / "includes_CUDA.rsp").write_text(f'-I"{tmp_path}/../Common" -DUSE_X=1\n')
    src = tmp_path / "a.cu"
    src.write_text("__global__ void k() {}\n")
    (build / "compile_commands.json").write_text(json.dumps([{
        "directory": str(build), "file": str(src),
        "command": f"/usr/local/bin/nvcc -forward-unknown-to-host-compiler --options-file "
                   f"CMakeFiles/t.dir/includes_CUDA.rsp -std=c++17 -x cu -c {src} -o a.o"}]))
    pf = compile_command_flags(str(src))
    assert pf is not None
    assert f"-I{(tmp_path.parent / 'Common')}" in pf.flags, pf.flags
    assert "-DUSE_X=1" in pf.flags and "-std=c++17" in pf.flags, pf.flags


def test_a_file_without_an_entry_takes_the_nearest_entrys_flags(tmp_path):
    """A header holding kernels (src/kernels/k.cuh) has no entry; clangd borrows the flags of the
    nearest file of the project, and so does kf, saying whose."""
    (tmp_path / "src" / "kernels").mkdir(parents=True)
    (tmp_path / "build").mkdir()
    for f in ("src/runner.cu", "other/x.cpp", "src/kernels/k.cuh"):
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text("\n")
    (tmp_path / "build" / "compile_commands.json").write_text(json.dumps([
        {"directory": str(tmp_path / "build"), "file": str(tmp_path / "src/runner.cu"),
         "command": f"nvcc -I{tmp_path}/src -DRUNNER -c {tmp_path}/src/runner.cu"},
        {"directory": str(tmp_path / "build"), "file": str(tmp_path / "other/x.cpp"),
         "command": f"g++ -DOTHER -c {tmp_path}/other/x.cpp"}]))
    pf = compile_command_flags(str(tmp_path / "src/kernels/k.cuh"))
    assert pf is not None and "-DRUNNER" in pf.flags, pf
    assert "k.cuh has no entry" in pf.source and "src/runner.cu" in pf.source, pf.source
    assert compile_command_flags(str(tmp_path.parent / "elsewhere.cu")) is None


# -- SYCL: a helper taking the work-item is not a kernel --

def test_a_sycl_helper_taking_the_item_called_by_a_kernel_is_not_a_kernel(tmp_path):
    """HeCBench channelSum-sycl: `BlockReduce(a, b, item)` called from the nd_item kernels was
    listed as a kernel of its own (and failed: `T` has no binding)."""
    p = tmp_path / "main.cpp"
    p.write_text(textwrap.dedent("""
        #include <sycl/sycl.hpp>
        template <typename T>
        void BlockReduce(T &a, sycl::nd_item<1> &item) {
          a += sycl::reduce_over_group(item.get_group(), a, sycl::plus<T>());
        }
        void sum(const float *x, float *y, int n, sycl::nd_item<1> &item) {
          float v = x[item.get_global_id(0)];
          BlockReduce<float>(v, item);
          if (item.get_local_id(0) == 0) y[item.get_group(0)] = v;
        }
        void lone(float *x, sycl::nd_item<1> &item) { x[item.get_global_id(0)] = 1.0f; }
        int main() {
          sycl::queue q;
          int n = 1024;
          float *x = sycl::malloc_device<float>(n, q), *y = sycl::malloc_device<float>(n / 256, q);
          q.parallel_for(sycl::nd_range<1>(n, 256), [=](sycl::nd_item<1> item) { sum(x, y, n, item); });
        }
    """))
    names = [k.name for k in find_kernels(p.read_text(), str(p))]
    assert "BlockReduce" not in names, names
    assert "sum" in names and "lone" in names, names  # a function no lambda of this file launches stays one

