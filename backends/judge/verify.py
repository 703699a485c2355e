"""Comparing a candidate's buffers with the reference's: the checks that cannot be fooled.

Outputs are poisoned before every run, so an element the candidate never wrote still
holds the poison (caught even when a stale result would have matched). Elements the
reference itself leaves as poison are "don't care". Constant outputs where the
reference's vary are rejected when they also fail the tolerance, which by default is
scaled to the outputs' magnitude (a low quantile of it, so neither tiny outputs nor the
small elements of a wide-range buffer pass as zeros) and an output that is constant within
rounding (sin^2 + cos^2) is not rejected for it. A NaN expected needs a NaN, an infinity
the same infinity, a number a number. Guards around every buffer catch writes out of
bounds, and reads: a float buffer's guards hold NaN, so a value read past the end shows in
the output (`0 * x[n]` is NaN); a second run with other guard contents (huge values of both
signs, integers of the other sign) shows reads that NaN hides (`fmax(v, x[n])`, `x[n] > 1`):
an output that changes with the guards' contents depends on memory the kernel does not own.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, NamedTuple

import msgspec
import numpy as np

from backends.kernel import dtypes
from backends.model import Mismatch, Verdict

GUARD_BYTES = 64 * 1024  # each side of every buffer; a multiple of any alignment a kernel needs
CANARY = bytes([0xC5, 0x3A, 0x5C, 0xA3])  # integer guards: not a small integer a kernel writes by accident
MAX_MISMATCHES = 5

# float guards: a quiet NaN with a payload unlike the output poison's (reading one makes the
# output NaN); the second pattern alternates huge values of both signs, element by element
_GUARD_NAN = {"f16": 0x7E5C, "bf16": 0x7FC5, "f32": 0x7FC53AC5, "f64": 0x7FF8C53AC53AC53A}
_GUARD_HUGE = {"f16": 30000.0, "bf16": 1e30, "f32": 1e30, "f64": 1e300}


def _scalar(dtype: str) -> str:
    fn = getattr(dtypes, "scalar", None)  # vector element types (float4) hold lanes of a scalar
    return fn(dtype) if fn is not None else dtype


def _uint(nbytes: int):
    return {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[nbytes]


def guard_unit(dtype: str, alternate: bool = False, phase: int = 0) -> bytes:
    """The repeating unit of a guard for a buffer of `dtype` (two scalars where it alternates).
    `phase` 1 swaps the alternating values, so the element next to the buffer takes the other."""
    s = _scalar(dtype)
    if dtypes.is_float(s):
        size = dtypes.itemsize(s)
        if not alternate:
            return np.array([_GUARD_NAN.get(s, _GUARD_NAN["f32"])], dtype=_uint(size)).tobytes()
        big = _GUARD_HUGE.get(s, 1e30)
        if s == "bf16":  # the upper half of the float32
            pair = np.array([big, -big], dtype=np.float32).view(np.uint32) >> 16
            raw = pair.astype(np.uint16).tobytes()
        else:
            raw = np.array([big, -big], dtype=dtypes.numpy_dtype(s)).tobytes()
        return raw if phase % 2 == 0 else raw[size:] + raw[:size]
    unit = CANARY if not alternate else bytes(~b & 0xFF for b in CANARY)
    return unit


def guard_units(dtype: str, alternate: bool = False, phase: int = 0) -> tuple[bytes, bytes]:
    """(front, back) repeating units: the back guard starts with the unit's first value and
    the front guard ends with it, so both neighbours of the buffer read the same value."""
    unit = guard_unit(dtype, alternate, phase)
    s = _scalar(dtype)
    size = dtypes.itemsize(s) if dtypes.is_float(s) else len(unit)
    front = unit[size:] + unit[:size] if len(unit) > size and dtypes.is_float(s) else unit
    return front, unit


def guard_bytes(dtype: str, alternate: bool = False, phase: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(front, back) guard contents, GUARD_BYTES each (guard_units repeated)."""
    front, back = guard_units(dtype, alternate, phase)
    return (np.frombuffer(front * (GUARD_BYTES // len(front)), dtype=np.uint8),
            np.frombuffer(back * (GUARD_BYTES // len(back)), dtype=np.uint8))


def guard_differs(a: np.ndarray, b: np.ndarray, dtype: str, atol: float = 0.0) -> np.ndarray:
    """Elements of two outputs of one kernel on the same inputs that differ by more than
    reordering could explain: exact for integers; for floats, NaN/Inf on one side only, or a
    difference above atol + 1e-3 x their magnitude (a guard value is huge, reordering is not)."""
    if not dtypes.is_float(_scalar(dtype)):
        return _as_uint(a) != _as_uint(b)
    with np.errstate(invalid="ignore", over="ignore"):
        x, y = a.astype(np.float64), b.astype(np.float64)
        nan = np.isnan(x) != np.isnan(y)
        inf = (np.isinf(x) | np.isinf(y)) & (x != y) & ~(np.isnan(x) | np.isnan(y))
        d = np.abs(x - y)
        far = d > atol + 1e-3 * (np.abs(x) + np.abs(y))
    return nan | inf | (far & np.isfinite(d))


class OutputCheck(msgspec.Struct, frozen=True):
    ok: bool
    verdict: Verdict = Verdict.CORRECT
    mismatches: list[Mismatch] = []
    mismatch_count: int = 0
    max_abs_err: float = 0.0
    max_rel_err: float = 0.0
    message: str = ""
    nonfinite_count: int = 0  # NaN/Inf where the reference has a finite value, or the reverse (in mismatch_count too)
    rule: str = ""  # how it passed or failed: "tolerance", "no worse than the original" (ACCURACY_FACTOR), ""
    rtol: float = 0.0
    atol: float = 0.0  # the absolute tolerance used, after scaling and any widening
    original_error: float | None = None  # with a Python reference: the original's max abs error against it
    excess: float = 0.0  # the largest error in multiples of its element's tolerance (inf: a NaN/Inf mismatch)
    original_excess: float | None = None  # the same for the original, with a Python reference


ACCURACY_FACTOR = 2.0
"""With a Python reference, a candidate outside the tolerance still passes when its largest
error, in multiples of each element's tolerance, is at most this many times the original's
(docs/evaluation.md)."""

ORIGINAL_LIMIT = 100.0
"""With a Python reference, the original may err by at most this many times the tolerance
(its worst element) and still be the yardstick of the accuracy rule: float atomics, a
truncated or half-precision accumulation, TF32 products stay well inside it. Beyond it, or
with a NaN/Inf where the reference has a number (or a number where it has NaN/Inf), the
original disagrees with the reference: an error of the kernel or of the reference, never a
licence for candidates (docs/evaluation.md)."""

LOW_QUANTILE = 0.25
"""The default absolute tolerance is a fraction of this quantile of a buffer's nonzero
expected magnitudes (output_scale), so a wide-range buffer's small elements are checked too."""

_SCALE_SAMPLE = 1 << 22  # output_scale looks at this many elements of a larger buffer (a fixed sample)


def _as_uint(a: np.ndarray) -> np.ndarray:
    return a.view({1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize])


def poison_mask(values: np.ndarray, dtype: str) -> np.ndarray:
    """True where `values` still holds the poison pattern (bitwise)."""
    pattern = np.frombuffer(dtypes.poison_pattern(dtype), dtype=_as_uint(values[:0]).dtype)[0]
    return _as_uint(values) == pattern


def output_scale(values: np.ndarray) -> float:
    """The magnitude of a buffer's expected values for its default absolute tolerance: the
    lower quartile (LOW_QUANTILE) of the magnitudes of its nonzero finite values (0.0 when
    there are none). Not their root mean square: in a buffer spanning many orders of
    magnitude (exp, cumprod, un-normalised logits) the rms is set by the few largest values,
    and a tolerance scaled by it let every small element be anything (docs/evaluation.md,
    "Tolerances")."""
    v = np.asarray(values).ravel()
    if v.size > _SCALE_SAMPLE:  # a fixed sample: the same scale for the same values, every time
        v = v[scale_sample(v.size)]  # before converting: 8 bytes
    v = np.abs(v.astype(np.float64))  # an element of a 1.6 GB output would be 13 GB of temporaries
    v = v[np.isfinite(v) & (v > 0)]
    if not v.size:
        return 0.0
    return float(np.quantile(v, LOW_QUANTILE))


@functools.lru_cache(maxsize=2)
def scale_sample(n: int) -> np.ndarray | None:
    """The positions output_scale reads of a buffer of `n` elements (None: all of them); the
    device comparison gathers the same ones (backends/judge/device_checks.py), so both find
    the same scale."""
    if n <= _SCALE_SAMPLE:
        return None
    idx = np.random.default_rng(0).integers(0, n, _SCALE_SAMPLE)
    idx.setflags(write=False)
    return idx


def tiny_floor(dtype: str) -> float:
    """Below the smallest normal number of the output's type a kernel may flush to zero (and
    a float64 reference's value may not be representable at all): the absolute tolerance is
    never below it. float16 keeps its subnormals on GPUs: its smallest subnormal."""
    s = dtypes.scalar(dtype)
    if s == "f16":
        return float(np.finfo(np.float16).smallest_subnormal)
    if s in ("bf16", "f32"):
        return float(np.finfo(np.float32).smallest_normal)
    if s == "f64":
        return float(np.finfo(np.float64).smallest_normal)
    return 0.0


def tolerance_params(expected: np.ndarray, dtype: str, rtol: float, atol: float, scale_atol: bool,
                      extra_rtol: float, extra_atol: float, extra_why: str,
                      magnitude: tuple[float, str] | None = None) -> tuple[float, float, str]:
    """(atol used, rtol used, how they were made): the element's tolerance is atol + rtol x |expected|."""
    scale = (magnitude[0] if magnitude is not None else output_scale(expected)) if scale_atol else 0.0
    base_atol = atol * scale if scale_atol and scale > 0 else atol
    atol_used = max(base_atol + extra_atol, tiny_floor(dtype)) if dtypes.is_float(dtype) else base_atol + extra_atol
    rtol_used = rtol + extra_rtol
    if not dtypes.is_float(dtype) and atol_used == 0 and rtol_used == 0:
        text = "compared exactly (an integer buffer)"
    else:
        text = f"tolerance rtol={rtol_used:.3g} atol={atol_used:.3g}"
        if scale_atol and scale > 0:
            text += f" ({atol:g} x {scale:.3g}, "
            text += magnitude[1] if magnitude is not None else "the lower quartile of the expected magnitudes"
            text += f", + {extra_atol:.3g} {extra_why})" if extra_atol else ")"
        elif extra_atol:
            text += f" ({atol:g} + {extra_atol:.3g} {extra_why})"
    return atol_used, rtol_used, text


class _Measured(NamedTuple):
    close: np.ndarray  # per element: passes
    nonfinite: np.ndarray  # per element: a NaN/Inf on one side only (or another NaN/Inf)
    max_abs: float
    max_rel: float
    excess: float  # the largest error in multiples of its tolerance; inf with a nonfinite mismatch


def _measure(e64: np.ndarray, g64: np.ndarray, tol: np.ndarray) -> _Measured:
    """Element by element: a finite expected value needs a finite one within its tolerance,
    NaN needs NaN, an infinity the same infinity."""
    e_fin, g_fin = np.isfinite(e64), np.isfinite(g64)
    both = e_fin & g_fin
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        diff = np.where(both, np.abs(g64 - e64), 0.0)
        close = both & (diff <= tol)
        close |= np.isnan(e64) & np.isnan(g64)
        close |= np.isinf(e64) & (g64 == e64)
        nonfinite = ~close & ~both
        finite_diff = diff[both]
        max_abs = float(finite_diff.max()) if finite_diff.size else 0.0
        if not np.isfinite(max_abs):  # two finite float64 values an overflow apart
            max_abs = float(np.finfo(np.float64).max)
        mag = np.abs(e64[both])
        nz = mag > 0
        max_rel = float((finite_diff[nz] / mag[nz]).max()) if nz.any() else 0.0
        t = tol[both]
        ratio = np.where(finite_diff == 0, 0.0, np.where(t > 0, finite_diff / np.where(t > 0, t, 1.0), np.inf))
        excess = float(ratio.max()) if ratio.size else 0.0
    if nonfinite.any():
        excess = float("inf")
    return _Measured(close, nonfinite, max_abs, max_rel, excess)


_CHUNK = 1 << 20  # elements per piece of a large comparison: float64 temporaries that stay in cache
_PIECES = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1), thread_name_prefix="kf-compare")


def _wide_integers(a: np.ndarray, b: np.ndarray) -> bool:
    """Two 64-bit integer arrays of one type: float64 cannot hold every value (2^53 + 1), so
    their differences are taken exactly (_measure_integers)."""
    return a.dtype == b.dtype and a.dtype.kind in "iu" and a.dtype.itemsize == 8


def _ordered(a: np.ndarray) -> np.ndarray:
    """64-bit integers as unsigned words in the same order (signed ones with the sign bit flipped)."""
    u = a.view(np.uint64)
    return u ^ np.uint64(1 << 63) if a.dtype.kind == "i" else u


def _measure_integers(e: np.ndarray, g: np.ndarray, tol: np.ndarray) -> _Measured:
    """_measure for 64-bit integers: |g - e| exactly (an output off by one at 2^60 is off by
    one, not equal in float64), within the tolerance where it is at most floor(tol); the
    figures are that difference rounded to float64. The device comparison's rule too
    (backends/compare_kernel.py)."""
    eo, go = _ordered(e), _ordered(g)
    d = np.where(go >= eo, go - eo, eo - go)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        big = tol >= 2.0 ** 64
        close = big | (d <= np.floor(np.where(big, 0.0, tol)).astype(np.uint64))
        diff = d.astype(np.float64)
        mag = np.abs(e.astype(np.float64))
        nz = mag > 0
        max_abs = float(diff.max()) if diff.size else 0.0
        max_rel = float((diff[nz] / mag[nz]).max()) if nz.any() else 0.0
        ratio = np.where(diff == 0, 0.0, np.where(tol > 0, diff / np.where(tol > 0, tol, 1.0), np.inf))
        excess = float(ratio.max()) if ratio.size else 0.0
    return _Measured(close, np.zeros(e.shape, dtype=bool), max_abs, max_rel, excess)


def _measure_in_pieces(expected: np.ndarray, got: np.ndarray, atol: float, rtol: float,
                       floor: float = 0.0) -> _Measured:
    """_measure of the whole buffer against the tolerance max(atol + rtol x |expected|, floor),
    piece by piece on threads (NumPy releases the GIL): a 1.6 GB output in float64 was seven
    whole-buffer temporaries of 3.3 GB, seconds per comparison. Same result as one piece.
    64-bit integers: exactly (_measure_integers)."""
    n = expected.size
    close = np.empty(n, dtype=bool)
    nonfinite = np.empty(n, dtype=bool)
    wide = _wide_integers(expected, got)

    def piece(lo: int) -> tuple[float, float, float]:
        hi = min(lo + _CHUNK, n)
        e64 = expected[lo:hi].astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            tol = atol + rtol * np.abs(e64)
        tol = np.maximum(tol, floor) if floor else tol
        m = _measure_integers(expected[lo:hi], got[lo:hi], tol) if wide else \
            _measure(e64, got[lo:hi].astype(np.float64), tol)
        close[lo:hi], nonfinite[lo:hi] = m.close, m.nonfinite
        return m.max_abs, m.max_rel, m.excess

    if n <= _CHUNK:  # one piece: no thread hop
        parts = [piece(0)]
    else:
        parts = list(_PIECES.map(piece, range(0, n, _CHUNK)))
    return _Measured(close, nonfinite, max(p[0] for p in parts), max(p[1] for p in parts),
                     max(p[2] for p in parts))


def in_tolerances(x: float) -> str:
    return "a NaN/Inf mismatch" if not np.isfinite(x) else f"{x:.3g} x the tolerance"


def compare_output(
    name: str, dtype: str, expected: np.ndarray, got: np.ndarray, rtol: float, atol: float,
    poisoned: bool = True, *, scale_atol: bool = False, extra_atol: float = 0.0, extra_rtol: float = 0.0,
    extra_why: str = "", written: np.ndarray | None = None, original: np.ndarray | None = None,
    original_error: float = 0.0, original_excess: float = 0.0, factor: float = ACCURACY_FACTOR,
    limit: float = ORIGINAL_LIMIT, magnitude: tuple[float, str] | None = None, sum_scale: float = 0.0,
    positions_of: Callable[[np.ndarray], np.ndarray] | None = None,
) -> OutputCheck:
    """Check one output buffer of the candidate against the expected values.

    `poisoned`: the buffer held the poison before the run (an `out` buffer without a start
    value); only then is an element the reference left alone "don't care". `written`
    overrides which elements are compared (with a Python reference: those the original
    writes). `scale_atol`: `atol` is a fraction of the expected values' magnitude
    (output_scale), not an absolute value. `extra_atol`/`extra_rtol` widen the tolerance
    (an accumulation's rounding, a nondeterministic original: `extra_why` says so).

    `original`: the original's outputs when `expected` comes from a Python reference. The
    original is measured first: beyond `limit` times the tolerance (or with a NaN/Inf
    mismatch) it disagrees with the reference, and the result is a REFERENCE_FAILED check
    saying so, whatever the candidate computed. Otherwise a candidate outside the tolerance
    passes when its largest error in tolerances is at most `factor` times the original's (or
    `original_excess`, the original's over several runs, if larger). `magnitude`: (value, what it
    is) to scale `atol` by instead of the expected values' (the special input values: their few
    huge outputs would make the tolerance huge everywhere). `sum_scale`: for an accumulated
    output, the typical magnitude of its sums, sqrt(k) x the terms' rms: whether the original
    errs beyond `limit` is judged at least at that scale, since a sum that happens to cancel
    near zero for one draw of inputs does not make the original's rounding any more wrong (a
    bf16-truncated sum flipped between "imprecise" and "disagrees" with the draw).
    `positions_of`: where `expected` and `got` are a sample of a larger buffer (secret blocks),
    the buffer's element positions of sample indices, so a message names the element as the user
    finds it in the buffer, and says the count is of sampled elements."""
    if written is None:
        own = expected.dtype == dtypes.numpy_dtype(dtype)  # a Python reference's float64 holds no poison
        written = ~poison_mask(expected, dtype) if poisoned and own else np.ones(expected.shape, dtype=bool)
    if not written.any():
        return OutputCheck(True, message=f"{name}: the reference writes no element")
    if original is None and expected.dtype == got.dtype and expected.shape == got.shape \
            and np.array_equal(_as_uint(expected), _as_uint(got)):
        # bit for bit the reference's output: every check below passes (no poison where the
        # reference wrote, not constant unless the reference is, zero error), at a fraction of the cost
        return OutputCheck(True, rule="tolerance", rtol=rtol, atol=atol)
    every = bool(written.all())  # no copies of a 1.6 GB buffer when every element counts
    exp = expected.ravel() if every else expected[written]
    got_w = got.ravel() if every else got[written]

    unwritten = poison_mask(got_w, dtype) if poisoned else np.zeros(got_w.shape, dtype=bool)
    n_unwritten = int(unwritten.sum())
    of = f"{exp.size} sampled elements" if positions_of is not None else f"{exp.size} elements"
    if n_unwritten:
        idx = np.flatnonzero(written)[np.flatnonzero(unwritten)[:MAX_MISMATCHES]]
        at = positions_of(idx) if positions_of is not None else idx
        return OutputCheck(
            False,
            Verdict.UNWRITTEN,
            [Mismatch(name, int(p), float(expected[i]), float("nan")) for i, p in zip(idx, at)],
            n_unwritten,
            message=f"{name}: {n_unwritten} of {of} the reference writes were never "
            f"written (they still hold the poison value), first at index {int(at[0])}",
        )

    atol_used, rtol_used, tol_text = tolerance_params(exp, dtype, rtol, atol, scale_atol, extra_rtol, extra_atol,
                                                       extra_why, magnitude)
    m = _measure_in_pieces(exp, got_w, atol_used, rtol_used)
    err_o = exc_o = None
    if original is not None:
        orig_w = original if every else original[written]
        o = _measure_in_pieces(exp, orig_w, atol_used, rtol_used)
        err_o, exc_o = max(o.max_abs, original_error), max(o.excess, original_excess)
        exc_limit, limit_text = exc_o, tol_text
        if sum_scale > 0 and o.excess > 0:
            at_scale = _measure_in_pieces(exp, orig_w, atol_used, rtol_used, floor=rtol_used * sum_scale)
            exc_limit = max(at_scale.excess, original_excess)
            limit_text = f"{tol_text}, at least {rtol_used:.3g} x {sum_scale:.3g} (the typical size of such a sum)"
        if exc_limit > limit:
            return _disagreement(name, dtype, expected, original, written, exp.astype(np.float64), o, exc_limit,
                                 limit_text, limit, rtol_used, atol_used)
    bad = ~m.close
    n_bad = int(bad.sum())
    nonfinite = int(m.nonfinite.sum())
    common = dict(max_abs_err=m.max_abs, max_rel_err=m.max_rel, rtol=rtol_used, atol=atol_used,
                  original_error=err_o, excess=m.excess, original_excess=exc_o)
    if n_bad == 0:
        return OutputCheck(True, rule="tolerance", **common)
    if exc_o is not None and nonfinite == 0 and m.excess <= factor * exc_o:
        return OutputCheck(True, rule="no worse than the original", **common)
    accuracy = ""
    if err_o is not None:
        accuracy = (f"; max abs error {m.max_abs:.3g} against the Python reference, the original's {err_o:.3g} "
                    f"({in_tolerances(m.excess)}, the original's {in_tolerances(exc_o)}): neither within the tolerance nor at "
                    f"most {factor:g} x the original's error")
    e64, g64 = exp.astype(np.float64), got_w.astype(np.float64)  # a failure: the message reads them
    if exp.size > 1 and np.all(g64 == g64[0]) and not np.all(e64 == e64[0]):
        return OutputCheck(
            False,
            Verdict.CONSTANT,
            mismatch_count=n_bad,
            message=f"{name}: every element is {g64[0]:g} while the reference's vary "
            f"(from {np.nanmin(e64):g} to {np.nanmax(e64):g}); {n_bad} of {of} are outside the "
            f"{tol_text}{accuracy}",
            **common,
        )
    positions = np.flatnonzero(written)[np.flatnonzero(bad)[:MAX_MISMATCHES]]
    at = positions_of(positions) if positions_of is not None else positions
    mism = [Mismatch(name, int(p), float(expected[i]), float(got[i])) for i, p in zip(positions, at)]
    first = mism[0]
    if _wide_integers(expected, got):  # as written: 2^60 + 1 is not 1.15292e+18
        i = int(positions[0])
        shown = f"expected {int(expected.reshape(-1)[i])}, got {int(got.reshape(-1)[i])}"
    else:
        shown = f"expected {first.expected:.6g}, got {first.got:.6g}"
    return OutputCheck(
        False,
        Verdict.WRONG,
        mism,
        n_bad,
        message=f"{name}: {n_bad} of {of} differ (first at index {first.index}: {shown}; "
        + (f"{nonfinite} NaN/Inf where the reference has a number or the reverse; " if nonfinite else "")
        + f"max abs error {m.max_abs:.3g}, max rel error {m.max_rel:.3g} over the finite differences; "
        f"{tol_text}{accuracy})",
        nonfinite_count=nonfinite,
        **common,
    )


def _disagreement(name: str, dtype: str, expected: np.ndarray, original: np.ndarray, written: np.ndarray,
                  e64: np.ndarray, o: _Measured, exc_o: float, tol_text: str, limit: float, rtol: float,
                  atol: float) -> OutputCheck:
    """The original is no yardstick: say where and by how much it differs from the reference."""
    bad = ~o.close
    positions = np.flatnonzero(written)[np.flatnonzero(bad)[:MAX_MISMATCHES]]
    mism = [Mismatch(name, int(i), float(expected[i]), float(original[i])) for i in positions]
    n_bad, n_nonfinite = int(bad.sum()), int(o.nonfinite.sum())
    text = f"`{name}`: {n_bad} of {e64.size} elements differ"
    if mism:
        text += f" (first at index {mism[0].index}: the reference gives {mism[0].expected:.6g}, the original " \
                f"{mism[0].got:.6g})"
    if n_nonfinite:
        text += f"; {n_nonfinite} NaN/Inf in one and not the other"
        if dtypes.is_float(dtype):
            top = float(np.finfo(dtypes.numpy_dtype(dtype) if dtypes.scalar(dtype) != "bf16" else np.float32).max)
            over = np.isfinite(e64) & (np.abs(e64) > top) & o.nonfinite
            if over.any():
                text += (f" ({int(over.sum())} expected value(s) such as {float(e64[over][0]):.3g} are beyond the "
                         f"range of {dtypes.scalar(dtype)}: the kernel overflows there)")
    if np.isfinite(exc_o):
        text += f"; max abs error {o.max_abs:.3g}, {exc_o:.3g} x the {tol_text}, more than the {limit:g} x " \
                "an imprecise original may err"
    elif not n_nonfinite:
        text += f" over several runs of the original; {tol_text}"
    return OutputCheck(False, Verdict.REFERENCE_FAILED, mism, n_bad, o.max_abs, o.max_rel, text, n_nonfinite,
                       "", rtol, atol, o.max_abs, o.excess, exc_o)


def guard_intact(front: np.ndarray, back: np.ndarray, expected: tuple[np.ndarray, np.ndarray] | None = None
                 ) -> tuple[bool, str]:
    """Both guards still hold what kf wrote (`expected`: (front, back); the integer canary when
    not given)? Returns (ok, where)."""
    if expected is None:
        canary = np.frombuffer(CANARY * (GUARD_BYTES // len(CANARY)), dtype=np.uint8)
        expected = (canary, canary)
    bad_back = np.flatnonzero(back != expected[1])
    bad_front = np.flatnonzero(front != expected[0])
    if bad_back.size:
        return False, f"{int(bad_back.size)} bytes written past the end (up to byte {int(bad_back[-1]) + 1} beyond it)"
    if bad_front.size:
        return False, f"{int(bad_front.size)} bytes written before the start (from byte {GUARD_BYTES - int(bad_front[0])} before it)"
    return True, ""
