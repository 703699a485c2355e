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
- *wide*: the special set, one per evaluation: each float buffer holds ordinary values
  (drawn exactly as an ordinary set's) except at OUTLIERS + SPECIALS_PER_BUFFER secret
  positions: magnitudes above the range (2..2^21 for float) and far below it (2^-40..2^-9),
  zeros and subnormals, and NaN, +-Inf, a large value, the smallest subnormal and -0, each
  only where the spec's range allows (an explicit `range` keeps every value inside it: only
  smaller magnitudes, zeros and subnormals, where it holds 0; `@kf values finite` drops
  NaN/Inf; integers stay ordinary). Every set has both regimes in every float buffer (the
  scale drawn per buffer left an input without |x| > 1 in 1 evaluation in 4), and a kernel
  sampling a few elements sees ordinary values (a scale per buffer told the whole set apart
  from 8 elements): k sampled elements meet a scattered one with probability about
  k * 72 / n. Magnitudes mixed inside a sum make its rounding depend on the order of the
  additions: the comparison on this set widens the tolerance of an accumulated output by the
  rounding of its largest scattered term (harness._special_values).

The bulk of a wide buffer comes from the same device kernel as an ordinary one; the scattered
values are computed on the host from the buffer's key and written in place.

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
# a buffer below this many bytes is written from the host in one copy with its guards (launch.Buffers,
# device_checks.DEVICE_MIN_BYTES), so its values are computed on the host for every write: kept once computed
KEEP_BYTES = 1 << 20
SPECIALS_PER_BUFFER = 8
OUTLIERS = 64  # scattered magnitudes per wide float buffer: 24 above the range, 24 below, 8 zeros, 8 subnormals

# element type -> (precision class "f32"/"f64", largest exponent of the wide set's magnitudes, exponent of its large value)
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
    wide: bool  # values scattered at secret positions (specials_for)
    lo: float  # floats: the uniform range's start and width, the clamp to representable values
    span: float
    clo: float
    chi: float
    ilo: int  # integers: start (two's complement, 64 bits) and span (0: all 2^64 values)
    ispan: int
    specials: tuple[float, ...]  # wide floats: values put at a few secret positions
    outliers: tuple[str, ...] = ()  # wide floats: the kinds of scattered magnitudes, in turn (_OUTLIER_KINDS)
    widest: int = 0  # wide floats: the largest exponent of the magnitudes above the range


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
    """The generation plan of one input buffer (a bad `range` is a spec error at its line).
    `pick` is unused (the wide set's scale was drawn from it; kept for callers)."""
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
        return GenPlan(dtype, n, 8 + int(math.log2(_np_scalar(dtype).itemsize)), False,
                       0.0, 0.0, 0.0, 0.0, lo & (2**64 - 1), span if span < 2**64 else 0, ())
    lo, hi = float(lo), float(hi)
    klass, widest, large = _FLOATS[dtype]
    clo, chi = _representable(dtype, lo, hi)
    f = float if klass == "f64" else _f32
    base = GenPlan(dtype, n, _DT_CODE[dtype], False, f(lo), f(hi - lo), clo, chi, 0, 0, ())
    if not wide or mode == "ordinary":
        return base
    if explicit:  # inside the user's range: smaller magnitudes, zeros and subnormals where it holds 0
        if not lo <= 0.0 < hi:
            return base
        return base._replace(wide=True, outliers=("shrunk", "shrunk", "zero", "subnormal"), widest=widest)
    specials = [2.0 ** large, _min_subnormal(dtype), -_min_subnormal(dtype), -0.0]
    if mode != "finite":
        specials = [math.nan, math.inf, -math.inf] + specials
    return base._replace(wide=True, specials=tuple(specials), outliers=_OUTLIER_KINDS, widest=widest)


# the scattered magnitudes of a wide buffer, in turn: as many below the range as above it, every set
_OUTLIER_KINDS = ("up", "down", "up", "down", "up", "down", "zero", "subnormal")


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


