"""CUDA files with host code -> cubin through nvcc, device code only.

nvcc parses the whole file as the project's build does (host headers, `main`, launches,
the project's defines and include paths) and compiles only its device code: `-cubin` for
the device's architecture, `-Xptxas -v` for registers and spills, `--keep` so the PTX
written on the way is read too (features, and the probes of backends/cuda/probes.py that
give the kernel's exact symbol and its parameters' types). nvcc needs a host compiler (gcc
or clang) to preprocess; it is an optional install: the `nvidia-cuda-nvcc` wheel (found
through cuda.pathfinder) or a CUDA toolkit (PATH, CUDA_HOME). Without it, files NVRTC can
take still compile (backends/cuda/host_code.py decides).

Nothing here raises: a failure is a CompileFailure with Diagnostics at the user's lines.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
import tempfile

from backends.model import Diagnostic
from backends.session import CompileFailure, CompileUnit

__all__ = ["find_nvcc", "nvcc_version", "compile_nvcc", "nvcc_options", "NVCC_INSTALL_HINT"]

NVCC_INSTALL_HINT = "install nvcc (`pip install nvidia-cuda-nvcc` or the CUDA toolkit)"
TIMEOUT_S = float(os.environ.get("KF_NVCC_TIMEOUT", "300"))


@functools.lru_cache(maxsize=1)
def find_nvcc() -> str | None:
    """$KF_NVCC, then cuda.pathfinder (the nvidia-cuda-nvcc wheel, CUDA_HOME, PATH)."""
    env = os.environ.get("KF_NVCC")
    if env:
        return env if os.path.isfile(env) and os.access(env, os.X_OK) else None
    try:
        from cuda import pathfinder

        found = pathfinder.find_nvidia_binary_utility("nvcc")
        if found:
            return str(found)
    except Exception:
        pass
    for root in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH")):
        if root and os.path.isfile(os.path.join(root, "bin", "nvcc")):
            return os.path.join(root, "bin", "nvcc")
    return shutil.which("nvcc")


@functools.lru_cache(maxsize=4)
def nvcc_version(path: str | None = None) -> str:
    """'13.0.88' (from `nvcc --version`), or '' when it cannot be run."""
    nvcc = path or find_nvcc()
    if not nvcc:
        return ""
    try:
        out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return ""
    m = re.search(r"V(\d+\.\d+\.\d+)", out) or re.search(r"release (\d+\.\d+)", out)
    return m.group(1) if m else ""


_LIBRARIES = ("cublas", "cufft", "curand", "cusolver", "cusparse", "npp", "nvjitlink", "nvrtc", "profiler", "nvjpeg")
# the pip package of each CUDA library's headers, for the message when one is missing
LIBRARY_PACKAGES = {"cublas": "nvidia-cublas", "cufft": "nvidia-cufft", "curand": "nvidia-curand",
                    "cusolver": "nvidia-cusolver", "cusparse": "nvidia-cusparse", "npp": "nvidia-npp",
                    "nvjpeg": "nvidia-nvjpeg", "nvrtc": "nvidia-cuda-nvrtc", "nvJitLink": "nvidia-nvjitlink"}


@functools.lru_cache(maxsize=1)
def library_include_dirs() -> tuple[str, ...]:
    """Header folders of the CUDA libraries installed as wheels (cuBLAS, cuFFT...): a system
    toolkit has them in its include/; pip installs put each in its own folder, which host
    code's `#include <cublas_v2.h>` must find as it would with the toolkit."""
    dirs: list[str] = []
    try:
        from cuda import pathfinder

        for lib in _LIBRARIES:
            try:
                d = pathfinder.find_nvidia_header_directory(lib)
            except Exception:
                d = None
            if d and os.path.normpath(str(d)) not in dirs:
                dirs.append(os.path.normpath(str(d)))
    except Exception:
        pass
    nvcc = find_nvcc()
    own = os.path.normpath(os.path.join(os.path.dirname(os.path.realpath(nvcc)), "..", "include")) if nvcc else ""
    # nvcc's own include folder comes first by itself; a folder with another runtime's headers
    # (a wheel of another CUDA version beside a system nvcc) would mix versions: left out
    return tuple(d for d in dirs if os.path.realpath(d) != os.path.realpath(own)
                 and not os.path.isfile(os.path.join(d, "cuda_runtime.h")))


def missing_library(message: str) -> str | None:
    """The pip package that provides a CUDA library header a compile could not find."""
    m = re.search(r"\b(cublas|cublasLt|cufft|curand|cusolver|cusparse|npp|nvjpeg|nvrtc|nvJitLink)\w*\.h", message)
    if not m:
        return None
    key = "cublas" if m.group(1).startswith("cublas") else m.group(1)
    return LIBRARY_PACKAGES.get(key)


