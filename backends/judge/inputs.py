"""Input values for a run: a counter-based generator, on the device, reproducible from a key.

Every element of an input buffer is a pure function of (key, buffer name, element index):
two 32-bit hash rounds (`lowbias32`, a bijective integer mix) of the index and a per-buffer
key derived from the run's key by BLAKE2b. Nothing is drawn in sequence, so

- the device writes the inputs in place, one pass at memory bandwidth, from a small kernel
  compiled once per session (CUDA: NVRTC; SYCL: the run-time compiler); no host arrays,
  no copies (64 Mi floats: 49 ms on the 2-core CPU device, 2.5 s for the same values in
  NumPy, ~0.2 s for NumPy's own generator plus the copy);
- the original and the candidate get bit-identical inputs from the same key, whichever
  writes them and in which order; a key names an input set as well as the arrays would;
- the NumPy twin below (`host_values`) computes the same bits on the host: it is the
  definition the device kernels are tested against, and the path for small buffers
  (cheaper than a launch), for sessions without the kernel, and for anyone who needs the
  values on the host (a Python reference, a host-side check).

Arithmetic is kept exact across backends: integers and bit patterns where possible, and
for the uniform floats one multiply and one add in the output's precision with
contraction off (`--fmad=false`, `-ffp-contract=off`; NumPy never contracts), clamped to
the representable values inside the range; half and bfloat16 are rounded to nearest even
by integer code, the same on every side.

Two kinds of input sets (docs/spec.md, "Input values"):

- *ordinary*: uniform in the buffer's range (floats [-1, 1), 8/16-bit integers their whole
  type, wider integers [-64, 64), or the spec's `range LOW..HIGH`);
- *wide*: the special set, one per evaluation: each float buffer's values scaled by its own
  power of two (2^2..2^20 mostly, or 2^-20..2^-2, for float), zeros and subnormals (1 in 64
  each), and NaN, +-Inf, a large value, the smallest subnormal and -0 at a few secret
  positions, each only where the spec's range allows (an explicit `range` keeps every value
  inside it; `@kf values finite` drops NaN/Inf; integers stay ordinary). One scale per buffer,
  not one per element: magnitudes mixed inside a sum make its rounding depend on the order of
  the additions far beyond any output-relative tolerance, so a correct reordered reduction
  would fail; a common scale keeps every sum as well conditioned as the ordinary inputs.

Adding an element type: a row in `_FLOATS` (its precision class, binade range, large value)
or an integer width, and its store in `_SOURCE`.
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
import weakref
from typing import Any, Iterator, Mapping, NamedTuple, Sequence

import numpy as np

from backends.judge.launch import EvalFailure, buffer_sizes
from backends.kernel import dtypes
from backends.kernel.expressions import ExprError, evaluate as eval_expr
from backends.kernel.values import RangeError, value_range
from backends.model import BufferSpec, Spec, Verdict
from backends.session import BufferArg, CompileFailure, CompileUnit, ScalarArg

__all__ = ["SECRET", "InputSet", "GenPlan", "plan_for", "host_values", "specials_for", "values_mode",
           "DEVICE_MIN_ELEMENTS", "generator_stats"]

SECRET = int.from_bytes(os.urandom(16), "little")  # per worker process; never leaves it
DEVICE_MIN_ELEMENTS = int(os.environ.get("KF_DEVICE_INPUTS_MIN", "65536"))  # below: the NumPy twin and a copy
# the special set is generated once per evaluation, from the host twin below this size unless its kernel
# is built: building costs 0.5-1.5 s from SYCL's disk cache on the 2-core CPU (5-7 s cold), more than the
# twin takes for 4 Mi elements; NVRTC builds in ~0.2 s, so on CUDA a worker builds it at its second set
WIDE_DEVICE_MIN_ELEMENTS = 1 << 24
SPECIALS_PER_BUFFER = 8

# element type -> (precision class "f32"/"f64", largest scale exponent of the wide set, exponent of its large value)
_FLOATS: dict[str, tuple[str, int, int]] = {
    "f32": ("f32", 20, 60),
    "f64": ("f64", 40, 500),
    "f16": ("f32", 4, 12),
    "bf16": ("f32", 20, 60),
}
_DT_CODE = {"f32": 0, "f64": 1, "f16": 2, "bf16": 3}  # floats; integers are 8 + log2(bytes)


def _is_float(dtype: str) -> bool:
    return dtype in _FLOATS


class GenPlan(NamedTuple):
    """How one buffer's elements are made: everything the kernel and the twin need."""

    dtype: str
    n: int  # scalar elements
    code: int  # _DT_CODE, or 8 + log2(bytes) for integers
    wide: bool
    zeros: bool  # wide floats: zeros and subnormals allowed (0 lies in the range)
    scale: float  # wide floats: the power of two every ordinary value is multiplied by
    lo: float  # floats: the uniform range's start and width, the clamp to representable values
    span: float
    clo: float
    chi: float
    ilo: int  # integers: start (two's complement, 64 bits) and span (0: all 2^64 values)
    ispan: int
    specials: tuple[float, ...]  # wide floats: values put at a few secret positions


