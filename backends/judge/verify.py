"""Comparing a candidate's buffers with the reference's: the checks that cannot be fooled.

Outputs are poisoned before every run, so an element the candidate never wrote still
holds the poison (caught even when a stale result would have matched). Elements the
reference itself leaves as poison are "don't care". Constant outputs where the
reference's vary are rejected when they also fail the tolerance, which by default is
scaled to the outputs' magnitude, so tiny outputs cannot pass as zeros and an output that
is constant within rounding (sin^2 + cos^2) is not rejected for it. Guards around every
buffer catch writes out of bounds, and reads: a float buffer's guards hold NaN, so a value
read past the end shows in the output (`0 * x[n]` is NaN); a second run with other guard
contents (huge values of both signs, integers of the other sign) shows reads that NaN hides
(`fmax(v, x[n])`, `x[n] > 1`): an output that changes with the guards' contents depends on
memory the kernel does not own.
"""

from __future__ import annotations

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


ACCURACY_FACTOR = 2.0
"""With a Python reference, a candidate outside the tolerance still passes when its largest
error against the reference is at most this many times the original's (docs/evaluation.md)."""


def _as_uint(a: np.ndarray) -> np.ndarray:
    return a.view({1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize])


def poison_mask(values: np.ndarray, dtype: str) -> np.ndarray:
    """True where `values` still holds the poison pattern (bitwise)."""
    pattern = np.frombuffer(dtypes.poison_pattern(dtype), dtype=_as_uint(values[:0]).dtype)[0]
    return _as_uint(values) == pattern


def output_scale(values: np.ndarray) -> float:
    """The magnitude of a buffer's expected values: their root mean square over the finite
    ones (0.0 when there are none or all are zero). The default absolute tolerance is a
    fraction of it, so tiny outputs get a tiny one (docs/evaluation.md, "Tolerances")."""
    v = np.asarray(values, dtype=np.float64)
    finite = v[np.isfinite(v)]
    if not finite.size:
        return 0.0
    with np.errstate(over="ignore"):
        return float(np.sqrt(np.mean(np.square(finite))))


def _max_err(diff: np.ndarray) -> float:
    finite = diff[np.isfinite(diff)]
    return float(finite.max()) if finite.size else 0.0


