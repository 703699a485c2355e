"""SyclSession: the DeviceSession for SYCL, on any device dpctl lists (the CPU by default).

dpctl owns the devices, the queue (with profiling enabled) and USM memory; a small C++
shim (shim.cpp, built once by build.py, loaded with ctypes) compiles SYCL free-function
kernels from source at run time (create_kernel_bundle_from_source + build) and launches
them on dpctl's own sycl::queue with raw USM pointers (base + byte offset), so buffer
offsets, scalar arguments of any size and dynamic work-group scratch memory need no
detour through dpctl's Python launch API.
"""

from __future__ import annotations

import ctypes
import os
import re
import statistics
from dataclasses import dataclass, field
from typing import Sequence

from backends import compare_kernel
from backends.sycl import pch
from backends.sycl.build import ensure_shim, prepare_environment

prepare_environment()

import msgspec  # noqa: E402
import numpy as np  # noqa: E402

from backends.session import (  # noqa: E402
    BufferArg,
    CompileFailure,
    CompileUnit,
    DeviceFault,
    LaunchError,
    NullArg,
    ScalarArg,
    host_out,
)
from backends.kernel import dtypes  # noqa: E402
from backends.model import DeviceInfo, Diagnostic, Profile  # noqa: E402
from backends.sycl.devices import device_info, raw_devices  # noqa: E402

SOURCE = "sycl-rtc"

# ---------------------------------------------------------------------------
# The shim, through ctypes
# ---------------------------------------------------------------------------

_c_char_pp = ctypes.POINTER(ctypes.c_char_p)
_lib: ctypes.CDLL | None = None


def _shim() -> ctypes.CDLL:
    global _lib
    if _lib is not None:
        return _lib
    lib = ctypes.CDLL(str(ensure_shim()))
    vp, sz, i32 = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int
    out_str = ctypes.POINTER(ctypes.c_void_p)  # char** we free ourselves
    u64p = ctypes.POINTER(ctypes.c_uint64)
    lib.kf_free_str.argtypes = [vp]
    lib.kf_free_str.restype = None
    lib.kf_compile.argtypes = [vp, ctypes.c_char_p, _c_char_pp, i32, ctypes.c_char_p, i32,
                               ctypes.POINTER(vp), out_str]
    lib.kf_compile.restype = i32
    lib.kf_kernel_release.argtypes = [vp]
    lib.kf_kernel_release.restype = None
    lib.kf_kernel_info.argtypes = [vp, vp, ctypes.POINTER(ctypes.c_int64), i32]
    lib.kf_kernel_info.restype = i32
    lib.kf_launch.argtypes = [vp, vp, i32, ctypes.POINTER(sz), ctypes.POINTER(sz), sz, i32,
                              ctypes.POINTER(i32), ctypes.POINTER(vp), ctypes.POINTER(sz), u64p,
                              out_str]
    lib.kf_launch.restype = i32
    lib.kf_memcpy.argtypes = [vp, vp, vp, sz, u64p, out_str]
    lib.kf_memcpy.restype = i32
    lib.kf_fill.argtypes = [vp, vp, vp, i32, sz, out_str]
    lib.kf_fill.restype = i32
    _lib = lib
    return lib


def _take_str(p: ctypes.c_void_p) -> str:
    if not p.value:
        return ""
    try:
        return ctypes.string_at(p.value).decode("utf-8", "replace")
    finally:
        _shim().kf_free_str(p)


# ---------------------------------------------------------------------------
# Compiler log -> diagnostics
# ---------------------------------------------------------------------------

_DIAG = re.compile(
    r"^\s*(?P<file>[^\n]*?):(?P<line>\d+):(?P<col>\d+):\s*"
    r"(?P<sev>fatal error|error|warning|note|remark):\s*(?P<msg>.*)$",
    re.M,
)
_RTC_FILE = re.compile(r"(^|[\\/])rtc_\d+\.cpp$")
_LINE_DIRECTIVE = re.compile(r'^\s*#\s*(?:line\s+)?(\d+)(?:\s+"((?:[^"\\]|\\.)*)")?')


def line_map(source: str) -> list[tuple[str | None, int]]:
    """For each physical line of `source` (0-based), the (file, 0-based line) the `#line`
    directives say it is; (None, physical line) before any directive (kf's prelude)."""
    out: list[tuple[str | None, int]] = []
    cur_file: str | None = None
    next_line: int | None = None  # 0-based line the next physical line maps to
    for phys, text in enumerate(source.split("\n")):
        if next_line is None:
            out.append((None, phys))
        else:
            out.append((cur_file, next_line))
            next_line += 1
        m = _LINE_DIRECTIVE.match(text) if "#" in text else None
        if m:
            next_line = int(m[1]) - 1
            if m[2] is not None:
                cur_file = re.sub(r"\\(.)", r"\1", m[2])
            elif cur_file is None:
                cur_file = ""
    return out