def values_mode(spec: Spec) -> str:
    """`@kf values special|finite|ordinary` (default special)."""
    return getattr(spec, "values", None) or "special"


def _scalar(dtype: str) -> str:
    """The scalar element type of a buffer's dtype (vector types have lanes of one)."""
    scalar = getattr(dtypes, "scalar_of", None)
    return scalar(dtype) if scalar else dtype


def _np_scalar(dtype: str) -> np.dtype:
    if dtype == "bf16":
        try:
            return dtypes.numpy_dtype("bf16")
        except KeyError:
            return np.dtype(np.uint16)  # bit patterns, where no bfloat16 dtype is installed
    return dtypes.numpy_dtype(dtype)


def _f32(x: float) -> float:
    return float(np.float32(x))


def _representable(dtype: str, lo: float, hi: float) -> tuple[float, float]:
    """The smallest value of `dtype` >= lo and the largest < hi, as floats of its precision class."""
    if dtype == "f64":
        clo = lo
        chi = float(np.nextafter(hi, -math.inf)) if math.isfinite(hi) else hi
        return clo, chi
    if dtype == "f32":
        t, up, down = np.float32, np.float32(np.inf), np.float32(-np.inf)
        clo, chi = t(lo), t(hi)
        if float(clo) < lo:
            clo = np.nextafter(clo, up)
        if float(chi) >= hi:
            chi = np.nextafter(chi, down)
        return float(clo), float(chi)
    # f16 / bf16: via their bit patterns
    clo = _round_to(dtype, lo)
    if clo < lo:
        clo = _step(dtype, clo, +1)
    chi = _round_to(dtype, hi)
    if chi >= hi:
        chi = _step(dtype, chi, -1)
    return clo, chi


def _round_to(dtype: str, x: float) -> float:
    bits = np.array([np.float32(x)]).view(np.uint32)
    h = _f16_bits(bits) if dtype == "f16" else _bf16_bits(bits)
    return float(_half_to_f32(dtype, h)[0])


def _step(dtype: str, x: float, direction: int) -> float:
    """The next value of a 16-bit float type after x (x representable in it)."""
    bits = np.array([np.float32(x)]).view(np.uint32)
    h = int((_f16_bits(bits) if dtype == "f16" else _bf16_bits(bits))[0])
    neg = bool(h & 0x8000)
    mag = h & 0x7FFF
    if (direction > 0) != neg:
        mag += 1
    elif mag == 0:
        neg, mag = not neg, 1
    else:
        mag -= 1
    return float(_half_to_f32(dtype, np.array([(0x8000 if neg else 0) | mag], dtype=np.uint16))[0])


def plan_for(b: BufferSpec, n: int, env: Mapping[str, int | float], mode: str, wide: bool, pick: int = 0) -> GenPlan:
    """The generation plan of one input buffer (a bad `range` is a spec error at its line);
    `pick`, a number from the buffer's key, chooses the wide set's scale."""
    dtype = _scalar(b.dtype)
    try:
        lo = eval_expr(b.low, env) if b.low is not None else None
        hi = eval_expr(b.high, env) if b.high is not None else None
        lo, hi = value_range(dtype if dtype in dtypes.NUMPY else "f32", lo, hi)
    except (ExprError, RangeError) as e:
        raise EvalFailure(Verdict.SPEC_ERROR, f"range of {b.name}: {e}", line=b.line) from None
    explicit = b.low is not None or b.high is not None
    if not _is_float(dtype):
        lo, hi = int(lo), int(hi)
        span = hi - lo
        return GenPlan(dtype, n, 8 + int(math.log2(_np_scalar(dtype).itemsize)), False, False, 1.0,
                       0.0, 0.0, 0.0, 0.0, lo & (2**64 - 1), span if span < 2**64 else 0, ())
    lo, hi = float(lo), float(hi)
    klass, widest, large = _FLOATS[dtype]
    clo, chi = _representable(dtype, lo, hi)
    f = float if klass == "f64" else _f32
    base = GenPlan(dtype, n, _DT_CODE[dtype], False, False, 1.0, f(lo), f(hi - lo), clo, chi, 0, 0, ())
    if not wide or mode == "ordinary":
        return base
    k = 2 + pick % (widest - 1)  # 2 .. widest
    if explicit:  # inside the user's range: smaller magnitudes where it holds 0, else the ordinary values
        zeros = lo <= 0.0 < hi
        return base._replace(wide=True, zeros=zeros, scale=2.0 ** -k if zeros else 1.0)
    scale = 2.0 ** (k if (pick >> 16) % 4 else -k)  # 3 in 4 large (the common mistake), else small
    specials = [2.0 ** large, _min_subnormal(dtype), -_min_subnormal(dtype), -0.0]
    if mode != "finite":
        specials = [math.nan, math.inf, -math.inf] + specials
    return base._replace(wide=True, zeros=True, scale=scale, clo=-math.inf, chi=math.inf, specials=tuple(specials))