def host_values(p: GenPlan, keys: tuple[int, int, int, int], start: int = 0) -> np.ndarray:
    """The buffer's ordinary values (elements start .. start + p.n) computed on the host
    (bit-identical to the device kernel's), in chunks that stay in cache (several times faster
    than whole-buffer temporaries). A wide buffer's scattered values are not in it."""
    first = _host_chunk(p, keys, start, min(p.n, HOST_CHUNK))
    if p.n <= HOST_CHUNK:
        return first
    out = np.empty(p.n, dtype=first.dtype)
    out[:first.size] = first
    for at in range(HOST_CHUNK, p.n, HOST_CHUNK):
        part = _host_chunk(p, keys, start + at, min(HOST_CHUNK, p.n - at))
        out[at:at + part.size] = part
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
    v = _uniform(p, w0, w1)
    if p.code == _DT_CODE["f16"]:
        return _f16_bits(v.astype(np.float32).view(np.uint32)).view(np.float16)
    if p.code == _DT_CODE["bf16"]:
        return _bf16_bits(v.astype(np.float32).view(np.uint32)).view(_np_scalar("bf16"))
    return v.astype(_np_scalar(p.dtype))


def specials_for(p: GenPlan, keys: tuple[int, int, int, int]) -> list[tuple[int, float]]:
    """(position, value) of the values scattered in a wide float buffer: each of `p.specials`
    once, then OUTLIERS magnitudes of the kinds `p.outliers` in turn, at distinct positions
    drawn from the buffer's key (secret like the values); every other element keeps its
    ordinary value. Values as Python floats, rounded to the buffer's type by _special_array."""
    if not (p.specials or p.outliers) or p.n == 0:
        return []
    n_special = max(SPECIALS_PER_BUFFER, len(p.specials)) if p.specials else 0
    count = min(p.n, n_special + (OUTLIERS if p.outliers else 0))
    hi = _words(count, keys[3], keys[0]).astype(np.uint64)
    lo = _words(count, keys[3], keys[1]).astype(np.uint64)
    wa = _words(count, keys[2] ^ 0x5BD1E995, keys[3])  # the outliers' exponents, signs, mantissas
    wb = _words(count, keys[1] ^ 0x27D4EB2F, keys[2])
    out: list[tuple[int, float]] = []
    seen: set[int] = set()
    for j, w in enumerate(((hi << np.uint64(32)) | lo) % np.uint64(p.n)):
        if int(w) in seen:
            continue
        seen.add(int(w))
        if j < n_special:
            out.append((int(w), p.specials[j % len(p.specials)]))
        else:
            kind = p.outliers[(j - n_special) % len(p.outliers)]
            out.append((int(w), _outlier(p, keys, kind, int(w), int(wa[j]), int(wb[j]))))
    return out