def parse_log(log: str, path: str, source: str | None = None) -> list[Diagnostic]:
    """clang diagnostics (`file:line:col: error: msg`) as 0-based Diagnostics, errors first.

    The run-time compiler reports places in its virtual file (`rtc_N.cpp`) by physical
    line, ignoring `#line`, so they are mapped back through the `#line` directives of the
    source kf sent. A diagnostic in kf's prelude or in code the compiler generated is tied
    to the user's file at line 0 with its original place in the message. Diagnostics in
    headers (from -I directories) keep their real file.
    """
    lmap = line_map(source) if source is not None else []
    out: list[Diagnostic] = []
    seen = set()
    for m in _DIAG.finditer(log):
        sev = m["sev"]
        if sev in ("note", "remark"):
            continue
        severity = "error" if "error" in sev else "warning"
        file, line, col, msg = m["file"].strip(), int(m["line"]) - 1, int(m["col"]) - 1, m["msg"]
        if _RTC_FILE.search(file) or not file:
            mapped = lmap[line] if 0 <= line < len(lmap) else None
            if mapped is not None and mapped[0]:
                file, line = mapped[0], mapped[1]
            elif mapped is not None and mapped[0] == "":
                file, line = path, mapped[1]
            else:
                where = "kf's prelude" if mapped is not None else "compiler-generated code"
                msg = f"{msg} (in {where}, line {line + 1})"
                file, line, col = path, 0, 0
        key = (file, line, col, severity, msg)
        if key in seen:
            continue
        seen.add(key)
        out.append(Diagnostic(file=file, line=max(line, 0), column=max(col, 0),
                              severity=severity, message=msg, source=SOURCE))
    out.sort(key=lambda d: d.severity != "error")
    return out


def _first_lines(text: str, n: int = 6) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return "\n".join(lines[:n]) or "SYCL compilation failed"


def _failure(path: str, log: str, message: str | None = None,
             source: str | None = None) -> CompileFailure:
    diags = parse_log(log, path, source)
    if not any(d.severity == "error" for d in diags):
        diags.insert(0, Diagnostic(file=path, line=0, column=0, severity="error",
                                   message=message or _first_lines(log), source=SOURCE))
    elif message:
        diags.append(Diagnostic(file=path, line=0, column=0, severity="error",
                                message=message, source=SOURCE))
    return CompileFailure(diagnostics=diags, log=log)


def _not_found(path: str, log: str, message: str) -> CompileFailure:
    return CompileFailure(
        diagnostics=[Diagnostic(file=path, line=0, column=0, severity="error", message=message,
                                source=SOURCE)],
        log=message + ("\n" + log if log else ""),
    )


# Constructs that crash the run-time compiler of intel-sycl-rt 2026.2.0 (a segfault that
# takes the whole process down) are refused before compiling. KF_SYCL_NO_GUARD=1 lets them
# through (for a runtime that has fixed it).
_CRASHERS = re.compile(r"\b(get_work_group_scratch_memory|group_local_memory_for_overwrite|"
                       r"group_local_memory)\b")


def compiler_crash_guard(source: str, path: str) -> CompileFailure | None:
    if os.environ.get("KF_SYCL_NO_GUARD") == "1":
        return None
    lmap = None
    for phys, text in enumerate(source.split("\n")):
        m = _CRASHERS.search(text)
        if not m or "//" in text[: m.start()]:
            continue
        lmap = lmap or line_map(source)
        file, line = lmap[phys]
        col = m.start()
        if not file:
            file, line, col = path, 0, 0
        msg = (f"'{m[1]}' crashes the SYCL run-time compiler (intel-sycl-rt 2026.2.0), so kf "
               f"does not compile it; use a fixed-size syclexp::work_group_static<T[N]> "
               f"for work-group local memory instead")
        return CompileFailure(
            diagnostics=[Diagnostic(file=file, line=line, column=col, severity="error",
                                    message=msg, source=SOURCE)],
            log=msg,
        )
    return None


# ---------------------------------------------------------------------------
# Kernel dimensionality from the source: nd_range_kernel<N> on the entry
# ---------------------------------------------------------------------------


def kernel_dims(source: str, entry: str) -> int | None:
    base = entry.split("<", 1)[0].split("::")[-1].strip()
    if not base:
        return None
    for m in re.finditer(r"\b" + re.escape(base) + r"\s*\(", source):
        head = source[max(0, m.start() - 600): m.start()]
        # the declaration's own attributes: nothing ending a previous statement in between
        cut = max(head.rfind(";"), head.rfind("}"))
        head = head[cut + 1:]
        found = re.findall(r"nd_range_kernel\s*<\s*(\d)\s*>", head)
        if found:
            return int(found[-1])
        if re.search(r"single_task_kernel", head):
            return 1
    return None


# ---------------------------------------------------------------------------
# Objects handed to the harness
# ---------------------------------------------------------------------------


@dataclass
class SyclKernel:
    entry: str
    resources: Profile
    warnings: list[Diagnostic]
    log: str
    dims: int | None  # from nd_range_kernel<N>; None: from the launch shape
    handle: int = 0
    info: dict[str, int] = field(default_factory=dict)

    def release(self) -> None:
        if self.handle:
            h, self.handle = self.handle, 0
            try:
                _shim().kf_kernel_release(h)
            except Exception:
                pass

    def __del__(self):
        self.release()


class SyclBuffer:
    """A USM allocation (dpctl owns it): the memory object, its address and size."""

    __slots__ = ("mem", "ptr", "nbytes", "__weakref__")

    def __init__(self, mem, nbytes: int):
        self.mem = mem
        self.ptr = int(mem._pointer)
        self.nbytes = nbytes

    def __repr__(self) -> str:
        return f"SyclBuffer(0x{self.ptr:x}, {self.nbytes} bytes)"


