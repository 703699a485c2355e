"""Precompiled preambles for SYCL run-time compiles (the runtime's `--persistent-auto-pch`).

Nearly all of a SYCL kernel's compile is clang parsing <sycl/sycl.hpp> (time trace of the
reduction example: 4.3 of 4.9 s in the front end's "Source"); the runtime's own cache answers
only a text whose *preprocessed* form was compiled before, so every tuning value that changes
the kernel's code is a full compile. With the preamble (the leading #includes) precompiled on
disk a compile took 3.1-3.5 s against 4.6-5.0 s (docs/evaluation.md); building the
precompiled preamble costs one compile more, once per machine.

Used only where it is sound (backends/kernel/preamble.py): the runtime reuses a precompiled
preamble by its text and options alone, never checking the headers again, so only toolchain
headers qualify. They live under the runtime's cache directory (SYCL_CACHE_DIR; none without
SYCL_CACHE_PERSISTENT=1), in a folder named for the runtime and the system's C++ headers, so an
upgrade of either starts afresh; at most MAX_ENTRIES are kept (about 40 MB each).
KF_SYCL_PCH=0 turns it off.
"""

from __future__ import annotations

import glob
import hashlib
import os
import threading
from functools import lru_cache
from pathlib import Path

from backends.kernel.preamble import headers_fixed, preamble

MAX_ENTRIES = int(os.environ.get("KF_SYCL_PCH_ENTRIES", "8") or 8)
OPTION = "--persistent-auto-pch="

# the system headers the runtime compiler reads (libstdc++, libc): a package upgrade rewrites
# these folders, which changes their modification times and so the folder's name
_SYSTEM_DIRS = ("/usr/include", "/usr/include/c++/*", "/usr/include/x86_64-linux-gnu",
                "/usr/include/x86_64-linux-gnu/c++/*", "/usr/include/*/bits", "/usr/lib/gcc/*/*/include")
_lock = threading.Lock()
_writes = 0


@lru_cache(maxsize=1)
def _fingerprint() -> str:
    from backends.sycl.build import prefix, sycl_rt_version

    h = hashlib.sha256(sycl_rt_version().encode())
    for path in [str(prefix() / "lib" / "libsycl-jit.so")] + sorted(
            p for pattern in _SYSTEM_DIRS for p in glob.glob(pattern)):
        try:
            st = os.stat(path)
        except OSError:
            continue
        h.update(f"{path}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return h.hexdigest()[:16]


def pch_dir() -> Path | None:
    """Where precompiled preambles go, created; None: off (KF_SYCL_PCH=0, no persistent cache)."""
    if os.environ.get("KF_SYCL_PCH") == "0" or os.environ.get("SYCL_CACHE_PERSISTENT") != "1":
        return None
    base = os.environ.get("SYCL_CACHE_DIR")
    if not base:
        return None
    d = Path(base) / "kf-pch" / _fingerprint()
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return d


def options(source: str, include_dirs: list[str]) -> list[str]:
    """The compile options that precompile `source`'s preamble, or [] where that is not sound
    (or off)."""
    if headers_fixed(preamble(source), include_dirs) is not None:
        return []
    d = pch_dir()
    if d is None:
        return []
    _prune_now_and_then(d)
    return [OPTION + str(d)]


def _prune_now_and_then(d: Path) -> None:
    """Keep the MAX_ENTRIES most recently written preambles (checked every 16th compile)."""
    global _writes
    with _lock:
        _writes += 1
        due = _writes % 16 == 1
    if not due:
        return
    try:
        files = sorted((p for p in d.iterdir() if p.is_file()), key=lambda p: p.stat().st_mtime)
    except OSError:
        return
    for p in files[: max(len(files) - MAX_ENTRIES, 0)]:
        try:
            p.unlink()
        except OSError:
            pass
