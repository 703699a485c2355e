"""The kernel index: every kernel file the server knows, parsed.

Two sources: the documents open in the editor (their text, with a version) and the
kernel files of the workspace folders on disk. An open document always wins: a change
on disk to a file that is open is ignored until the editor closes it (then the disk
copy is read again). Entries are immutable `FileEntry` values replaced as a whole, so a
handler that read one sees a consistent file even while a watcher thread updates the
index. Parsing never raises: a malformed kernel becomes a spec diagnostic inside the
KernelSource (backends.kernel.scanner), a file that cannot be parsed at all an entry with no
kernels and an `error`.

Disk reads (`scan`, `refresh`) block: call them off the event loop (asyncio.to_thread).
"""

from __future__ import annotations

import os
import threading
from typing import Iterable

import msgspec

from backends.model import Diagnostic, KernelSource, Language
from backends.kernel.scanner import find_kernels, language_of

__all__ = ["FileEntry", "KernelIndex", "KERNEL_EXTENSIONS", "is_ignored_dir", "is_kernel_path", "parse_entry"]

KERNEL_EXTENSIONS = (".cu", ".cuh", ".cpp", ".cc", ".cxx", ".c++", ".hpp", ".hh", ".hxx", ".h", ".sycl")
IGNORED_DIRS = frozenset({"build", ".git", "node_modules", ".kf", ".venv", "venv", "__pycache__", ".hg",
                          ".svn", ".cache", ".tox"})
MAX_FILE_BYTES = 4 * 1024 * 1024


def is_ignored_dir(name: str) -> bool:
    return name in IGNORED_DIRS or name.startswith("cmake-build-")


def is_kernel_path(path: str) -> bool:
    """A file the index considers (by extension, outside ignored directories)."""
    if not path.lower().endswith(KERNEL_EXTENSIONS):
        return False
    parts = os.path.normpath(path).split(os.sep)
    return not any(is_ignored_dir(p) for p in parts[:-1])


class FileEntry(msgspec.Struct, frozen=True):
    path: str  # real path
    text: str
    version: int | None  # the editor's version when open; None for disk contents
    open: bool
    language: Language | None
    kernels: list[KernelSource]
    error: str | None = None  # the file could not be parsed (the message)
    # kernel name -> the variant id of the code as it is (region + tunable values in effect):
    # a search's variant with this id is the code itself (already applied)
    current: dict[str, str] = {}
    # why the file cannot be compiled here at all (a CUDA file with host code and no nvcc): one
    # diagnostic at the first blocking line; its kernels offer no Optimize or Benchmark
    blocker: Diagnostic | None = None

    def kernel(self, name: str) -> KernelSource | None:
        return next((k for k in self.kernels if k.name == name), None)

    def kernel_at(self, line: int) -> KernelSource | None:
        """The kernel whose region (spec lines + definition) holds `line`."""
        for k in self.kernels:
            if k.region.start.line <= line <= k.region.end.line:
                return k
        return None


def parse_entry(path: str, text: str, version: int | None = None, open_: bool = False) -> FileEntry:
    language = language_of(path, text)
    if language is None:
        return FileEntry(path, text, version, open_, None, [])
    try:
        kernels = find_kernels(text, path, language)
    except Exception as e:  # find_kernels promises not to raise; a bug must not stop the index
        return FileEntry(path, text, version, open_, language, [], f"{type(e).__name__}: {e}")
    return FileEntry(path, text, version, open_, language, kernels, current=_current_ids(text, kernels),
                     blocker=build_blocker(path, text) if language == "cuda" and kernels else None)


def build_blocker(path: str, text: str) -> Diagnostic | None:
    """The one-line reason a CUDA file cannot be compiled on this machine, or None. Only what
    holds whatever the project's flags are: host code where no nvcc is installed (a missing
    header may be found through flags; the compile itself reports that)."""
    try:
        from backends.cuda.nvcc import NVCC_INSTALL_HINT, find_nvcc

        if find_nvcc():
            return None
        from backends.cuda.compiler import cuda_include_dirs
        from backends.cuda.host_code import nvrtc_blocker

        b = nvrtc_blocker(path, text, [], list(cuda_include_dirs()))
    except Exception:  # the check is advice; a failure of it must not stop the index
        return None
    if b is None or b.kind == "missing-header":
        return None
    return Diagnostic(path, b.line, b.column, "error",
                      f"kf: {b.describe()}: compiling this file needs nvcc: {NVCC_INSTALL_HINT}", "kf")