def _outlier(p: GenPlan, keys: tuple[int, int, int, int], kind: str, i: int, a: int, b: int) -> float:
    """One scattered magnitude: above the range (|x| in [2, 2^(widest+1))), far below it
    (|x| in [2^-2widest, 2^-(widest/2 - 1)); half: [2^-14, 2^-1)), a signed zero, a subnormal of the buffer's type,
    or (an explicit range holding 0) element i's ordinary value shrunk by 2^-2..2^-2widest."""
    sign = -1.0 if b & 1 else 1.0
    frac = 1.0 + (a >> 8) * 2.0 ** -24
    if kind == "up":
        return sign * frac * 2.0 ** (1 + (b >> 1) % p.widest)
    if kind == "down":
        low, high = max(2, p.widest // 2), max(2 * p.widest, 14)  # half: down to its smallest normal
        return sign * frac * 2.0 ** -(low + (b >> 1) % (high - low + 1))
    if kind == "zero":
        return sign * 0.0
    if kind == "subnormal":
        tiny = {"f32": 2.0 ** -126, "f64": 2.0 ** -1022, "f16": 2.0 ** -14, "bf16": 2.0 ** -126}[p.dtype]
        v = sign * tiny * max((a >> 8) * 2.0 ** -24, 2.0 ** -9)  # below the smallest normal
        return float(np.clip(v, p.clo, p.chi))
    # "shrunk": the ordinary value at i (inside the range), times a power of two below 1
    one = host_values(p._replace(n=1), keys, start=i)
    if p.code == _DT_CODE["bf16"]:
        one = _half_to_f32("bf16", one.view(np.uint16))
    return float(one.astype(np.float64)[0]) * 2.0 ** -(2 + (b >> 1) % (2 * p.widest - 1))


def largest_scattered(p: GenPlan, keys: tuple[int, int, int, int]) -> float:
    """The largest finite magnitude among a wide buffer's scattered values other than its one
    large special value (the comparison's rounding allowance, harness._special_values)."""
    big = max((abs(v) for v in p.specials if math.isfinite(v)), default=0.0)
    m = [abs(v) for _, v in specials_for(p, keys) if math.isfinite(v) and abs(v) != big]
    return max(m, default=0.0)


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
  KF_U32 k0, k1, k2; float flo, fspan, fclo, fchi;
  double dlo, dspan, dclo, dchi; KF_U64 ilo, ispan;
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
// double (a wide set's scattered values are written over these by the host: InputSet.write)
KF_FN void kf_f64(unsigned char* dst, KF_U64 i, KF_U32 w0, KF_U32 w1, const kf_p& p) {
  KF_U64 m = ((KF_U64)w0 << 21) | (KF_U64)(w1 >> 11);
  double u = (double)m * 1.1102230246251565404e-16;
  double v = u * p.dspan;
  v = v + p.dlo;
  v = v < p.dclo ? p.dclo : (v > p.dchi ? p.dchi : v);
  ((double*)dst)[i] = v;
}
// float, half (DT 2) and bfloat16 (DT 3), computed in float
template <int DT> KF_FN void kf_f32(unsigned char* dst, KF_U64 i, KF_U32 w0, KF_U32 w1, const kf_p& p) {
  float u = (float)(w0 >> 8) * 5.9604644775390625e-8f;
  float v = u * p.fspan;
  v = v + p.flo;
  v = v < p.fclo ? p.fclo : (v > p.fchi ? p.fchi : v);
  if (DT == 0) ((float*)dst)[i] = v;
  else if (DT == 2) ((unsigned short*)dst)[i] = kf_f16(KF_F32_BITS(v));
  else ((unsigned short*)dst)[i] = kf_bf16(KF_F32_BITS(v));
}
KF_KERNEL void KF_ENTRY(unsigned char* dst, KF_U64 n, KF_U32 k0, KF_U32 k1, KF_U32 k2, float flo, float fspan,
                        float fclo, float fchi, double dlo, double dspan, double dclo, double dchi, KF_U64 ilo,
                        KF_U64 ispan) {
  kf_p p = {k0, k1, k2, flo, fspan, fclo, fchi, dlo, dspan, dclo, dchi, ilo, ispan};
  for (KF_U64 i = KF_FIRST; i < n; i += KF_STRIDE) {
    KF_U32 w0 = kf_lb32(kf_lb32((KF_U32)i ^ k0) + k1 + (KF_U32)(i >> 32) * 0x9e3779b9u);
    KF_U32 w1 = kf_lb32(w0 ^ k2);
    KF_CALL(dst, i, w0, w1, p);
  }
}
"""


def _variant(p: GenPlan) -> tuple[str, str]:
    """(entry name, the call its loop makes) of the kernel specialised for a plan: one small
    kernel per element type, so each compiles to straight-line, vectorisable code (a wide
    plan's bulk is an ordinary one's)."""
    if p.code >= 8:
        big = int(not (p.ispan and p.ispan <= 2 ** 32))
        width = 1 << (p.code - 8)
        return f"kf_gen_i{width}_{big}", f"kf_int<{width}, {big}>"
    if p.code == _DT_CODE["f64"]:
        return "kf_gen_f64", "kf_f64"
    return f"kf_gen_f{p.code}", f"kf_f32<{p.code}>"


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


def _device_write(session: Any, p: GenPlan, keys, buffer: object, offset: int) -> bool:
    kernel = _generator(session, p)
    if kernel is None:
        return False
    k0, k1, k2, _ = keys
    block = 256
    groups = max(1, min(-(-p.n // block), 4096))
    grid = (groups * block, 1, 1) if session.info.backend == "sycl" else (groups, 1, 1)
    args = [BufferArg(buffer, offset), ScalarArg(p.n, "u64"), ScalarArg(k0, "u32"), ScalarArg(k1, "u32"),
            ScalarArg(k2, "u32"),
            ScalarArg(_clampf(p.lo), "f32"), ScalarArg(_clampf(p.span), "f32"), ScalarArg(_clampf(p.clo), "f32"),
            ScalarArg(_clampf(p.chi), "f32"), ScalarArg(p.lo, "f64"),
            ScalarArg(p.span, "f64"), ScalarArg(p.clo, "f64"), ScalarArg(p.chi, "f64"),
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
        self._nbytes = {name: sizes[name] for name in self.plans}
        self._scattered: dict[str, list[tuple[int, float]]] = {}
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
            scattered = self.scattered(name)
            if scattered:
                a = a.copy()
                a[[i for i, _ in scattered]] = _special_array(p, [v for _, v in scattered])
            a = _as_buffer_dtype(a, self.dtypes[name])
            a.setflags(write=False)
            if self._keeps(name):  # large sets are not kept: a stored run's InputSet stays a key
                self._host[name] = a
        return a

    def _keeps(self, name: str) -> bool:
        """Whether buffer `name`'s host values are kept once computed: a small buffer (the NumPy
        twin writes it), or one written from the host with its guards (KEEP_BYTES). A stored run
        (reference_cache) writes the same set in every evaluation of its epoch: the original's
        self-checks, the candidate's runs, the repeats at the probed sizes."""
        return self.plans[name].n < DEVICE_MIN_ELEMENTS or self._nbytes[name] < KEEP_BYTES

    @property
    def kept_bytes(self) -> int:
        """The most host memory this set keeps (the buffers `_keeps`), for a store's budget."""
        return sum(n for name, n in self._nbytes.items() if self._keeps(name))

    def scattered(self, name: str) -> list[tuple[int, float]]:
        """(position, value) of buffer `name`'s special values and outliers (specials_for), computed once."""
        found = self._scattered.get(name)
        if found is None:
            found = self._scattered[name] = specials_for(self.plans[name], self.keys[name])
        return found

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
        return sorted({i / p.n for name, p in self.plans.items() for i, _ in self.scattered(name)})

    def largest_scattered(self) -> float:
        """The largest finite scattered magnitude of any buffer, its one large special value
        aside (0 where there is none): what the rounding allowance of _special_values scales with."""
        return max((largest_scattered(p, self.keys[name]) for name, p in self.plans.items() if p.wide), default=0.0)

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
        if cached is None and p.n >= DEVICE_MIN_ELEMENTS and _device_write(session, p, keys, buffer, offset):
            _counts["device_buffers"] += 1
            _counts["device_elements"] += p.n
            scattered = self.scattered(name)  # a wide buffer's values at its secret positions, over the bulk
            if scattered:
                arr = _special_array(p, [v for _, v in scattered])
                size = arr.itemsize
                for (i, _), one in sorted(zip(scattered, arr), key=lambda t: t[0][0]):
                    session.write(buffer, offset + i * size, np.array([one]).view(np.uint8))
            return
        _counts["host_buffers"] += 1
        _counts["host_elements"] += p.n
        session.write(buffer, offset, np.ascontiguousarray(self[name]).view(np.uint8))


def _as_buffer_dtype(a: np.ndarray, dtype: str) -> np.ndarray:
    """Scalar values viewed as the buffer's element type where numpy has one (vector types stay scalar)."""
    try:
        dt = dtypes.numpy_dtype(dtype)
    except KeyError:
        return a
    return a.view(dt) if dt.itemsize == a.itemsize else a
