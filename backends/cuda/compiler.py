"""CUDA C++ -> cubin (and PTX), with no GPU needed: NVRTC, or nvcc for files with host code.

Which compiler, per file (choose_compiler): NVRTC, fast and always installed with
cuda-core, when the file is device code it can take whole (backends/cuda/host_code.py);
nvcc, device code only, when the file holds host code (`main`, `<stdio.h>`, launches) and
nvcc is installed (backends/cuda/nvcc.py). Both get the project's flags (CompileUnit.options,
from compile_commands.json, settings or `@kf flags`), translated for NVRTC. NVRTC also gets
what nvcc users have without asking: `M_PI`, `INFINITY`, and the C headers device code
uses (`<math.h>`, `<cstdint>`, `<float.h>`...), from nvrtc_headers/.

NVRTC is driven through `cuda.bindings.nvrtc` directly rather than `cuda.core.Program`:
the raw interface takes any option string the user gives (`-maxrregcount=32`,
`-DTILE=64`, `--use_fast_math`...) unchanged, and has been stable across the 13.x
bindings (the GPU machine runs 13.3, the development machines 13.5).

Every kernel is registered as a name expression (`nvrtcAddNameExpression`), so template
instances ("saxpy<256>"), C++-mangled kernels and extern "C" kernels are all found by
the lowered name NVRTC reports. ptxas runs with `-v`; its lines give the entry's
registers, spills, stack frame and static shared memory.

Nothing here raises: any failure comes back as a CompileFailure with a Diagnostic.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
from typing import Iterable

import msgspec

from backends.session import CompileFailure, CompileUnit
from backends.model import Diagnostic, Profile

PRELUDE_NAME = "kf_prelude.cu"  # NVRTC's name for the text before the harness's `#line 1 "path"`


class CompiledModule(msgspec.Struct, frozen=True):
    """A compiled (not yet loaded) kernel: the cubin and what the compiler said about it."""

    cubin: bytes
    entry: str  # as asked for: "vadd", "saxpy<256>"
    symbol: str  # the lowered (mangled) name to look the kernel up with
    arch: str
    resources: Profile
    warnings: list[Diagnostic]
    log: str
    ptx: str | None = None
    compiler: str = ""  # "nvrtc 13.5" / "nvcc 13.0.88": which compiler built it
    param_types: dict[int, str] = {}  # parameter index -> its element/scalar type as the compiler resolved it
    dropped_flags: list[str] = []  # project flags that do not apply to device code (left out)


# ---------------------------------------------------------------------------
# Headers
# ---------------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def cuda_include_dirs() -> tuple[str, ...]:
    """The CUDA toolkit headers (cuda_runtime.h, cuda_fp16.h, cooperative_groups.h) and
    CCCL's (cuda/std/...), found through cuda.pathfinder (toolkit or nvidia-* wheels),
    then CUDA_HOME / CUDA_PATH, then /usr/local/cuda."""
    dirs: list[str] = []
    try:
        from cuda import pathfinder

        for lib in ("cudart", "cccl"):
            try:
                d = pathfinder.find_nvidia_header_directory(lib)
            except Exception:
                d = None
            if d:
                dirs.append(str(d))
    except Exception:
        pass
    roots = [os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda"]
    for root in roots:
        if not root:
            continue
        inc = os.path.join(root, "include")
        if os.path.isfile(os.path.join(inc, "cuda_runtime.h")):
            dirs.append(inc)
            if os.path.isdir(os.path.join(inc, "cccl")):
                dirs.append(os.path.join(inc, "cccl"))
            break
    # CCCL inside the toolkit's include dir is found through include/cccl only
    for d in list(dirs):
        c = os.path.join(d, "cccl")
        if os.path.isdir(os.path.join(c, "cuda")):
            dirs.append(c)
    seen: dict[str, None] = {}
    for d in dirs:
        seen.setdefault(os.path.normpath(d), None)
    return tuple(seen)


# ---------------------------------------------------------------------------
# Log parsing
# ---------------------------------------------------------------------------

_NVRTC_DIAG = re.compile(
    r"^(?P<file>.+?)\((?P<line>\d+)\): (?P<sev>catastrophic error|fatal error|error|warning|remark)"
    r"(?: #(?P<num>[\w-]+))?: (?P<msg>.*)$"
)
_NVRTC_PLAIN = re.compile(r"^nvrtc: (?P<sev>error|warning): (?P<msg>.*)$")
_PTXAS_DIAG = re.compile(r"^ptxas (?P<sev>error|fatal|warning) *: (?P<msg>.*)$")


def parse_nvrtc_log(log: str, default_file: str) -> list[Diagnostic]:
    """NVRTC's `file(LINE): error: message` lines (followed by the echoed source line and a
    caret under the column, then continuation lines such as 'detected during instantiation
    of ...') and ptxas errors/warnings -> Diagnostics, errors first. Lines are 0-based."""
    out: list[Diagnostic] = []
    lines = log.replace("\x00", "").splitlines()
    i = 0
    while i < len(lines):
        text = lines[i].rstrip()
        m = _NVRTC_DIAG.match(text)
        if m:
            sev_word = m["sev"]
            if sev_word == "remark":
                i += 1
                continue
            severity = "warning" if sev_word == "warning" else "error"
            message = m["msg"].strip()
            if m["num"] and severity == "warning":
                message = f"{message} [#{m['num']}]"
            column = 0
            extra: list[str] = []
            j = i + 1
            # echoed source line, then the caret line (NVRTC indents both by two spaces)
            if j + 1 < len(lines) and lines[j + 1].strip() == "^":
                caret = lines[j + 1].index("^")
                column = max(0, caret - 2)
                j += 2
            while j < len(lines) and lines[j].startswith("  ") and lines[j].strip():
                if _NVRTC_DIAG.match(lines[j].rstrip()):
                    break
                extra.append(lines[j].strip())
                j += 1
            if extra:
                message = message + "\n" + "\n".join(extra)
            out.append(
                Diagnostic(
                    file=m["file"],
                    line=max(0, int(m["line"]) - 1),
                    column=column,
                    severity=severity,
                    message=message,
                    source="nvrtc",
                )
            )
            i = j
            continue
        m = _NVRTC_PLAIN.match(text)
        if m:
            out.append(Diagnostic(default_file, 0, 0, m["sev"], m["msg"].strip(), "nvrtc"))
            i += 1
            continue
        m = _PTXAS_DIAG.match(text)
        if m:
            sev = "warning" if m["sev"] == "warning" else "error"
            out.append(Diagnostic(default_file, 0, 0, sev, m["msg"].strip(), "ptxas"))
        i += 1
    return sort_diagnostics(out)