def _min_subnormal(dtype: str) -> float:
    return {"f32": 2.0 ** -149, "f64": 5e-324, "f16": 2.0 ** -24, "bf16": 2.0 ** -133}[dtype]


def _keys(key: Sequence[int], name: str) -> tuple[int, int, int, int]:
    h = hashlib.blake2b(repr((tuple(int(k) for k in key), name)).encode(), digest_size=16).digest()
    return tuple(int.from_bytes(h[i:i + 4], "little") for i in (0, 4, 8, 12))  # type: ignore[return-value]


# -- the NumPy twin: the definition ---------------------------------------------------------

_U32 = np.uint32


def _lowbias32(x: np.ndarray) -> np.ndarray:
    x ^= x >> _U32(16)
    x *= _U32(0x7FEB352D)
    x ^= x >> _U32(15)
    x *= _U32(0x846CA68B)
    x ^= x >> _U32(16)
    return x


def _words(n: int, k0: int, k1: int, start: int = 0) -> np.ndarray:
    i = np.arange(start, start + n, dtype=np.uint64)
    x = (i & np.uint64(0xFFFFFFFF)).astype(np.uint32)
    x ^= _U32(k0)
    _lowbias32(x)
    hi = (i >> np.uint64(32)).astype(np.uint32)
    hi *= _U32(0x9E3779B9)
    x += _U32(k1)
    x += hi
    return _lowbias32(x)


def _f16_bits(f: np.ndarray) -> np.ndarray:
    """float32 bits -> float16 bits, round to nearest even (NaN -> quiet NaN)."""
    f = f.astype(np.uint32)
    sign = ((f >> _U32(16)) & _U32(0x8000)).astype(np.uint32)
    a = f & _U32(0x7FFFFFFF)
    out = np.zeros(f.shape, dtype=np.uint32)
    big = a >= _U32(0x47800000)
    out[big] = np.where(a[big] > _U32(0x7F800000), _U32(0x7E00), _U32(0x7C00))
    norm = ~big & (a >= _U32(0x38800000))
    an = a[norm]
    odd = (an >> _U32(13)) & _U32(1)
    out[norm] = (an + _U32(0xC8000FFF) + odd) >> _U32(13)  # rebias (15 - 127) << 23, round bias 0xfff
    sub = ~big & ~norm
    asub = a[sub]
    e = (asub >> _U32(23)).astype(np.int64)
    m = ((asub & _U32(0x7FFFFF)) | _U32(0x800000)).astype(np.uint64)
    shift = np.clip(126 - e, 14, 40).astype(np.uint64)
    q = m >> shift
    rem = m & ((np.uint64(1) << shift) - np.uint64(1))
    half = np.uint64(1) << (shift - np.uint64(1))
    q = q + ((rem > half) | ((rem == half) & ((q & np.uint64(1)) == np.uint64(1)))).astype(np.uint64)
    q[e < 102] = 0
    out[sub] = q.astype(np.uint32)
    return (out | sign).astype(np.uint16)


def _bf16_bits(f: np.ndarray) -> np.ndarray:
    """float32 bits -> bfloat16 bits, round to nearest even (NaN -> quiet NaN)."""
    f = f.astype(np.uint32)
    nan = (f & _U32(0x7FFFFFFF)) > _U32(0x7F800000)
    r = (f + _U32(0x7FFF) + ((f >> _U32(16)) & _U32(1))) >> _U32(16)
    r[nan] = ((f[nan] >> _U32(16)) | _U32(0x40))
    return r.astype(np.uint16)


def _half_to_f32(dtype: str, h: np.ndarray) -> np.ndarray:
    h = h.astype(np.uint16)
    if dtype == "bf16":
        return (h.astype(np.uint32) << _U32(16)).view(np.float32)
    return h.view(np.float16).astype(np.float32)


