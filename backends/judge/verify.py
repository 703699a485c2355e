"""Comparing a candidate's buffers with the reference's: the checks that cannot be fooled.

Outputs are poisoned before every run, so an element the candidate never wrote still
holds the poison (caught even when a stale result would have matched). Elements the
reference itself leaves as poison are "don't care". Constant outputs where the
reference's vary are rejected before tolerances are applied, so tiny outputs cannot
pass as zeros. Guards of canary bytes around every buffer catch writes out of bounds.
"""

from __future__ import annotations

import msgspec
import numpy as np

from backends.kernel import dtypes
from backends.model import Mismatch, Verdict

GUARD_BYTES = 64 * 1024  # each side of every buffer; a multiple of any alignment a kernel needs
CANARY = bytes([0xC5, 0x3A, 0x5C, 0xA3])  # not a float or small integer a kernel writes by accident
MAX_MISMATCHES = 5


class OutputCheck(msgspec.Struct, frozen=True):
    ok: bool
    verdict: Verdict = Verdict.CORRECT
    mismatches: list[Mismatch] = []
    mismatch_count: int = 0
    max_abs_err: float = 0.0
    max_rel_err: float = 0.0
    message: str = ""
    nonfinite_count: int = 0  # NaN/Inf where the reference has a finite value, or the reverse (in mismatch_count too)


def _as_uint(a: np.ndarray) -> np.ndarray:
    return a.view({1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize])


def poison_mask(values: np.ndarray, dtype: str) -> np.ndarray:
    """True where `values` still holds the poison pattern (bitwise)."""
    pattern = np.frombuffer(dtypes.poison_pattern(dtype), dtype=_as_uint(values[:0]).dtype)[0]
    return _as_uint(values) == pattern


def compare_output(
    name: str, dtype: str, expected: np.ndarray, got: np.ndarray, rtol: float, atol: float,
    poisoned: bool = True,
) -> OutputCheck:
    """Check one output buffer of the candidate against the reference's. `poisoned`: the
    buffer held the poison before the run (an `out` buffer without a start value); only
    then is an element the reference left alone "don't care"."""
    if not poisoned:
        written = np.ones(expected.shape, dtype=bool)
    else:
        written = ~poison_mask(expected, dtype)
    if not written.any():
        return OutputCheck(True, message=f"{name}: the reference writes no element")
    if expected.shape == got.shape and np.array_equal(_as_uint(expected), _as_uint(got)):
        # bit for bit the reference's output: every check below passes (no poison where the
        # reference wrote, not constant unless the reference is, zero error), at a fraction of the cost
        return OutputCheck(True)
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
    if exp.size > 1 and np.all(g64 == g64[0]) and not np.all(e64 == e64[0]):
        return OutputCheck(
            False,
            Verdict.CONSTANT,
            mismatch_count=int(exp.size),
            message=f"{name}: every element is {g64[0]:g} while the reference's vary "
            f"(from {np.nanmin(e64):g} to {np.nanmax(e64):g})",
        )

    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(g64 - e64)
        both_nan = np.isnan(e64) & np.isnan(g64)
        same_inf = np.isinf(e64) & (e64 == g64)
        close = (diff <= atol + rtol * np.abs(e64)) | both_nan | same_inf
        bad = ~close
        finite = np.isfinite(diff)
        max_abs = float(diff[finite].max()) if finite.any() else 0.0
        rel = diff / np.maximum(np.abs(e64), np.finfo(np.float64).tiny)
        max_rel = float(rel[finite].max()) if finite.any() else 0.0
        nonfinite = int((bad & ~finite).sum())  # a NaN or Inf where the other side has a number (or another Inf)
    n_bad = int(bad.sum())
    if n_bad == 0:
        return OutputCheck(True, max_abs_err=max_abs, max_rel_err=max_rel)
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
        f"tolerance rtol={rtol:g} atol={atol:g})",
        nonfinite,
    )


def guard_intact(front: np.ndarray, back: np.ndarray) -> tuple[bool, str]:
    """Both guards still hold the canary? Returns (ok, where)."""
    canary = np.frombuffer(CANARY * (GUARD_BYTES // len(CANARY)), dtype=np.uint8)
    bad_back = np.flatnonzero(back != canary)
    bad_front = np.flatnonzero(front != canary)
    if bad_back.size:
        return False, f"{int(bad_back.size)} bytes written past the end (up to byte {int(bad_back[-1]) + 1} beyond it)"
    if bad_front.size:
        return False, f"{int(bad_front.size)} bytes written before the start (from byte {GUARD_BYTES - int(bad_front[0])} before it)"
    return True, ""