def sort_diagnostics(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    order = {"error": 0, "warning": 1, "info": 2}
    return sorted(diags, key=lambda d: order.get(d.severity, 3))


_ENTRY = re.compile(r"Compiling entry function '(?P<name>[^']+)'")
_PROPS = re.compile(r"Function properties for (?P<name>\S+)")
_FRAME = re.compile(
    r"(?P<stack>\d+) bytes stack frame, (?P<st>\d+) bytes spill stores, (?P<ld>\d+) bytes spill loads"
)
_USED = re.compile(r"Used (?P<regs>\d+) registers")
_SMEM = re.compile(r"(?P<smem>\d+) bytes smem")


def parse_ptxas_log(log: str) -> dict[str, Profile]:
    """ptxas -v output -> {function symbol: Profile} for every entry function compiled.

    ptxas info    : Compiling entry function '_Z4vaddPKfS0_Pfi' for 'sm_90'
    ptxas info    : Function properties for _Z4vaddPKfS0_Pfi
    ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
    ptxas info    : Used 12 registers, used 0 barriers, 1024 bytes smem, 368 bytes cmem[0]

    'Function properties' can also name non-inlined device functions; their frames are
    kept under their own names but only entries get the `Used` line."""
    found: dict[str, dict[str, int]] = {}
    entries: list[str] = []
    current: str | None = None  # the function the next 'Used' line belongs to
    props_for: str | None = None  # the function the next frame line belongs to
    for raw in log.replace("\x00", "").splitlines():
        line = raw.strip()
        m = _ENTRY.search(line)
        if m:
            current = m["name"]
            entries.append(current)
            found.setdefault(current, {})
            props_for = None
            continue
        m = _PROPS.search(line)
        if m:
            props_for = m["name"]
            found.setdefault(props_for, {})
            continue
        m = _FRAME.search(line)
        if m and props_for is not None:
            found[props_for].update(
                stack=int(m["stack"]), spill_stores=int(m["st"]), spill_loads=int(m["ld"])
            )
            continue
        m = _USED.search(line)
        if m and current is not None:
            d = found[current]
            d["registers"] = int(m["regs"])
            s = _SMEM.search(line)
            d["static_shared"] = int(s["smem"]) if s else 0
            continue
    out: dict[str, Profile] = {}
    for name in entries:
        d = found.get(name, {})
        out[name] = Profile(
            registers=d.get("registers"),
            spill_stores=d.get("spill_stores"),
            spill_loads=d.get("spill_loads"),
            stack_bytes=d.get("stack"),
            static_shared=d.get("static_shared"),
        )
    return out


def entry_profile(log: str, symbol: str) -> Profile:
    profiles = parse_ptxas_log(log)
    if symbol in profiles:
        return profiles[symbol]
    if len(profiles) == 1:
        return next(iter(profiles.values()))
    return Profile()


# ---------------------------------------------------------------------------
# NVRTC
# ---------------------------------------------------------------------------


class _NvrtcError(Exception):
    pass


def _check(result: tuple) -> tuple:
    from cuda.bindings import nvrtc

    err = result[0]
    if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        _, msg = nvrtc.nvrtcGetErrorString(err)
        raise _NvrtcError(msg.decode() if isinstance(msg, bytes) else str(msg))
    return result[1:]


def _has_arch_option(options: list[str]) -> bool:
    return any(
        o.startswith(("-arch", "--gpu-architecture", "--gpu-name")) for o in options
    )


@functools.lru_cache(maxsize=1)
def _no_cache_option() -> tuple[str, ...]:
    """Where a driver is present, NVRTC 13 reuses cubins from the driver's compute cache and
    then prints no ptxas lines (no registers, no spills). `--no-cache` turns that off; older
    NVRTCs that do not know the option get nothing."""
    try:
        from cuda.bindings import nvrtc

        err, prog = nvrtc.nvrtcCreateProgram(b"__global__ void kf_probe() {}", b"probe.cu", 0, [], [])
        if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            return ()
        try:
            (res,) = nvrtc.nvrtcCompileProgram(prog, 2, [b"--no-cache", b"--gpu-architecture=compute_90"])
        finally:
            nvrtc.nvrtcDestroyProgram(prog)
        return ("--no-cache",) if res == nvrtc.nvrtcResult.NVRTC_SUCCESS else ()
    except Exception:
        return ()


def nvrtc_flags(flags: list[str]) -> tuple[list[str], list[str]]:
    """The project's flags as NVRTC options, and those left out: host-only ones (-O levels,
    -Xcompiler, -ccbin, warnings: nvcc gives them to the host compiler). Anything else goes to
    NVRTC as it is, so a flag it does not know is its error, not silence."""
    from backends.cuda.nvcc import HOST_ONLY

    kept: list[str] = []
    dropped: list[str] = []
    for f in flags:
        if f.startswith("-I") and len(f) > 2:
            kept.append("--include-path=" + f[2:])
        elif f.startswith("--system-include="):
            kept.append("--include-path=" + f.split("=", 1)[1])
        elif f.startswith(("-maxrregcount=", "--maxrregcount=")):
            kept.append("--maxrregcount=" + f.split("=", 1)[1])
        elif f.startswith(("-Xptxas=", "--ptxas-options=")):
            kept.append("--ptxas-options=" + f.split("=", 1)[1])
        elif f == "-use_fast_math":
            kept.append("--use_fast_math")
        elif f.startswith(("-Xcompiler", "--compiler-options", "-ccbin", "--compiler-bindir", "-Xcudafe",
                           "--forward-unknown-to-host-compiler", "-allow-unsupported-compiler",
                           "--allow-unsupported-compiler", "--default-stream", "-default-stream")) or (
                HOST_ONLY.match(f) and f != "-w"):
            dropped.append(f)
        else:
            kept.append(f)
    return kept, dropped


def _options(unit: CompileUnit, arch: str, ptxas_verbose: bool) -> list[bytes]:
    from backends.cuda.host_code import SHIM_DIR

    user, _ = nvrtc_flags(list(unit.options))
    opts: list[str] = list(_no_cache_option())
    if not _has_arch_option(unit.options):
        opts.append(f"--gpu-architecture={arch}")
    if not any(o.startswith(("-std", "--std")) for o in user):
        opts.append("-std=c++17")
    if "-G" not in user and "--device-debug" not in user:
        opts.append("-lineinfo")
    if ptxas_verbose:
        opts.append("--ptxas-options=-v")
    for d in unit.include_dirs:
        opts.append(f"--include-path={d}")
    if unit.path:
        parent = os.path.dirname(os.path.abspath(unit.path))
        if os.path.isdir(parent):
            opts.append(f"--include-path={parent}")
    opts.extend(o for o in user if o.startswith("--include-path="))  # the project's -I before the toolkit's
    for d in cuda_include_dirs():
        opts.append(f"--include-path={d}")
    opts.append(f"--include-path={SHIM_DIR}")  # last: a real header of that name wins
    opts.append(f"--pre-include={os.path.join(SHIM_DIR, 'kf_nvrtc_prelude.h')}")
    opts.extend(o for o in user if not o.startswith("--include-path="))
    return [o.encode() for o in opts]


def _entry_missing(unit: CompileUnit, diags: list[Diagnostic]) -> list[Diagnostic]:
    """NVRTC reports an unknown or malformed entry in its generated `__nv_name_map` text:
    replace those with one error that names the kernel, in the user's file."""
    name_map = [d for d in diags if d.file == "__nv_name_map"]
    if not name_map:
        return diags
    rest = [d for d in diags if d.file != "__nv_name_map"]
    msg = f"kernel '{unit.entry}' not found or cannot be instantiated: {name_map[0].message}"
    return [Diagnostic(unit.path, 0, 0, "error", msg, "nvrtc")] + rest


@functools.lru_cache(maxsize=1)
def nvrtc_version() -> str:
    """'13.5' (NVRTC's own version), or ''."""
    try:
        from cuda.bindings import nvrtc

        _, major, minor = nvrtc.nvrtcVersion()
        return f"{major}.{minor}"
    except Exception:
        return ""


def _run_nvrtc(unit: CompileUnit, arch: str, want_cubin: bool, want_ptx: bool):
    """Returns (log, symbol, cubin|None, ptx|None, param types) or raises _CompileFailed."""
    from cuda.bindings import nvrtc

    from backends.cuda.probes import probe_source, type_probe_names, types_from_symbols

    entry = unit.entry.strip()
    probes = probe_source(entry, unit.probe_params, entry_probe=False, type_probes=True) if unit.probe_params else ""
    (prog,) = _check(nvrtc.nvrtcCreateProgram((unit.source + probes).encode(), PRELUDE_NAME.encode(), 0, [], []))
    try:
        _check(nvrtc.nvrtcAddNameExpression(prog, entry.encode()))
        names = type_probe_names(unit.probe_params) if probes else []
        for n in names:
            _check(nvrtc.nvrtcAddNameExpression(prog, n.encode()))
        opts = _options(unit, arch, ptxas_verbose=want_cubin)
        (result,) = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
        (size,) = _check(nvrtc.nvrtcGetProgramLogSize(prog))
        buf = b" " * size
        _check(nvrtc.nvrtcGetProgramLog(prog, buf))
        log = buf.rstrip(b"\x00 ").decode(errors="replace")
        if result != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            diags = _entry_missing(unit, parse_nvrtc_log(log, unit.path))
            if not any(d.severity == "error" for d in diags):
                _, msg = nvrtc.nvrtcGetErrorString(result)
                msg = msg.decode() if isinstance(msg, bytes) else str(msg)
                first = next((ln for ln in log.splitlines() if ln.strip()), "")
                diags.insert(0, Diagnostic(unit.path, 0, 0, "error", f"{msg}: {first}".rstrip(": "), "nvrtc"))
            raise _CompileFailed(CompileFailure(diagnostics=sort_diagnostics(diags), log=log,
                                                compiler=f"nvrtc {nvrtc_version()}".strip()))
        (lowered,) = _check(nvrtc.nvrtcGetLoweredName(prog, entry.encode()))
        symbol = lowered.decode() if isinstance(lowered, bytes) else str(lowered)
        lowered_probes = []
        for n in names:
            (low,) = _check(nvrtc.nvrtcGetLoweredName(prog, n.encode()))
            lowered_probes.append(low.decode() if isinstance(low, bytes) else str(low))
        cubin = ptx = None
        if want_cubin:
            (n,) = _check(nvrtc.nvrtcGetCUBINSize(prog))
            out = b" " * n
            _check(nvrtc.nvrtcGetCUBIN(prog, out))
            cubin = out
        if want_ptx:
            (n,) = _check(nvrtc.nvrtcGetPTXSize(prog))
            out = b" " * n
            _check(nvrtc.nvrtcGetPTX(prog, out))
            ptx = out.rstrip(b"\x00").decode(errors="replace")
        types = {i: t[0] for i, t in types_from_symbols(lowered_probes).items()}
        return log, symbol, cubin, ptx, types
    finally:
        try:
            nvrtc.nvrtcDestroyProgram(prog)
        except Exception:
            pass


class _CompileFailed(Exception):
    def __init__(self, failure: CompileFailure):
        super().__init__("compile failed")
        self.failure = failure


def _internal_failure(unit: CompileUnit, e: BaseException) -> CompileFailure:
    msg = f"CUDA compiler unavailable or failed: {type(e).__name__}: {e}"
    return CompileFailure(diagnostics=[Diagnostic(unit.path, 0, 0, "error", msg, "nvrtc")], log=msg)


# ---------------------------------------------------------------------------
# Which compiler
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Choice:
    """The compiler for a file and why: `blocker` is the first line NVRTC cannot take
    (host code, a host header), None for a self-contained file."""

    compiler: str  # "nvrtc" | "nvcc"
    reason: str = ""
    blocker: object | None = None  # backends.cuda.host_code.Blocker


def choose_compiler(path: str, text: str, include_dirs: list[str] | tuple[str, ...] = (),
                    skip: tuple[int, int] | None = None) -> Choice:
    """NVRTC for a file it can compile whole; nvcc (device code only) for a file with host
    code where nvcc is installed; KF_CUDA_COMPILER=nvcc|nvrtc forces one. Without nvcc, a
    file with host code keeps NVRTC and its blocker (compile_cuda then says what to install)."""
    from backends.cuda.host_code import nvrtc_blocker
    from backends.cuda.nvcc import find_nvcc

    forced = os.environ.get("KF_CUDA_COMPILER", "").strip().lower()
    if forced in ("nvcc", "nvrtc"):
        return Choice(forced, "KF_CUDA_COMPILER")
    try:
        blocker = nvrtc_blocker(path, text, list(include_dirs), list(cuda_include_dirs()), skip)
    except Exception:
        blocker = None
    if blocker is None:
        return Choice("nvrtc", "device code only")
    where = f"{os.path.basename(blocker.path)}:{blocker.line + 1}"
    if find_nvcc():
        return Choice("nvcc", f"{blocker.describe()} ({where})", blocker)
    return Choice("nvrtc", f"{blocker.describe()} ({where})", blocker)


def blocked(unit: CompileUnit, choice: Choice) -> CompileFailure | None:
    """One error at the first line NVRTC cannot take, saying what would fix it, when the
    file cannot be compiled here (host code, no nvcc); None when it can be tried."""
    b = choice.blocker
    if b is None or choice.compiler != "nvrtc":
        return None
    from backends.cuda.nvcc import NVCC_INSTALL_HINT

    if b.kind == "missing-header":
        msg = (f"{b.describe()}: add its folder to the project's include paths (compile_commands.json, "
               "kf.cuda.flags, --flags or `// @kf flags -I...`)")
    else:
        msg = f"needs nvcc for host code ({b.describe()}): {NVCC_INSTALL_HINT}"
    d = Diagnostic(b.path, b.line, b.column, "error", msg, "kf")
    return CompileFailure([d], msg, compiler=f"nvrtc {nvrtc_version()}".strip())


def compile_cuda(unit: CompileUnit, arch: str = "sm_90", *, want_ptx: bool = False) -> CompiledModule | CompileFailure:
    """Compile `unit` to a cubin for `arch` (e.g. "sm_90"); the PTX too when `want_ptx`.
    `unit.compiler` names the compiler; "" chooses here (choose_compiler)."""
    compiler = unit.compiler
    if compiler not in ("nvcc", "nvrtc"):
        choice = choose_compiler(unit.path, unit.source, unit.include_dirs)
        stop = blocked(unit, choice)
        if stop is not None:
            return stop
        compiler = choice.compiler
    if compiler == "nvcc":
        return _compile_nvcc(unit, arch)
    try:
        log, symbol, cubin, ptx, types = _run_nvrtc(unit, arch, want_cubin=True, want_ptx=want_ptx)
    except _CompileFailed as f:
        return f.failure
    except Exception as e:  # no NVRTC, bad bindings...: data, never an exception
        return _internal_failure(unit, e)
    try:
        warnings = [d for d in parse_nvrtc_log(log, unit.path) if d.severity != "error"]
        resources = entry_profile(log, symbol)
    except Exception as e:
        return _internal_failure(unit, e)
    return CompiledModule(
        cubin=cubin or b"", entry=unit.entry, symbol=symbol, arch=arch, resources=resources,
        warnings=warnings, log=log, ptx=ptx, compiler=f"nvrtc {nvrtc_version()}".strip(), param_types=types,
        dropped_flags=nvrtc_flags(list(unit.options))[1],
    )


def _compile_nvcc(unit: CompileUnit, arch: str) -> CompiledModule | CompileFailure:
    from backends.cuda import nvcc
    from backends.cuda.probes import entry_from_ptx, probe_source, types_from_symbols

    probes = probe_source(unit.entry.strip(), unit.probe_params, entry_probe=True, type_probes=bool(unit.probe_params))
    try:
        out = nvcc.compile_nvcc(unit, arch, probes)
    except Exception as e:
        return _internal_failure(unit, e)
    if isinstance(out, CompileFailure):
        version = nvcc.nvcc_version()
        return msgspec.structs.replace(out, compiler=f"nvcc {version}".strip())
    status, log, cubin, ptx, version = out
    diags = [msgspec.structs.replace(d, source="nvcc") for d in parse_nvrtc_log(log, unit.path)]
    diags = sort_diagnostics(diags + nvcc.gcc_diagnostics(log, unit.path))
    if status != 0 or cubin is None:
        diags = [_with_install_hint(d) for d in diags]
        if not any(d.severity == "error" for d in diags):
            last = [ln for ln in log.strip().splitlines() if ln.strip()][-3:]
            msg = f"nvcc failed (exit {status})" + (": " + " | ".join(last) if last else "")
            if re.search(r"(gcc|g\+\+|cl\.exe|clang|host compiler)[^\n]*(not found|No such file)|"
                         r"failed to preprocess host compiler", log, re.I):
                msg += ": nvcc needs a host C++ compiler (g++ or clang++ on PATH, or -ccbin in the flags)"
            diags.insert(0, Diagnostic(unit.path, 0, 0, "error", msg, "nvcc"))
        return CompileFailure(diags, log, compiler=f"nvcc {version}".strip())
    symbol = entry_from_ptx(ptx)
    if symbol is None:
        msg = f"kernel '{unit.entry}': nvcc compiled the file but kf could not find the kernel's symbol"
        return CompileFailure([Diagnostic(unit.path, 0, 0, "error", msg, "kf")], log, compiler=f"nvcc {version}")
    entries = re.findall(r"\.entry\s+([\w$]+)", ptx)
    types = {i: t[0] for i, t in types_from_symbols(entries).items()}
    warnings = [d for d in diags if d.severity != "error" and d.file != "<kf-probe>"]
    return CompiledModule(
        cubin=cubin, entry=unit.entry, symbol=symbol, arch=arch, resources=entry_profile(log, symbol),
        warnings=warnings, log=log, ptx=ptx, compiler=f"nvcc {version}".strip(), param_types=types,
        dropped_flags=nvcc.nvcc_options(list(unit.options))[1],
    )


def _with_install_hint(d: Diagnostic) -> Diagnostic:
    """A CUDA library header not found: say which package provides it."""
    from backends.cuda.nvcc import missing_library

    if d.severity != "error" or not re.search(r"No such file|cannot open source file", d.message):
        return d
    package = missing_library(d.message)
    if package is None:
        return d
    return msgspec.structs.replace(d, message=f"{d.message} (the host code includes a CUDA library's header: "
                                              f"`pip install {package}` or the CUDA toolkit provides it)")


def compile_ptx(unit: CompileUnit, arch: str = "sm_90") -> str | CompileFailure:
    """The unit's PTX (no ptxas run): for behavioural descriptors of a kernel."""
    if unit.compiler == "nvcc":
        out = compile_cuda(unit, arch, want_ptx=True)
        return out if isinstance(out, CompileFailure) else (out.ptx or "")
    virtual = "compute_" + arch.split("_", 1)[1] if arch.startswith("sm_") else arch
    try:
        _, _, _, ptx, _ = _run_nvrtc(unit, virtual, want_cubin=False, want_ptx=True)
    except _CompileFailed as f:
        return f.failure
    except Exception as e:
        return _internal_failure(unit, e)
    return ptx or ""


def artifact_salt(arch: str) -> str:
    """What decides a cubin besides the unit (the disk cache's key, backends/judge/compile_cache.py):
    the architecture, NVRTC's version (the cuda-bindings release) and this module's text."""
    import hashlib
    from importlib import metadata

    try:
        version = metadata.version("cuda-bindings")
    except metadata.PackageNotFoundError:
        version = "?"
    with open(__file__, "rb") as f:
        mine = hashlib.sha256(f.read()).hexdigest()[:16]
    return f"cuda|{arch}|cuda-bindings {version}|{mine}"