def _uniform(p: GenPlan, w0: np.ndarray, w1: np.ndarray, clamp: bool = True) -> np.ndarray:
    if p.code == _DT_CODE["f64"]:
        m = (w0.astype(np.uint64) << np.uint64(21)) | (w1 >> _U32(11)).astype(np.uint64)
        v = m.astype(np.float64) * np.float64(2.0 ** -53)
        v *= np.float64(p.span)
        v += np.float64(p.lo)
        return np.clip(v, p.clo, p.chi) if clamp else v
    v = (w0 >> _U32(8)).astype(np.float32) * np.float32(2.0 ** -24)
    v *= np.float32(p.span)
    v += np.float32(p.lo)
    return np.clip(v, np.float32(p.clo), np.float32(p.chi)) if clamp else v


def _wide(p: GenPlan, w0: np.ndarray, w1: np.ndarray) -> np.ndarray:
    """Ordinary values times the buffer's scale, zeros and subnormals (1 in 64 each), clamped."""
    f64 = p.code == _DT_CODE["f64"]
    dt, ut = (np.float64, np.uint64) if f64 else (np.float32, np.uint32)
    v = _uniform(p, w0, w1, clamp=False) * dt(p.scale)
    if p.zeros:
        c = w0 & _U32(0xFF)
        s = (w1 >> _U32(8)) & _U32(1)
        m = w1 >> _U32(9)
        if f64:
            sg = s.astype(np.uint64) << np.uint64(63)
            sub = sg | (m.astype(np.uint64) << np.uint64(29)) | np.uint64(1)
        else:
            sg = s << _U32(31)
            if p.code == _DT_CODE["f16"]:
                sub = (((m & _U32(0x3FF)) | _U32(1)).astype(np.float32) * np.float32(2.0 ** -24)).view(np.uint32) | sg
            elif p.code == _DT_CODE["bf16"]:
                sub = sg | ((((m >> _U32(16)) & _U32(0x7F)) | _U32(1)) << _U32(16))
            else:
                sub = sg | m | _U32(1)
        bits = np.where(c < 4, sg.astype(ut), np.where(c < 8, sub.astype(ut), v.view(ut)))
        v = bits.astype(ut).view(dt)
    return np.clip(v, dt(p.clo), dt(p.chi))


def host_values(p: GenPlan, keys: tuple[int, int, int, int]) -> np.ndarray:
    """The buffer's values computed on the host (bit-identical to the device kernel's), in
    chunks that stay in cache (several times faster than whole-buffer temporaries)."""
    first = _host_chunk(p, keys, 0, min(p.n, HOST_CHUNK))
    if p.n <= HOST_CHUNK:
        return first
    out = np.empty(p.n, dtype=first.dtype)
    out[:first.size] = first
    for start in range(HOST_CHUNK, p.n, HOST_CHUNK):
        part = _host_chunk(p, keys, start, min(HOST_CHUNK, p.n - start))
        out[start:start + part.size] = part
    return out


HOST_CHUNK = 1 << 15