def _abs_diff(a64: np.ndarray, b64: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.abs(a64 - b64)
    same = (np.isnan(a64) & np.isnan(b64)) | (np.isinf(a64) & (a64 == b64))
    d[same] = 0.0
    return d


def compare_output(
    name: str, dtype: str, expected: np.ndarray, got: np.ndarray, rtol: float, atol: float,
    poisoned: bool = True, *, scale_atol: bool = False, extra_atol: float = 0.0, extra_rtol: float = 0.0,
    extra_why: str = "", written: np.ndarray | None = None, original: np.ndarray | None = None,
    original_error: float = 0.0, factor: float = ACCURACY_FACTOR, magnitude: tuple[float, str] | None = None,
) -> OutputCheck:
    """Check one output buffer of the candidate against the expected values.

    `poisoned`: the buffer held the poison before the run (an `out` buffer without a start
    value); only then is an element the reference left alone "don't care". `written`
    overrides which elements are compared (with a Python reference: those the original
    writes). `scale_atol`: `atol` is a fraction of the expected values' magnitude
    (output_scale), not an absolute value. `extra_atol`/`extra_rtol` widen the tolerance
    (a nondeterministic original, `extra_why` says so). `original`: the original's outputs
    when `expected` comes from a Python reference; a candidate outside the tolerance passes
    when its error is at most `factor` times the original's (or `original_error`, the
    original's largest error over several runs, if larger). `magnitude`: (value, what it is) to
    scale `atol` by instead of the expected values' rms (the special input values: their few huge
    outputs would set that rms, and make the tolerance huge everywhere)."""
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
    exp = expected[written]
    got_w = got[written]

    unwritten = poison_mask(got_w, dtype) if poisoned else np.zeros(got_w.shape, dtype=bool)
    n_unwritten = int(unwritten.sum())
    if n_unwritten:
        idx = np.flatnonzero(written)[np.flatnonzero(unwritten)[:MAX_MISMATCHES]]
        return OutputCheck(
            False,
            Verdict.UNWRITTEN,
            [Mismatch(name, int(i), float(expected[i]), float("nan")) for i in idx],
            n_unwritten,
            message=f"{name}: {n_unwritten} of {exp.size} elements the reference writes were never "
            f"written (they still hold the poison value), first at index {int(idx[0])}",
        )

    e64 = exp.astype(np.float64)
    g64 = got_w.astype(np.float64)
    scale = (magnitude[0] if magnitude is not None else output_scale(e64)) if scale_atol else 0.0
    # a fraction of the magnitude, never more than atol itself: small outputs beside large ones in
    # one buffer (exp(8x): 3e-4..3e3, rms 374) keep an absolute bound (red team: zeros for the 25%
    # below 0.02 passed an atol of 0.037)
    base_atol = atol * min(scale, 1.0) if scale_atol and scale > 0 else atol
    atol_used = base_atol + extra_atol
    rtol_used = rtol + extra_rtol
    tol_text = f"tolerance rtol={rtol_used:.3g} atol={atol_used:.3g}"
    if scale_atol and scale > 0:
        tol_text += f" ({atol:g} x {min(scale, 1.0):.3g}, " + (magnitude[1] if magnitude else "the rms of the expected values")
        tol_text += " capped at 1" if scale > 1.0 else ""
        tol_text += f", + {extra_atol:.3g} {extra_why})" if extra_atol else ")"
    elif extra_atol:
        tol_text += f" ({atol:g} + {extra_atol:.3g} {extra_why})"
    diff = _abs_diff(g64, e64)
    with np.errstate(invalid="ignore", over="ignore"):
        # diff == 0: equal, or NaN / the same Inf on both sides (_abs_diff), where the bound is NaN; an
        # infinite diff (a number or the other Inf where the reference has Inf) is never within the bound Inf
        close = (diff == 0) | (np.isfinite(diff) & (diff <= atol_used + rtol_used * np.abs(e64)))
        finite = np.isfinite(diff)
        rel = np.where(diff == 0, 0.0, diff / np.maximum(np.abs(e64), np.finfo(np.float64).tiny))
        max_abs = float(diff[finite].max()) if finite.any() else 0.0
        max_rel = float(rel[finite].max()) if finite.any() else 0.0
    bad = ~close
    nonfinite = int((bad & ~finite).sum())  # a NaN or Inf where the other side has a number (or another Inf)
    err_o = None
    if original is not None:
        d_o = _abs_diff(original[written].astype(np.float64), e64)
        err_o = max(_max_err(d_o), original_error)
        if not np.isfinite(d_o).all():
            err_o = float("inf")
    n_bad = int(bad.sum())
    if n_bad == 0:
        return OutputCheck(True, max_abs_err=max_abs, max_rel_err=max_rel, rule="tolerance", rtol=rtol_used,
                           atol=atol_used, original_error=err_o)
    if err_o is not None and nonfinite == 0 and max_abs <= factor * err_o:
        return OutputCheck(True, max_abs_err=max_abs, max_rel_err=max_rel, rule="no worse than the original",
                           rtol=rtol_used, atol=atol_used, original_error=err_o)
    accuracy = ""
    if err_o is not None:
        accuracy = (f"; max abs error {max_abs:.3g} against the Python reference, the original's {err_o:.3g}: "
                    f"neither within the tolerance nor at most {factor:g} x the original's error")
    if exp.size > 1 and np.all(g64 == g64[0]) and not np.all(e64 == e64[0]):
        return OutputCheck(
            False,
            Verdict.CONSTANT,
            mismatch_count=n_bad,
            max_abs_err=max_abs,
            max_rel_err=max_rel,
            message=f"{name}: every element is {g64[0]:g} while the reference's vary "
            f"(from {np.nanmin(e64):g} to {np.nanmax(e64):g}); {n_bad} of {exp.size} are outside the "
            f"{tol_text}{accuracy}",
            rtol=rtol_used, atol=atol_used, original_error=err_o,
        )
    positions = np.flatnonzero(written)[np.flatnonzero(bad)[:MAX_MISMATCHES]]
    mism = [Mismatch(name, int(i), float(expected[i]), float(got[i])) for i in positions]
    first = mism[0]
    return OutputCheck(
        False,
        Verdict.WRONG,
        mism,
        n_bad,
        max_abs,
        max_rel,
        f"{name}: {n_bad} of {exp.size} elements differ (first at index {first.index}: expected "
        f"{first.expected:.6g}, got {first.got:.6g}; "
        + (f"{nonfinite} NaN/Inf where the reference has a number or the reverse; " if nonfinite else "")
        + f"max abs error {max_abs:.3g}, max rel error {max_rel:.3g} over the finite differences; "
        f"{tol_text}{accuracy})",
        nonfinite,
        rtol=rtol_used, atol=atol_used, original_error=err_o,
    )


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