_CTYPES = {
    "i8": ctypes.c_int8, "u8": ctypes.c_uint8, "i16": ctypes.c_int16, "u16": ctypes.c_uint16,
    "i32": ctypes.c_int32, "u32": ctypes.c_uint32, "i64": ctypes.c_int64, "u64": ctypes.c_uint64,
    "f32": ctypes.c_float, "f64": ctypes.c_double,
}


def scalar_bytes(arg: ScalarArg) -> bytes:
    """The scalar's bytes as the kernel parameter holds them (f16 through numpy)."""
    if arg.dtype == "f16":
        return np.array([arg.value], dtype=np.float16).tobytes()
    ct = _CTYPES.get(arg.dtype)
    if ct is None:
        raise LaunchError(f"unsupported scalar type {arg.dtype!r}")
    if arg.dtype.startswith(("i", "u")):
        v = int(arg.value)
        bits = ctypes.sizeof(ct) * 8
        if arg.dtype.startswith("u"):
            v &= (1 << bits) - 1
        return bytes(ct(v))
    return bytes(ct(float(arg.value)))


_LAUNCH_WORDS = re.compile(
    r"nd_range|work.?group|local size|global size|INVALID_WORK|INVALID_GLOBAL|"
    r"INVALID_KERNEL_ARGS|kernel_argument|OUT_OF_RESOURCES|non-uniform",
    re.I,
)


_DIGEST_SOURCE = r"""
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;
static inline unsigned long long kf_mix(unsigned long long z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
// the sum over j of mix(mix(key ^ j*phi) ^ block[j]) over the 64-bit blocks of the range
// (keyed_digest adds an odd last 32-bit word as block n, zero-extended): CudaSession's
// kf_digest over 64-bit blocks rather than 32-bit words, half the multiplies on a CPU device
// (64-bit multiplies without AVX-512 are the digest's cost there), the same keyed bijection
// per block. Order-free, so each work-item adds its share into the total once
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void kf_digest(const unsigned long long* p, unsigned long long n, unsigned long long key, unsigned long long* out) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  unsigned long long acc = 0;
  for (size_t j = it.get_global_id(0); j < n; j += it.get_global_range(0))
    acc += kf_mix(kf_mix(key ^ (j * 0x9E3779B97F4A7C15ull)) ^ p[j]);
  sycl::atomic_ref<unsigned long long, sycl::memory_order::relaxed, sycl::memory_scope::device> total(*out);
  total.fetch_add(acc);
}
"""

_CLOSE_SOURCE = r"""
#include <sycl/sycl.hpp>
#pragma clang fp contract(off)
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;
#define KF_FN static inline
#define KF_D2U(x) sycl::bit_cast<unsigned long long>((double)(x))
#define KF_U2D(u) sycl::bit_cast<double>((unsigned long long)(u))
#define KF_MUL(a, b) ((a) * (b))
#define KF_ADD(a, b) ((a) + (b))
#define KF_SUB(a, b) ((a) - (b))
#define KF_DIV(a, b) ((a) / (b))
""" + compare_kernel.ELEMENT_SOURCE + r"""
using kf_atomic = sycl::atomic_ref<unsigned long long, sycl::memory_order::relaxed, sycl::memory_scope::device>;
// backends/compare_kernel.py: each work-item's share of the elements, then its figures into
// out[0..8) with atomics (maxima as the bits of non-negative doubles, which order as integers)
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void kf_close(const unsigned char* ref, const unsigned char* cand, unsigned long long n, int kind, int size,
              double atol, double rtol, int poisoned, unsigned long long poison, unsigned long long* out) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  kf_close_acc a = {0, 0, 0, 0, 0, 0.0, 0.0, 0.0};
  kf_close_range(ref, cand, it.get_global_id(0), it.get_global_range(0), n, kind, atol, rtol, poisoned, poison, &a);
  kf_atomic(out[0]).fetch_add(a.ref_poison); kf_atomic(out[1]).fetch_add(a.unwritten);
  kf_atomic(out[2]).fetch_add(a.bad); kf_atomic(out[3]).fetch_add(a.nonfinite);
  kf_atomic(out[4]).fetch_add(a.compared);
  kf_atomic(out[5]).fetch_max(KF_D2U(a.max_abs)); kf_atomic(out[6]).fetch_max(KF_D2U(a.max_rel));
  kf_atomic(out[7]).fetch_max(KF_D2U(a.excess));
}

// dst[j] = src[idx[j]] for elements of `size` bytes: a fixed sample of a large buffer; whole
// elements at a time where `src` is aligned to them (byte by byte, a CPU device took 0.2 s for
// the 4M-element sample, twice NumPy's time on the host)
template <typename T>
static inline void kf_gather_as(const unsigned char* src, const unsigned long long* idx, unsigned char* dst,
                                size_t first, size_t step, unsigned long long n) {
  for (size_t j = first; j < n; j += step) ((T*)dst)[j] = ((const T*)src)[idx[j]];
}
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void kf_gather(const unsigned char* src, const unsigned long long* idx, unsigned char* dst, unsigned long long n,
               int size, int aligned) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t first = it.get_global_id(0), step = it.get_global_range(0);
  if (aligned && size == 1) kf_gather_as<unsigned char>(src, idx, dst, first, step, n);
  else if (aligned && size == 2) kf_gather_as<unsigned short>(src, idx, dst, first, step, n);
  else if (aligned && size == 4) kf_gather_as<unsigned int>(src, idx, dst, first, step, n);
  else if (aligned && size == 8) kf_gather_as<unsigned long long>(src, idx, dst, first, step, n);
  else
    for (size_t j = first; j < n; j += step)
      for (int k = 0; k < size; k++) dst[j * size + k] = src[idx[j] * size + k];
}
"""

