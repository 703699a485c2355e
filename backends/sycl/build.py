"""Build (once) and locate the C++ shim that drives SYCL run-time compilation.

The shared library is content-addressed: its path holds the intel-sycl-rt version and a
hash of shim.cpp (and of the build command), so a new runtime or a changed shim gets a new
file and old ones are never reused by mistake. It is compiled into a private temporary
file next to its final place and published with an atomic rename: a parallel process
either sees no library (and builds its own, the last rename wins, both are identical) or a
complete one. No lock files, so nothing can go stale or deadlock.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from importlib import metadata
from pathlib import Path

SHIM_SOURCE = Path(__file__).with_name("shim.cpp")
LIB_NAME = "libkf_sycl_shim.so"


class ShimBuildError(RuntimeError):
    pass


def cache_root() -> Path:
    """kf's cache directory: $KF_CACHE_DIR, else $XDG_CACHE_HOME/kf, else ~/.cache/kf."""
    env = os.environ.get("KF_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "kf"


def prepare_environment() -> None:
    """Set up the SYCL runtime's environment; call before `import dpctl`.

    - OCL_ICD_FILENAMES: the intel-opencl-rt wheel's .icd file points at a bogus path, so
      the OpenCL loader is told where the CPU runtime really is (only when unset).
    - SYCL_CACHE_PERSISTENT / SYCL_CACHE_DIR: the runtime compiler's persistent cache, so a
      source compiled before (in any process) builds in a fraction of a second.
    ONEAPI_DEVICE_SELECTOR is deliberately never set (it breaks 2026.2.0 without
    LD_LIBRARY_PATH).
    """
    ocl = prefix() / "lib" / "libintelocl.so"
    if "OCL_ICD_FILENAMES" not in os.environ and ocl.is_file():
        os.environ["OCL_ICD_FILENAMES"] = str(ocl)
    os.environ.setdefault("SYCL_CACHE_PERSISTENT", "1")
    if "SYCL_CACHE_DIR" not in os.environ:
        cache = cache_root() / "sycl-cache"
        try:
            cache.mkdir(parents=True, exist_ok=True)
        except OSError:
            return
        os.environ["SYCL_CACHE_DIR"] = str(cache)


def sycl_rt_version() -> str:
    try:
        return metadata.version("intel-sycl-rt")
    except metadata.PackageNotFoundError:
        return "unknown"


def prefix() -> Path:
    """Where intel-sycl-rt put include/ and lib/ (the virtual environment's prefix)."""
    return Path(sys.prefix)


def compiler() -> str:
    return os.environ.get("KF_CXX") or shutil.which("g++") or shutil.which("c++") or "g++"


def _command(out: Path) -> list[str]:
    pre = prefix()
    return [
        compiler(),
        "-std=c++17",
        "-O2",
        "-fPIC",
        "-shared",
        "-w",  # SYCL headers are noisy under g++; errors still fail the build
        f"-I{pre / 'include'}",
        str(SHIM_SOURCE),
        "-o",
        str(out),
        f"-L{pre / 'lib'}",
        f"-Wl,-rpath,{pre / 'lib'}",
        "-lsycl",
    ]


def shim_path() -> Path:
    """The content-addressed path of the shim for this runtime and this shim.cpp."""
    h = hashlib.sha256()
    h.update(SHIM_SOURCE.read_bytes())
    h.update("\0".join(_command(Path("OUT"))).encode())
    key = f"{sycl_rt_version()}-{h.hexdigest()[:16]}"
    return cache_root() / "sycl-shim" / key / LIB_NAME


@lru_cache(maxsize=1)
def ensure_shim() -> Path:
    """Return the path of a built shim, building it first if needed (~6-20 s once)."""
    target = shim_path()
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{LIB_NAME}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        cmd = _command(tmp)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ShimBuildError(f"could not run the C++ compiler for the SYCL shim: {exc}") from exc
        if proc.returncode != 0:
            raise ShimBuildError(
                "building the SYCL shim failed:\n" + " ".join(cmd) + "\n" + proc.stderr[-4000:]
            )
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)  # atomic: others see nothing or the whole library
    finally:
        if tmp.exists():
            try:
                tmp.unlink()
            except OSError:
                pass
    return target


if __name__ == "__main__":  # python -m backends.sycl.build
    print(ensure_shim())