def _current_ids(text: str, kernels: list[KernelSource]) -> dict[str, str]:
    from backends.kernel.text import Lines
    from backends.kernel.tunables import defaults
    from evolver.store import variant_id

    out: dict[str, str] = {}
    lines = Lines(text)  # once per file (splice.region_text builds one per call)
    for k in kernels:
        try:
            region = text[lines.offset(k.region.start):lines.offset(k.region.end)]
            out[k.name] = variant_id(region, defaults(text, k))
        except Exception:  # a half-typed tunable: no id, nothing counts as applied
            pass
    return out


def _read(path: str) -> str | None:
    try:
        if os.path.getsize(path) > MAX_FILE_BYTES:
            return None
        with open(path, encoding="utf-8", errors="replace", newline="") as f:
            return f.read()
    except OSError:
        return None


def norm(path: str) -> str:
    return os.path.realpath(path)


class KernelIndex:
    """Thread-safe: writers hold a lock, readers get whole immutable entries."""

    def __init__(self) -> None:
        self._files: dict[str, FileEntry] = {}
        self._lock = threading.Lock()

    # -- reading ----------------------------------------------------------------------

    def get(self, path: str) -> FileEntry | None:
        return self._files.get(norm(path))

    def files(self) -> list[FileEntry]:
        return list(self._files.values())

    def kernel(self, path: str, name: str) -> KernelSource | None:
        e = self.get(path)
        return e.kernel(name) if e is not None else None

    def kernels(self) -> list[KernelSource]:
        return [k for e in self.files() for k in e.kernels]

    # -- the editor's documents --------------------------------------------------------

    def open(self, path: str, text: str, version: int | None) -> FileEntry:
        entry = parse_entry(norm(path), text, version, True)
        with self._lock:
            self._files[entry.path] = entry
        return entry

    change = open

    def install(self, entry: FileEntry) -> None:
        """An open document's entry parsed elsewhere (kf_lsp.parsing)."""
        with self._lock:
            self._files[entry.path] = entry

    def close(self, path: str) -> FileEntry | None:
        """The document was closed: the disk contents take over (or it leaves the index)."""
        p = norm(path)
        with self._lock:
            old = self._files.pop(p, None)
        if old is None:
            return None
        return self.refresh(p)

    # -- disk ---------------------------------------------------------------------------

    def refresh(self, path: str) -> FileEntry | None:
        """Re-read one file from disk (a watcher saw it change). Open documents are left
        alone; a deleted or non-kernel file leaves the index. Returns the new entry."""
        p = norm(path)
        current = self._files.get(p)
        if current is not None and current.open:
            return current
        text = _read(p) if os.path.isfile(p) else None
        entry = parse_entry(p, text) if text is not None else None
        with self._lock:
            current = self._files.get(p)
            if current is not None and current.open:  # opened meanwhile: the editor wins
                return current
            if entry is None or not entry.kernels:
                self._files.pop(p, None)
                return None
            self._files[p] = entry
        return entry

    def remove(self, path: str) -> None:
        p = norm(path)
        with self._lock:
            e = self._files.get(p)
            if e is not None and not e.open:
                del self._files[p]

    def scan(self, roots: Iterable[str]) -> int:
        """Index the kernel files under the workspace folders. Returns the files indexed."""
        count = 0
        for root in roots:
            for dirpath, dirnames, filenames in os.walk(root):
                dirnames[:] = [d for d in dirnames if not is_ignored_dir(d)]
                for name in filenames:
                    if name.lower().endswith(KERNEL_EXTENSIONS):
                        if self.refresh(os.path.join(dirpath, name)) is not None:
                            count += 1
        return count