_FILL_SOURCE = r"""
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;
// a fill of n 64-bit words with one pattern, every core taking its share (the queue's own fill
// ran at a third of a memcpy's speed on the CPU device: 0.41 s against 0.18 s for 256 MiB)
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void kf_fill(unsigned long long* p, unsigned long long n, unsigned long long pattern) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  for (size_t j = it.get_global_id(0); j < n; j += it.get_global_range(0)) p[j] = pattern;
}
"""
# fills at least this large go through kf_fill (built once per worker, 0.5-1.5 s from SYCL's disk
# cache on the 2-core machine): the large problems whose poison fills took seconds per evaluation
FILL_KERNEL_MIN_BYTES = 64 << 20

_M64 = (1 << 64) - 1


def _mix64(z: int) -> int:
    """kf_mix of the digest kernel, on the host (the odd last word of a range)."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)


_COPY_SOURCE = r"""
#include <sycl/sycl.hpp>
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((sycl::ext::oneapi::experimental::nd_range_kernel<1>))
void kf_copy(const sycl::vec<float, 4>* src, sycl::vec<float, 4>* dst, unsigned long n) {
  size_t i = sycl::ext::oneapi::this_work_item::get_nd_item<1>().get_global_id(0);
  if (i < n) dst[i] = src[i];
}
"""


class SyclSession:
    """DeviceSession over dpctl + the run-time compilation shim."""

    def __init__(self, device_index: int = 0, kind: str | None = None):
        import dpctl
        import dpctl.memory  # noqa: F401

        devices = raw_devices()
        if kind is not None:
            devices = [d for d in devices if _kind_of(d) == kind]
        if not devices:
            raise RuntimeError(
                "no SYCL device" + (f" of kind {kind!r}" if kind else "") + " found by dpctl"
            )
        if not 0 <= device_index < len(devices):
            raise RuntimeError(f"SYCL device index {device_index} out of range "
                               f"({len(devices)} device(s))")
        self.device = devices[device_index]
        all_devices = raw_devices()
        global_index = next((i for i, d in enumerate(all_devices) if d == self.device),
                            device_index)
        self.info: DeviceInfo = device_info(self.device, global_index)
        try:
            self.queue = dpctl.SyclQueue(self.device, property="enable_profiling")
        except Exception:
            self.queue = dpctl.SyclQueue(self.device)
        self._profiling = bool(getattr(self.queue, "has_enable_profiling", False))
        self._qref = int(self.queue.addressof_ref())
        self._lib = _shim()
        self._host_scratch: np.ndarray | None = None
        self._dev_scratch: SyclBuffer | None = None
        self._flush_counter = 0
        self._peak: float | None = None
        self._digest: SyclKernel | None = None
        self._close: dict[str, SyclKernel] = {}  # kf_close and kf_gather, built on first use
        self._filler: SyclKernel | bool | None = None  # kf_fill, built on the first large fill (False: failed)
        self._digest_sink: SyclBuffer | None = None
        self._events_usable: bool | None = None if self._profiling else False
        self._closed = False

    # -- compilation -------------------------------------------------------------

    def compile(self, unit: CompileUnit) -> SyclKernel | CompileFailure:
        try:
            return self._compile(unit)
        except Exception as exc:  # never raise: a failure is data
            msg = f"SYCL compilation failed inside kf: {type(exc).__name__}: {exc}"
            return CompileFailure(
                diagnostics=[Diagnostic(file=unit.path, line=0, column=0, severity="error",
                                        message=msg, source=SOURCE)],
                log=msg,
            )

    def _compile(self, unit: CompileUnit) -> SyclKernel | CompileFailure:
        crash = compiler_crash_guard(unit.source, unit.path)
        if crash is not None:
            return crash
        opts = [f"-I{d}" for d in unit.include_dirs] + list(unit.options)
        if unit.precompile:  # its preamble recurs: kept precompiled where sound (pch.py)
            opts += pch.options(unit.source, list(unit.include_dirs) + [o[2:] for o in unit.options
                                                                          if o.startswith("-I")])
        entry = unit.entry.strip()
        base = entry.split("<", 1)[0].strip()
        # The entry is registered with the compiler (a name expression: works for extern "C",
        # C++-linkage and template instances alike) when its name appears in the source;
        # otherwise the lookup by name reports it missing.
        register = bool(base) and re.search(
            r"(?<![\w:])" + re.escape(base.split("::")[-1]) + r"\b", unit.source) is not None
        code, handle, log = self._build(unit.source, opts, entry, register=register)
        not_found = (
            f"kernel '{entry}' not found in the compiled program (kf expects a SYCL "
            f"free-function kernel, declared with SYCL_EXT_ONEAPI_FUNCTION_PROPERTY(("
            f"syclexp::nd_range_kernel<N>)), of that name)"
        )
        if code == 1 and register:
            diags = parse_log(log, unit.path, unit.source)
            errors = [d for d in diags if d.severity == "error"]
            if errors and all("compiler-generated code" in d.message for d in errors):
                # only the registration of the name failed: the entry is not a kernel there
                return _not_found(unit.path, log, not_found)
        if code == 2:
            return _not_found(unit.path, log, not_found)
        if code == 4:
            return _failure(unit.path, log, log, unit.source)
        if code != 0:
            return _failure(unit.path, log, None, unit.source)
        info = self._kernel_info(handle)
        warnings = [d for d in parse_log(log, unit.path, unit.source) if d.severity == "warning"]
        sgs = [info["compile_sub_group_size"]] if info.get("compile_sub_group_size", 0) > 0 else []
        notes = []
        if info.get("work_group_size", 0) > 0:
            notes.append(f"max work-group size for this kernel: {info['work_group_size']}")
        if info.get("max_sub_group_size", 0) > 0:
            notes.append(f"max sub-group size: {info['max_sub_group_size']}")
        if info.get("preferred_work_group_size_multiple", 0) > 0:
            notes.append("preferred work-group size multiple: "
                         f"{info['preferred_work_group_size_multiple']}")
        pm = info.get("private_mem_size", -1)
        # Static work-group local memory (a lifted lambda's local accessors, work_group_static,
        # group_local_memory): the device reports it where it can (OpenCL); what a launch asks
        # for on top (dynamic scratch) is the launch's `shared`, added in the profile.
        lm = info.get("local_mem_size", -1)
        if lm < 0:
            notes.append("static local memory: not reported by this device's runtime "
                         "(the shared mem figure is what the launch requests)")
        resources = Profile(
            stack_bytes=pm if pm >= 0 else None,
            static_shared=lm if lm >= 0 else None,
            sub_group_sizes=sgs,
            notes=notes,
        )
        return SyclKernel(entry=entry, resources=resources, warnings=warnings, log=log,
                          dims=kernel_dims(unit.source, entry), handle=handle, info=info)

    def _build(self, source: str, opts: list[str], entry: str, register: bool):
        arr = (ctypes.c_char_p * max(len(opts), 1))(*[o.encode() for o in opts])
        handle = ctypes.c_void_p()
        log = ctypes.c_void_p()
        code = self._lib.kf_compile(self._qref, source.encode(), arr, len(opts), entry.encode(),
                                    int(register), ctypes.byref(handle), ctypes.byref(log))
        return code, handle.value or 0, _take_str(log)

    _INFO_KEYS = ("work_group_size", "compile_work_group_size", "compile_sub_group_size",
                  "private_mem_size", "max_sub_group_size", "compile_num_sub_groups",
                  "preferred_work_group_size_multiple", "max_num_sub_groups", "local_mem_size")

    def _kernel_info(self, handle: int) -> dict[str, int]:
        out = (ctypes.c_int64 * len(self._INFO_KEYS))()
        try:
            self._lib.kf_kernel_info(self._qref, handle, out, len(self._INFO_KEYS))
        except Exception:
            return {}
        return {k: int(v) for k, v in zip(self._INFO_KEYS, out) if v >= 0}

    # -- memory ------------------------------------------------------------------

    def alloc(self, nbytes: int) -> SyclBuffer:
        import dpctl.memory as dpm

        try:
            mem = dpm.MemoryUSMDevice(max(int(nbytes), 1), queue=self.queue)
        except Exception as e:  # USMAllocationError: the harness says which buffer did not fit
            if "alloc" in f"{type(e).__name__} {e}".lower():
                raise MemoryError(f"USM allocation of {int(nbytes)} bytes failed: {e}") from None
            raise
        buf = SyclBuffer(mem, int(nbytes))
        return buf

    def free_memory(self) -> int | None:
        """Bytes that can be allocated now: on a CPU device the host's available memory (the
        same memory); None where the runtime does not say (the harness plans with the total)."""
        if self.info.kind != "cpu":
            return None
        try:
            with open("/proc/meminfo") as f:
                for line in f:
                    if line.startswith("MemAvailable:"):
                        return int(line.split()[1]) * 1024
        except (OSError, ValueError, IndexError):
            pass
        return None

    def free(self, buffer: object) -> None:
        if isinstance(buffer, SyclBuffer):
            buffer.mem = None  # dpctl frees the USM allocation with its last reference
            buffer.ptr = 0
            buffer.nbytes = 0

    def _addr(self, buffer: object, offset: int, nbytes: int) -> int:
        if not isinstance(buffer, SyclBuffer) or not buffer.ptr:
            raise ValueError(f"not a live SYCL buffer: {buffer!r}")
        if offset < 0 or nbytes < 0 or offset + nbytes > max(buffer.nbytes, 0):
            raise ValueError(f"range [{offset}, {offset + nbytes}) outside a buffer of "
                             f"{buffer.nbytes} bytes")
        return buffer.ptr + offset

    def _memcpy(self, dst: int, src: int, nbytes: int, times=None) -> None:
        if nbytes == 0:
            return
        err = ctypes.c_void_p()
        code = self._lib.kf_memcpy(self._qref, dst, src, nbytes, times, ctypes.byref(err))
        msg = _take_str(err)
        if code != 0:
            raise RuntimeError(f"SYCL memcpy failed: {msg}")

    def write(self, buffer: object, offset: int, data: np.ndarray) -> None:
        host = np.ascontiguousarray(data).reshape(-1).view(np.uint8)
        dst = self._addr(buffer, offset, host.nbytes)
        self._memcpy(dst, host.ctypes.data, host.nbytes)

    def read(self, buffer: object, offset: int, nbytes: int, out: np.ndarray | None = None) -> np.ndarray:
        out = host_out(out, nbytes)
        src = self._addr(buffer, offset, int(nbytes))
        self._memcpy(out.ctypes.data, src, int(nbytes))
        return out

    def fill(self, buffer: object, offset: int, nbytes: int, pattern: bytes) -> None:
        pattern = bytes(pattern)
        size = len(pattern)
        if size not in (1, 2, 4, 8):
            raise ValueError("fill pattern must be 1, 2, 4 or 8 bytes")
        addr = self._addr(buffer, offset, nbytes)
        if nbytes == 0:
            return
        if nbytes >= FILL_KERNEL_MIN_BYTES and addr % 8 == 0 and self._fill_kernel() is not None:
            words = nbytes // 8
            wg = 64
            groups = max(1, min(-(-words // (wg * 256)), 16 * max(self.info.compute_units, 1)))
            word = int(np.frombuffer(pattern * (8 // size), dtype=np.uint64)[0])
            self.launch(self._filler, (groups * wg, 1, 1), (wg, 1, 1), 0,
                        [BufferArg(buffer, offset), ScalarArg(words, "u64"), ScalarArg(word, "u64")])
            if nbytes % 8:  # the pattern's phase is the same 8 bytes on
                self.fill(buffer, offset + 8 * words, nbytes % 8, pattern)
            return
        if addr % size != 0:  # misaligned for a typed fill: write the bytes from the host
            reps = -(-nbytes // size)
            host = np.frombuffer(pattern * reps, dtype=np.uint8)[:nbytes].copy()
            self._memcpy(addr, host.ctypes.data, nbytes)
            return
        count, tail = divmod(nbytes, size)
        if count:
            pat = ctypes.create_string_buffer(pattern, size)
            err = ctypes.c_void_p()
            code = self._lib.kf_fill(self._qref, addr, pat, size, count, ctypes.byref(err))
            msg = _take_str(err)
            if code != 0:
                raise RuntimeError(f"SYCL fill failed: {msg}")
        if tail:
            host = np.frombuffer(pattern[:tail], dtype=np.uint8).copy()
            self._memcpy(addr + count * size, host.ctypes.data, tail)

    # -- launching ---------------------------------------------------------------

    def _launch(self, kernel, grid, block, shared, args) -> tuple[int, int, int]:
        if not isinstance(kernel, SyclKernel) or not kernel.handle:
            raise LaunchError("not a compiled SYCL kernel (or it was released)")
        g = [int(x) for x in tuple(grid)] + [1] * (3 - len(tuple(grid)))
        b = [int(x) for x in tuple(block)] + [1] * (3 - len(tuple(block)))
        if any(x < 1 for x in g[:3]) or any(x < 1 for x in b[:3]):
            raise LaunchError(f"invalid nd_range: global {tuple(g)} local {tuple(b)}")
        for i in range(3):
            if g[i] % b[i]:
                raise LaunchError(
                    f"non-uniform work-groups: global size {tuple(g)} is not a multiple of the "
                    f"local size {tuple(b)} in dimension {i} (kf requires uniform work-groups, "
                    f"as most SYCL devices do)")
        dims = kernel.dims
        if dims is None:
            dims = max((i + 1 for i in range(3) if g[i] != 1 or b[i] != 1), default=1)
        if any(g[i] != 1 or b[i] != 1 for i in range(dims, 3)):
            raise LaunchError(f"kernel {kernel.entry!r} is {dims}-dimensional but the launch "
                              f"shape is global {tuple(g)} local {tuple(b)}")
        n = len(args)
        kinds = (ctypes.c_int * max(n, 1))()
        values = (ctypes.c_void_p * max(n, 1))()
        sizes = (ctypes.c_size_t * max(n, 1))()
        keep = []
        for i, a in enumerate(args):
            if isinstance(a, BufferArg):
                ptr = ctypes.c_void_p(self._addr(a.buffer, a.offset, 0))
                keep.append(ptr)
                kinds[i] = 0
                values[i] = ctypes.addressof(ptr)
                sizes[i] = ctypes.sizeof(ctypes.c_void_p)
            elif isinstance(a, NullArg):
                ptr = ctypes.c_void_p(0)
                keep.append(ptr)
                kinds[i] = 0
                values[i] = ctypes.addressof(ptr)
                sizes[i] = ctypes.sizeof(ctypes.c_void_p)
            elif isinstance(a, ScalarArg):
                raw = ctypes.create_string_buffer(scalar_bytes(a))
                keep.append(raw)
                kinds[i] = 1
                values[i] = ctypes.addressof(raw)
                sizes[i] = len(raw) - 1
            else:
                raise LaunchError(f"argument {i}: unsupported kind {type(a).__name__}")
        gl = (ctypes.c_size_t * 3)(*g)
        lo = (ctypes.c_size_t * 3)(*b)
        times = (ctypes.c_uint64 * 3)()
        err = ctypes.c_void_p()
        code = self._lib.kf_launch(self._qref, kernel.handle, dims, gl, lo, max(int(shared), 0),
                                   n, kinds, values, sizes, times, ctypes.byref(err))
        msg = _take_str(err)
        if code == 1:
            raise LaunchError(msg or "the SYCL runtime refused the launch")
        if code == 2:
            if _LAUNCH_WORDS.search(msg or ""):
                raise LaunchError(msg)
            raise DeviceFault(msg or "the kernel failed while running", sticky=True)
        if code != 0:
            raise DeviceFault(f"unexpected shim status {code}: {msg}")
        return int(times[0]), int(times[1]), int(times[2])

    def launch(self, kernel, grid, block, shared, args: Sequence) -> None:
        self._launch(kernel, grid, block, shared, args)

    def timed_launch(self, kernel, grid, block, shared, args: Sequence) -> float:
        start, end, host_ns = self._launch(kernel, grid, block, shared, args)
        return self._duration(start, end, host_ns)

    def _duration(self, start: int, end: int, host_ns: int) -> float:
        if self._events_usable is not False and end > start > 0:
            self._events_usable = True
            return (end - start) * 1e-9
        if self._events_usable is None:
            self._events_usable = False
        return max(host_ns, 1) * 1e-9

    @property
    def timing_method(self) -> str:
        return "sycl-events" if self._events_usable is not False else "host-clock"

    # -- caches and bandwidth ----------------------------------------------------

    def flush_caches(self) -> None:
        self._flush_counter = (self._flush_counter + 1) & 0xFF
        if self.info.kind == "cpu":
            # read-modify-write with ordinary loads and stores: a plain fill of this size
            # may use non-temporal stores, which bypass the cache and evict nothing
            if self._host_scratch is None:
                self._host_scratch = np.zeros((64 << 20) // 8, dtype=np.uint64)
            np.add(self._host_scratch, 1, out=self._host_scratch)
        else:
            if self._dev_scratch is None:
                self._dev_scratch = self.alloc(256 << 20)
            self.fill(self._dev_scratch, 0, self._dev_scratch.nbytes,
                      bytes([self._flush_counter]) * 4)

    def _fill_kernel(self) -> "SyclKernel | None":
        """kf_fill, built on first use; None where it cannot be built (the queue's fill then)."""
        if self._filler is None:
            k = self.compile(CompileUnit("<kf_fill>", _FILL_SOURCE, "kf_fill", "sycl"))
            self._filler = False if isinstance(k, CompileFailure) else k
        return self._filler or None

    def keyed_digest(self, buffer: object, offset: int, nbytes: int, key: int) -> int:
        """A 64-bit keyed digest of a device range, computed by a kernel (one pass at memory
        bandwidth over every core), so the harness checks a large input unchanged, or an
        output equal to the original's, without copying it back and comparing it on the host
        (backends/judge/device_checks.py). ValueError for a range of whole 4-byte words it
        cannot take (the caller checks on the host)."""
        addr = self._addr(buffer, offset, nbytes)
        if nbytes % 4 or addr % 8:
            raise ValueError("digest needs an 8-byte aligned range of whole 4-byte words")
        if self._digest is None:
            k = self.compile(CompileUnit("<kf_digest>", _DIGEST_SOURCE, "kf_digest", "sycl"))
            if isinstance(k, CompileFailure):
                raise RuntimeError("could not build the digest kernel: " + k.log)
            self._digest, self._digest_sink = k, self.alloc(8)
        sink = self._digest_sink
        self.fill(sink, 0, 8, b"\0" * 8)
        blocks, odd = divmod(nbytes, 8)
        key &= 0xFFFFFFFFFFFFFFFF
        if blocks:
            wg = 64
            groups = max(1, min(-(-blocks // (wg * 256)), 16 * max(self.info.compute_units, 1)))
            self.launch(self._digest, (groups * wg, 1, 1), (wg, 1, 1), 0,
                        [BufferArg(buffer, offset), ScalarArg(blocks, "u64"), ScalarArg(key, "u64"),
                         BufferArg(sink, 0)])
        total = int(self.read(sink, 0, 8).view(np.uint64)[0])
        if odd:  # the last 4-byte word, zero-extended, as block `blocks`
            word = int(self.read(buffer, offset + 8 * blocks, 4).view(np.uint32)[0])
            total += _mix64(_mix64(key ^ ((blocks * 0x9E3779B97F4A7C15) & _M64)) ^ word)
        return total & _M64

    def _own(self, entry: str) -> "SyclKernel":
        k = self._close.get(entry)
        if k is None:
            k = self.compile(CompileUnit(f"<{entry}>", _CLOSE_SOURCE, entry, "sycl"))
            if isinstance(k, CompileFailure):
                raise RuntimeError(f"could not build {entry}: " + k.log)
            self._close[entry] = k
        return k

    def _groups(self, n: int, wg: int = 64) -> int:
        return max(1, min(-(-n // (wg * 256)), 16 * max(self.info.compute_units, 1)))

    def compare_close(self, ref: object, ref_offset: int, cand: object, cand_offset: int, count: int, dtype: str,
                      atol: float, rtol: float, poison: bytes | None) -> compare_kernel.Stats:
        """`count` elements of scalar type `dtype` of two device ranges compared by a kernel under
        verify.compare_output's rule (backends/compare_kernel.py): on the CPU device every core
        takes a share, with no copy back and none of NumPy's float64 temporaries."""
        size = compare_kernel.ITEMSIZE[dtype]
        r = self._addr(ref, ref_offset, count * size)
        c = self._addr(cand, cand_offset, count * size)
        if r % size or c % size:
            raise ValueError("compare needs ranges aligned to their element size")
        k = self._own("kf_close")
        sink = self.alloc(8 * compare_kernel.SLOTS)
        try:
            self.write(sink, 0, np.zeros(compare_kernel.SLOTS, dtype=np.uint64))
            self.launch(k, (self._groups(count) * 64, 1, 1), (64, 1, 1), 0,
                        [BufferArg(ref, ref_offset), BufferArg(cand, cand_offset), ScalarArg(count, "u64"),
                         ScalarArg(compare_kernel.KINDS[dtype], "i32"), ScalarArg(size, "i32"),
                         ScalarArg(float(atol), "f64"), ScalarArg(float(rtol), "f64"),
                         ScalarArg(int(poison is not None), "i32"),
                         ScalarArg(compare_kernel.poison_word(poison or b""), "u64"), BufferArg(sink, 0)])
            return compare_kernel.stats(self.read(sink, 0, 8 * compare_kernel.SLOTS).view(np.uint64))
        finally:
            self.free(sink)

    def gather(self, buffer: object, offset: int, dtype: str, indices: np.ndarray) -> np.ndarray:
        """The elements at `indices` of a device range of scalar type `dtype`, gathered by a kernel."""
        size = compare_kernel.ITEMSIZE[dtype]
        idx = np.ascontiguousarray(indices, dtype=np.uint64)
        n = idx.size
        if n and int(idx.max()) * size + size + offset > max(getattr(buffer, "nbytes", 0), 0):
            raise ValueError("gather index outside the allocation")
        aligned = self._addr(buffer, offset, 0) % size == 0
        k = self._own("kf_gather")
        d_idx, dst = self.alloc(max(8, idx.nbytes)), self.alloc(max(8, n * size))
        try:
            self.write(d_idx, 0, idx.view(np.uint8))
            self.launch(k, (self._groups(n) * 64, 1, 1), (64, 1, 1), 0,
                        [BufferArg(buffer, offset), BufferArg(d_idx, 0), BufferArg(dst, 0), ScalarArg(n, "u64"),
                         ScalarArg(size, "i32"), ScalarArg(int(aligned), "i32")])
            return self.read(dst, 0, n * size).view(dtypes.numpy_dtype(dtype))
        finally:
            self.free(d_idx)
            self.free(dst)

    def measure_peak_bandwidth(self) -> float:
        """Bytes/s (read + written) of the faster of a runtime memcpy and a parallel copy
        kernel with 16-byte accesses, over 256 MiB: well beyond any CPU's last-level cache.
        On a CPU the runtime's memcpy may use one thread while kernels use every core, so
        the memcpy alone would understate what a kernel can reach."""
        if self._peak is not None:
            return self._peak
        nbytes = 256 << 20
        src, dst = self.alloc(nbytes), self.alloc(nbytes)
        try:
            self.fill(src, 0, nbytes, b"\x5a\xa5\x5a\xa5")
            self.fill(dst, 0, nbytes, b"\x00")
            samples = []
            for i in range(4):
                times = (ctypes.c_uint64 * 3)()
                self._memcpy(dst.ptr, src.ptr, nbytes, times)
                if i == 0:
                    continue  # warm-up: first touch, page faults
                start, end, host_ns = int(times[0]), int(times[1]), int(times[2])
                samples.append((end - start) * 1e-9 if end > start > 0 else max(host_ns, 1) * 1e-9)
            best = statistics.median(samples)
            kernel = self.compile(CompileUnit("<kf_copy>", _COPY_SOURCE, "kf_copy", "sycl"))
            if not isinstance(kernel, CompileFailure):
                n4 = nbytes // 16
                wg = 256
                args = [BufferArg(src, 0), BufferArg(dst, 0), ScalarArg(n4, "u64")]
                self.launch(kernel, (n4, 1, 1), (wg, 1, 1), 0, args)
                copy = [self.timed_launch(kernel, (n4, 1, 1), (wg, 1, 1), 0, args) for _ in range(3)]
                best = min(best, statistics.median(copy))
            self._peak = 2 * nbytes / best
        finally:
            self.free(src)
            self.free(dst)
        self.info = msgspec.structs.replace(self.info, peak_bandwidth=self._peak)
        return self._peak

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.queue.wait()
        except Exception:
            pass
        self._host_scratch = None
        if self._dev_scratch is not None:
            self.free(self._dev_scratch)
            self._dev_scratch = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _kind_of(dev) -> str:
    from backends.sycl.devices import device_kind

    return device_kind(dev)