# flags that only concern the host object kf never builds (warnings, host optimisation and
# code generation, the host compiler's own options given bare): left out of device compiles
HOST_ONLY = re.compile(r"^(-O\d?|-O[sgz]|-g\d?|-ggdb|-W(?!no-deprecated-gpu-targets$).*|-w$|-f.*|-m(?!axrregcount).*|"
                       r"-pthread$|-rdynamic$|-pipe$|-pedantic.*|-rdc=.*|--relocatable-device-code=.*|-dc$|"
                       r"-shared$|-static$|-s$|-DNDEBUG_HOST_ONLY$)$")
_NVCC_HOST_OK = re.compile(r"^(-O\d?|-Werror=.*|-Wno-deprecated-gpu-targets|-w)$")  # nvcc takes these as they are


def nvcc_options(flags: list[str]) -> tuple[list[str], list[str]]:
    """(options for a device-only nvcc run, flags left out: host-only ones nvcc would not
    take bare, and relocatable device code, which a loadable cubin cannot be)."""
    kept, dropped = [], []
    for f in flags:
        if HOST_ONLY.match(f) and not _NVCC_HOST_OK.match(f):
            dropped.append(f)
        else:
            kept.append(f)
    return kept, dropped


_GCC_DIAG = re.compile(r"^(?P<file>[^:\n]+?):(?P<line>\d+):(?:(?P<col>\d+):)? (?P<sev>fatal error|error|warning): "
                       r"(?P<msg>.*)$")
_NVCC_FATAL = re.compile(r"^nvcc (?:fatal|error) *: *(?P<msg>.*)$")


def gcc_diagnostics(log: str, path: str) -> list[Diagnostic]:
    """The host preprocessor's `file:line:col: error: ...` lines and nvcc's own fatal errors
    (the front end's `file(line): error` lines are NVRTC's format: compiler.parse_nvrtc_log)."""
    out: list[Diagnostic] = []
    for raw in log.splitlines():
        m = _GCC_DIAG.match(raw.strip())
        if m:
            sev = "warning" if m["sev"] == "warning" else "error"
            out.append(Diagnostic(m["file"], max(0, int(m["line"]) - 1), max(0, int(m["col"] or 1) - 1), sev,  # type: ignore[arg-type]
                                  m["msg"].strip(), "nvcc"))
            continue
        m = _NVCC_FATAL.match(raw.strip())
        if m:
            out.append(Diagnostic(path, 0, 0, "error", "nvcc: " + m["msg"].strip(), "nvcc"))
    return out


def compile_nvcc(unit: CompileUnit, arch: str, probes: str
                 ) -> tuple[int, str, bytes | None, str, str] | CompileFailure:
    """(exit status, log, cubin or None, ptx, nvcc version) of `unit.source` + `probes`; a
    CompileFailure when nvcc cannot be run at all."""
    nvcc = find_nvcc()
    if not nvcc:
        msg = f"CUDA compile needs nvcc for this file: {NVCC_INSTALL_HINT}"
        return CompileFailure([Diagnostic(unit.path, 0, 0, "error", msg, "kf")], msg)
    options, _ = nvcc_options(list(unit.options))
    with tempfile.TemporaryDirectory(prefix="kf-nvcc-") as tmp:
        src = os.path.join(tmp, "kf_unit.cu")
        with open(src, "w", encoding="utf-8") as f:
            f.write(unit.source)
            f.write(probes)
        cubin = os.path.join(tmp, "kf_unit.cubin")
        cmd = [nvcc, "-cubin", f"-arch={arch}", "-Xptxas=-v", "--keep", f"--keep-dir={tmp}", "-o", cubin,
               "-Wno-deprecated-gpu-targets"]
        if not any(o in ("-G", "--device-debug") for o in options):
            cmd.append("-lineinfo")
        cmd += [f"-I{d}" for d in unit.include_dirs]
        cmd += options
        cmd += [f"--system-include={d}" for d in library_include_dirs()]  # after the project's own
        cmd.append(src)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, cwd=tmp)
        except subprocess.TimeoutExpired:
            msg = f"nvcc took more than {TIMEOUT_S:.0f} s (KF_NVCC_TIMEOUT)"
            return CompileFailure([Diagnostic(unit.path, 0, 0, "error", msg, "nvcc")], msg)
        except OSError as e:
            msg = f"cannot run nvcc ({nvcc}): {e}"
            return CompileFailure([Diagnostic(unit.path, 0, 0, "error", msg, "nvcc")], msg)
        log = (proc.stdout + proc.stderr).replace(src, unit.path)
        if proc.returncode != 0 or not os.path.isfile(cubin):
            return proc.returncode or 1, log, None, "", nvcc_version(nvcc)
        with open(cubin, "rb") as f:
            data = f.read()
        ptx = ""
        ptx_path = os.path.join(tmp, "kf_unit.ptx")
        if not os.path.isfile(ptx_path):
            ptx_path = next((os.path.join(tmp, n) for n in sorted(os.listdir(tmp)) if n.endswith(".ptx")), "")
        if ptx_path:
            with open(ptx_path, encoding="utf-8", errors="replace") as f:
                ptx = f.read()
    return 0, log, data, ptx, nvcc_version(nvcc)