def _host_chunk(p: GenPlan, keys: tuple[int, int, int, int], start: int, n: int) -> np.ndarray:
    k0, k1, k2, _ = keys
    w0 = _words(n, k0, k1, start)
    if p.code >= 8:  # integers
        w1 = _lowbias32(w0 ^ _U32(k2))
        if p.ispan and p.ispan <= 2 ** 32:
            off = (w0.astype(np.uint64) * np.uint64(p.ispan)) >> np.uint64(32)
        else:
            r = (w0.astype(np.uint64) << np.uint64(32)) | w1.astype(np.uint64)
            off = r % np.uint64(p.ispan) if p.ispan else r
        v = off + np.uint64(p.ilo)
        width = 1 << (p.code - 8)
        return v.astype({1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[width]).view(_np_scalar(p.dtype))
    w1 = _lowbias32(w0 ^ _U32(k2))
    v = _wide(p, w0, w1) if p.wide else _uniform(p, w0, w1)
    if p.code == _DT_CODE["f16"]:
        return _f16_bits(v.astype(np.float32).view(np.uint32)).view(np.float16)
    if p.code == _DT_CODE["bf16"]:
        return _bf16_bits(v.astype(np.float32).view(np.uint32)).view(_np_scalar("bf16"))
    return v.astype(_np_scalar(p.dtype))


def specials_for(p: GenPlan, keys: tuple[int, int, int, int]) -> list[tuple[int, float]]:
    """(position, value) of the special values of a wide float buffer: each of `p.specials`
    once, at positions drawn from the buffer's key (secret like the values)."""
    if not p.specials or p.n == 0:
        return []
    count = min(p.n, max(SPECIALS_PER_BUFFER, len(p.specials)))
    hi = _words(count, keys[3], keys[0]).astype(np.uint64)
    lo = _words(count, keys[3], keys[1]).astype(np.uint64)
    out: list[tuple[int, float]] = []
    seen: set[int] = set()
    for j, w in enumerate(((hi << np.uint64(32)) | lo) % np.uint64(p.n)):
        if int(w) not in seen:
            seen.add(int(w))
            out.append((int(w), p.specials[j % len(p.specials)]))
    return out


def _special_array(p: GenPlan, values: list[float]) -> np.ndarray:
    with np.errstate(over="ignore"):
        if p.code == _DT_CODE["f16"]:
            return np.array(values, dtype=np.float16)
        if p.code == _DT_CODE["bf16"]:
            return _bf16_bits(np.array(values, dtype=np.float32).view(np.uint32)).view(_np_scalar("bf16"))
        return np.array(values, dtype=_np_scalar(p.dtype))


# -- the device kernels -----------------------------------------------------------------------

_SOURCE = r"""
KF_FN KF_U32 kf_lb32(KF_U32 x) {
  x ^= x >> 16; x *= 0x7feb352du; x ^= x >> 15; x *= 0x846ca68bu; x ^= x >> 16; return x;
}
KF_FN unsigned short kf_f16(KF_U32 f) {
  KF_U32 sign = (f >> 16) & 0x8000u, a = f & 0x7fffffffu, o;
  if (a >= 0x47800000u) o = a > 0x7f800000u ? 0x7e00u : 0x7c00u;
  else if (a >= 0x38800000u) o = (a + 0xc8000fffu + ((a >> 13) & 1u)) >> 13;
  else {
    int e = (int)(a >> 23);
    if (e < 102) o = 0;
    else {
      KF_U64 m = (KF_U64)((a & 0x7fffffu) | 0x800000u);
      int sh = 126 - e;
      KF_U64 q = m >> sh, rem = m & ((1ull << sh) - 1), half = 1ull << (sh - 1);
      if (rem > half || (rem == half && (q & 1))) q++;
      o = (KF_U32)q;
    }
  }
  return (unsigned short)(sign | o);
}
KF_FN unsigned short kf_bf16(KF_U32 f) {
  if ((f & 0x7fffffffu) > 0x7f800000u) return (unsigned short)((f >> 16) | 0x40u);
  return (unsigned short)((f + 0x7fffu + ((f >> 16) & 1u)) >> 16);
}
struct kf_p {
  KF_U32 k0, k1, k2; int zeros; float flo, fspan, fclo, fchi, fscale;
  double dlo, dspan, dclo, dchi, dscale; KF_U64 ilo, ispan;
};
// integers of W bytes; BIG: a span above 2^32 (a 64-bit remainder)
template <int W, int BIG> KF_FN void kf_int(unsigned char* dst, KF_U64 i, KF_U32 w0, KF_U32 w1, const kf_p& p) {
  KF_U64 v;
  if (BIG) { KF_U64 r = ((KF_U64)w0 << 32) | w1; v = p.ilo + (p.ispan ? r % p.ispan : r); }
  else v = p.ilo + (((KF_U64)w0 * p.ispan) >> 32);
  if (W == 1) dst[i] = (unsigned char)v;
  else if (W == 2) ((unsigned short*)dst)[i] = (unsigned short)v;
  else if (W == 4) ((KF_U32*)dst)[i] = (KF_U32)v;
  else ((KF_U64*)dst)[i] = v;
}
// double; WIDE: times the buffer's scale, zeros and subnormals (1 in 64 each)
template <int WIDE> KF_FN void kf_f64(unsigned char* dst, KF_U64 i, KF_U32 w0, KF_U32 w1, const kf_p& p) {
  KF_U64 m = ((KF_U64)w0 << 21) | (KF_U64)(w1 >> 11);
  double u = (double)m * 1.1102230246251565404e-16;
  double v = u * p.dspan;
  v = v + p.dlo;
  if (WIDE) {
    v = v * p.dscale;
    KF_U32 c = w0 & 0xffu;
    KF_U64 sg = (KF_U64)((w1 >> 8) & 1u) << 63;
    if (p.zeros && c < 4u) v = KF_AS_F64(sg);
    else if (p.zeros && c < 8u) v = KF_AS_F64(sg | ((KF_U64)(w1 >> 9) << 29) | 1ull);
  }
  v = v < p.dclo ? p.dclo : (v > p.dchi ? p.dchi : v);
  ((double*)dst)[i] = v;
}
// float, half (DT 2) and bfloat16 (DT 3), computed in float
template <int DT, int WIDE> KF_FN void kf_f32(unsigned char* dst, KF_U64 i, KF_U32 w0, KF_U32 w1, const kf_p& p) {
  float u = (float)(w0 >> 8) * 5.9604644775390625e-8f;
  float v = u * p.fspan;
  v = v + p.flo;
  if (WIDE) {
    v = v * p.fscale;
    KF_U32 c = w0 & 0xffu, m = w1 >> 9, sg = ((w1 >> 8) & 1u) << 31;
    if (p.zeros && c < 4u) v = KF_AS_F32(sg);
    else if (p.zeros && c < 8u) {
      if (DT == 2) v = KF_AS_F32(KF_F32_BITS((float)((m & 0x3ffu) | 1u) * 5.9604644775390625e-8f) | sg);
      else if (DT == 3) v = KF_AS_F32(sg | ((((m >> 16) & 0x7fu) | 1u) << 16));
      else v = KF_AS_F32(sg | m | 1u);
    }
  }
  v = v < p.fclo ? p.fclo : (v > p.fchi ? p.fchi : v);
  if (DT == 0) ((float*)dst)[i] = v;
  else if (DT == 2) ((unsigned short*)dst)[i] = kf_f16(KF_F32_BITS(v));
  else ((unsigned short*)dst)[i] = kf_bf16(KF_F32_BITS(v));
}
KF_KERNEL void KF_ENTRY(unsigned char* dst, KF_U64 n, KF_U32 k0, KF_U32 k1, KF_U32 k2, int zeros, float flo,
                        float fspan, float fclo, float fchi, float fscale, double dlo, double dspan, double dclo,
                        double dchi, double dscale, KF_U64 ilo, KF_U64 ispan) {
  kf_p p = {k0, k1, k2, zeros, flo, fspan, fclo, fchi, fscale, dlo, dspan, dclo, dchi, dscale, ilo, ispan};
  for (KF_U64 i = KF_FIRST; i < n; i += KF_STRIDE) {
    KF_U32 w0 = kf_lb32(kf_lb32((KF_U32)i ^ k0) + k1 + (KF_U32)(i >> 32) * 0x9e3779b9u);
    KF_U32 w1 = kf_lb32(w0 ^ k2);
    KF_CALL(dst, i, w0, w1, p);
  }
}
"""


def _variant(p: GenPlan) -> tuple[str, str]:
    """(entry name, the call its loop makes) of the kernel specialised for a plan: one small
    kernel per element type and kind, so each compiles to straight-line, vectorisable code."""
    if p.code >= 8:
        big = int(not (p.ispan and p.ispan <= 2 ** 32))
        width = 1 << (p.code - 8)
        return f"kf_gen_i{width}_{big}", f"kf_int<{width}, {big}>"
    if p.code == _DT_CODE["f64"]:
        return f"kf_gen_f64_{int(p.wide)}", f"kf_f64<{int(p.wide)}>"
    return f"kf_gen_f{p.code}_{int(p.wide)}", f"kf_f32<{p.code}, {int(p.wide)}>"


_CUDA_HEAD = r"""
#define KF_U32 unsigned int
#define KF_U64 unsigned long long
#define KF_FN __device__ __forceinline__
#define KF_KERNEL extern "C" __global__
#define KF_FIRST (blockIdx.x * (KF_U64)blockDim.x + threadIdx.x)
#define KF_STRIDE ((KF_U64)gridDim.x * blockDim.x)
#define KF_AS_F32(u) __uint_as_float(u)
#define KF_AS_F64(u) __longlong_as_double((long long)(u))
#define KF_F32_BITS(f) __float_as_uint(f)
"""

_SYCL_HEAD = r"""
#include <sycl/sycl.hpp>
#define KF_U32 unsigned int
#define KF_U64 unsigned long long
#define KF_FN static inline
#define KF_KERNEL extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((sycl::ext::oneapi::experimental::nd_range_kernel<1>))
#define KF_FIRST ((KF_U64)sycl::ext::oneapi::this_work_item::get_nd_item<1>().get_global_id(0))
#define KF_STRIDE ((KF_U64)sycl::ext::oneapi::this_work_item::get_nd_item<1>().get_global_range(0))
#define KF_AS_F32(u) sycl::bit_cast<float>((KF_U32)(u))
#define KF_AS_F64(u) sycl::bit_cast<double>((KF_U64)(u))
#define KF_F32_BITS(f) sycl::bit_cast<KF_U32>((float)(f))
"""

_generators: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()
_counts = {"device_buffers": 0, "host_buffers": 0, "device_elements": 0, "host_elements": 0}


def generator_stats() -> dict[str, int]:
    """Buffers (and elements) written by the device generator and by the host twin."""
    return dict(_counts)


def _generator(session: Any, p: GenPlan):
    """The compiled generator of this session for the plan's variant; None where it cannot be
    built (the host twin serves instead)."""
    entry, call = _variant(p)
    with _lock:
        kernels = _generators.get(session)
        if kernels is not None and entry in kernels:
            return kernels[entry]
    backend = getattr(getattr(session, "info", None), "backend", None)
    kernel = None
    if backend in ("cuda", "sycl") and hasattr(session, "compile"):
        head, opts = (_CUDA_HEAD, ["--fmad=false"]) if backend == "cuda" else (_SYCL_HEAD, ["-ffp-contract=off"])
        source = head + f"#define KF_ENTRY {entry}\n#define KF_CALL {call}\n" + _SOURCE
        try:
            out = session.compile(CompileUnit(f"<{entry}>", source, entry, backend, [], opts))
        except Exception:
            out = None
        kernel = None if out is None or isinstance(out, CompileFailure) else out
    with _lock:
        try:
            _generators.setdefault(session, {})[entry] = kernel
        except TypeError:
            pass
    return kernel


_wide_on_host: "weakref.WeakKeyDictionary[Any, int]" = weakref.WeakKeyDictionary()


def _host_wide_sets(session: Any) -> int:
    """Large special-set buffers this session has had from the host twin so far."""
    with _lock:
        try:
            return _wide_on_host.get(session, 0)
        except TypeError:
            return 0


def _built(session: Any, p: GenPlan) -> bool:
    """Whether this session has already built the plan's generator kernel."""
    with _lock:
        kernels = _generators.get(session)
        return kernels is not None and kernels.get(_variant(p)[0]) is not None


def _device_write(session: Any, p: GenPlan, keys, buffer: object, offset: int) -> bool:
    kernel = _generator(session, p)
    if kernel is None:
        return False
    k0, k1, k2, _ = keys
    block = 256
    groups = max(1, min(-(-p.n // block), 4096))
    grid = (groups * block, 1, 1) if session.info.backend == "sycl" else (groups, 1, 1)
    args = [BufferArg(buffer, offset), ScalarArg(p.n, "u64"), ScalarArg(k0, "u32"), ScalarArg(k1, "u32"),
            ScalarArg(k2, "u32"), ScalarArg(int(p.zeros), "i32"),
            ScalarArg(_clampf(p.lo), "f32"), ScalarArg(_clampf(p.span), "f32"), ScalarArg(_clampf(p.clo), "f32"),
            ScalarArg(_clampf(p.chi), "f32"), ScalarArg(p.scale, "f32"), ScalarArg(p.lo, "f64"),
            ScalarArg(p.span, "f64"), ScalarArg(p.clo, "f64"), ScalarArg(p.chi, "f64"), ScalarArg(p.scale, "f64"),
            ScalarArg(p.ilo, "u64"), ScalarArg(p.ispan, "u64")]
    session.launch(kernel, grid, (block, 1, 1), 0, args)
    return True


def _clampf(x: float) -> float:
    """A double as the f32 argument (infinities stay infinite; f64 plans pass it unused)."""
    if math.isinf(x) or math.isnan(x):
        return x
    big = float(np.finfo(np.float32).max)
    return max(-big, min(big, x))


class InputSet(Mapping[str, np.ndarray]):
    """The inputs of one run: a value for every `in`/`inout` buffer, a function of the key.

    `write` puts a buffer's values on the device (by the generator kernel for large
    buffers); indexing gives them on the host (the NumPy twin, computed once)."""

    def __init__(self, spec: Spec, env: Mapping[str, int | float], key: Sequence[int], wide: bool = False):
        self.key = tuple(int(k) for k in key)
        self.wide = wide
        sizes = buffer_sizes(spec, env)
        mode = values_mode(spec)
        self.plans: dict[str, GenPlan] = {}
        self.keys: dict[str, tuple[int, int, int, int]] = {}
        for b in spec.buffers:
            if b.role == "out":
                continue
            scalar = _scalar(b.dtype)
            n = sizes[b.name] // _np_scalar(scalar).itemsize
            self.keys[b.name] = _keys(self.key + (int(wide),), b.name)
            self.plans[b.name] = plan_for(b, n, env, mode, wide, pick=self.keys[b.name][3])
        self._host: dict[str, np.ndarray] = {}
        self._counted = False  # counted as a special set made on the host (_wide_on_host)
        self.dtypes = {b.name: b.dtype for b in spec.buffers if b.role != "out"}
        # (buffer, bytes, backend) -> the device digest of the values as first written
        # (launch.Buffers: later writes of this set are the same values, not digested again)
        self.digests: dict[tuple, int | None] = {}

    @property
    def has_specials(self) -> bool:
        """Whether any buffer takes special values (a wide set with a float input)."""
        return any(p.wide for p in self.plans.values())

    def __getitem__(self, name: str) -> np.ndarray:
        a = self._host.get(name)
        if a is None:
            p, keys = self.plans[name], self.keys[name]
            a = host_values(p, keys)
            specials = specials_for(p, keys)
            if specials:
                a = a.copy()
                a[[i for i, _ in specials]] = _special_array(p, [v for _, v in specials])
            a = _as_buffer_dtype(a, self.dtypes[name])
            a.setflags(write=False)
            if p.n < DEVICE_MIN_ELEMENTS or self.wide:  # large ordinary sets are not kept: a stored run's
                self._host[name] = a  # InputSet stays a key; the special set is written twice, then dropped
        return a

    def sample(self, name: str, at_most: int) -> np.ndarray:
        """At most about `at_most` of buffer `name`'s values, exactly as written: the whole buffer
        when it is small, kept on the host or holds special values; else chunks spread evenly
        over it (for statistics such as an rms, without computing a large buffer on the host)."""
        p, keys = self.plans[name], self.keys[name]
        chunks = max(1, at_most // HOST_CHUNK)
        if name in self._host or self.wide or p.n <= chunks * HOST_CHUNK:
            return self[name]
        last = p.n - HOST_CHUNK
        starts = [last * i // max(1, chunks - 1) for i in range(chunks)]
        return _as_buffer_dtype(np.concatenate([_host_chunk(p, keys, s, HOST_CHUNK) for s in starts]),
                                self.dtypes[name])

    def special_fractions(self) -> list[float]:
        """Where the special values sit, as fractions of their buffers' lengths (the positions
        stay secret from kernels: kf uses them to choose which outputs it reads)."""
        return sorted({i / p.n for name, p in self.plans.items() for i, _ in specials_for(p, self.keys[name])})

    def __contains__(self, name: object) -> bool:
        # Mapping's own `in` indexes the set: it would compute a large buffer's values on the host
        return name in self.plans

    def length(self, name: str) -> int:
        """Scalars in buffer `name` (a float4 element is 4), without computing its values."""
        return self.plans[name].n

    def __iter__(self) -> Iterator[str]:
        return iter(self.plans)

    def __len__(self) -> int:
        return len(self.plans)

    def write(self, session: Any, name: str, buffer: object, offset: int) -> None:
        """Write buffer `name`'s values at `offset` of a device allocation."""
        p, keys = self.plans[name], self.keys[name]
        if p.n == 0:
            return
        cached = self._host.get(name)
        least = DEVICE_MIN_ELEMENTS
        cheap_build = getattr(getattr(session, "info", None), "backend", None) == "cuda"
        if p.wide and not _built(session, p) and (self._counted or not cheap_build or _host_wide_sets(session) < 1):
            least = max(least, WIDE_DEVICE_MIN_ELEMENTS)
        if cached is None and p.n >= least and _device_write(session, p, keys, buffer, offset):
            _counts["device_buffers"] += 1
            _counts["device_elements"] += p.n
            specials = specials_for(p, keys)
            if specials:
                arr = _special_array(p, [v for _, v in specials])
                size = arr.itemsize
                for (i, _), one in zip(specials, arr):
                    session.write(buffer, offset + i * size, np.array([one]).view(np.uint8))
            return
        _counts["host_buffers"] += 1
        _counts["host_elements"] += p.n
        if p.wide and p.n >= DEVICE_MIN_ELEMENTS and not self._counted:
            self._counted = True  # one special set made on the host (not one buffer)
            with _lock:
                try:
                    _wide_on_host[session] = _wide_on_host.get(session, 0) + 1
                except TypeError:
                    pass
        session.write(buffer, offset, np.ascontiguousarray(self[name]).view(np.uint8))


def _as_buffer_dtype(a: np.ndarray, dtype: str) -> np.ndarray:
    """Scalar values viewed as the buffer's element type where numpy has one (vector types stay scalar)."""
    try:
        dt = dtypes.numpy_dtype(dtype)
    except KeyError:
        return a
    return a.view(dt) if dt.itemsize == a.itemsize else a
