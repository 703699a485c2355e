"""Checks of the original kernel against its own spec, before any candidate is judged.

A verdict is only as good as the spec. Three ways a plausible spec silently switches
verification off, each caught here by running the original a few more times at the
default size (once per request; docs/evaluation.md gives the cost):

- an `out` buffer the original reads before writing (`y[i] += x[i]`): run under two
  poison patterns, its written elements differ, or an element looks unwritten under one
  and written under the other (NaN + x stays NaN, so it looks like poison). Such a
  buffer must be `inout` or have a `start` value;
- an `out` buffer the original leaves wholly or mostly unwritten (a launch too small,
  a length too large): elements the original does not write are not compared, so a
  candidate would be checked on almost nothing;
- an original that is not deterministic on the same inputs (float atomics): integer
  outputs cannot be checked at all; for float outputs the comparison widens by a model of
  the rounding error of an accumulation (`accumulation_bound`: k terms summed in some order
  err by about u*sqrt(k) of the result, or u*k*rms of the terms where they cancel), taken
  once from the problem's sizes and inputs, never from how much a few runs happened to
  vary; at least SPREAD_FACTOR times the spread seen. The verdict says so. With a Python
  reference (`@kf reference`) the original's error against it over all these runs is
  kept instead: candidates are judged by accuracy (verify.compare_output).
"""

from __future__ import annotations

from typing import Callable, Mapping

import msgspec
import numpy as np

from backends.judge.launch import EvalFailure, alternate_poison
from backends.judge.verify import OutputCheck, poison_mask
from backends.kernel import dtypes
from backends.model import BufferSpec, Spec, Verdict

__all__ = ["OriginalFindings", "check_original", "Accumulation", "accumulation", "accumulation_bound",
           "accumulation_terms", "SPREAD_FACTOR", "MIN_WRITTEN_FRACTION", "BOUND_LAMBDA"]

SPREAD_FACTOR = 8.0  # a candidate may differ from the original by at least this many times the original's own spread
BOUND_LAMBDA = 3.0  # confidence multiple of the probabilistic summation bound (docs/evaluation.md)
_UNIT_ROUNDOFF = {"f16": 2.0 ** -11, "bf16": 2.0 ** -8, "f32": 2.0 ** -24, "f64": 2.0 ** -53}
MIN_WRITTEN_FRACTION = 0.5  # an `out` buffer the original writes less of than this is a spec error
EXTRA_RUNS_FOR_SPREAD = 2  # more runs when a float output varies or accumulates (has a start value)


class OriginalFindings(msgspec.Struct, frozen=True):
    """What the checks learnt: per-buffer spread of a nondeterministic original, how far the
    comparison widens for it, its error against a Python reference, and notes."""

    spread: dict[str, float] = {}  # buffer -> largest |difference| between two runs on the same inputs
    runs: int = 1
    notes: list[str] = []
    widen: dict[str, tuple[float, float]] = {}  # buffer -> (extra rtol, extra atol) for a nondeterministic output
    original_error: dict[str, float] = {}  # buffer -> the original's largest abs error against the Python reference
    original_excess: dict[str, float] = {}  # the same in multiples of the tolerance (verify.OutputCheck.excess)


def _length(inputs: Mapping[str, np.ndarray], name: str) -> int:
    """Scalars in an input buffer; an InputSet (backends/judge/inputs.py) says without computing them."""
    length = getattr(inputs, "length", None)
    return int(length(name)) if length is not None else int(inputs[name].size)


def accumulation_terms(b: BufferSpec, contract: Spec, inputs: Mapping[str, np.ndarray],
                       lengths: dict[str, int]) -> int:
    """k, the terms per element of float output `b`: the largest float input's length over the
    output's (1 for an elementwise kernel). Needs lengths only, never the inputs' values."""
    n_out = max(1, lengths.get(b.name, 1))
    floats = [x for x in contract.buffers if x.role != "out" and dtypes.is_float(x.dtype) and x.name in inputs]
    n_in = max((lengths.get(x.name, 0) for x in floats), default=0) or \
        max((lengths.get(x.name, 0) for x in contract.buffers if x.role != "out"), default=1)
    return max(1, -(-n_in // n_out))


RMS_SAMPLE = 1 << 20  # input elements the rms of a large input set is measured on (an evenly spread sample)


def _sum_of_squares(inputs: Mapping[str, np.ndarray], name: str) -> tuple[float, int]:
    """(sum of squares, count) of input `name`: over at most RMS_SAMPLE elements of an InputSet
    (evenly spread chunks, the exact values kf wrote: its elements are drawn independently, so
    the sample's rms is the buffer's within a fraction of a percent), all of a plain array."""
    sample = getattr(inputs, "sample", None)
    a = sample(name, RMS_SAMPLE) if sample is not None else inputs[name]
    if not a.size:
        return 0.0, 0
    a64 = a.astype(np.float64).ravel()
    return float(np.dot(a64, a64)), a.size


def accumulation_bound(b: BufferSpec, contract: Spec, inputs: Mapping[str, np.ndarray],
                       lengths: dict[str, int]) -> tuple[float, float, int, float]:
    """(extra rtol, extra atol, k, rms): the rounding error an output accumulated in an
    order that changes between runs may carry, as a tolerance.

    k = the terms per output element (accumulation_terms), rms = the root mean square of the
    float inputs, u = the output type's unit roundoff.
    Summing k terms in any order errs by at most about BOUND_LAMBDA * u * sqrt(k) * M, where
    M is the magnitude of the partial sums: the result itself when the terms add up (a
    sum of positive values), about sqrt(k) * rms when they cancel (a random walk). So the
    tolerance grows by rtol' = BOUND_LAMBDA * u * sqrt(k) and atol' = BOUND_LAMBDA * u * k * rms
    (the probabilistic bound of Higham and Mary, gamma~_k = lambda * sqrt(k) * u, applied to
    the partial sums' size rather than to sum|x_i|, which would accept a zero for a sum
    whose terms cancel)."""
    u = _UNIT_ROUNDOFF.get(dtypes.scalar(b.dtype), 2.0 ** -24)
    k = accumulation_terms(b, contract, inputs, lengths)
    floats = [x for x in contract.buffers if x.role != "out" and dtypes.is_float(x.dtype) and x.name in inputs]
    total, count = 0.0, 0
    for x in floats:
        squares, n = _sum_of_squares(inputs, x.name)
        total += squares
        count += n
    rms = float(np.sqrt(total / count)) if count else 1.0
    return BOUND_LAMBDA * u * k ** 0.5, BOUND_LAMBDA * u * k * rms, k, rms


class Accumulation(msgspec.Struct, frozen=True):
    """How far the rounding of an accumulation widens a float output's tolerance
    (accumulation_bound), with what it was measured from: the default, nothing, for an
    elementwise output."""

    rtol: float = 0.0  # extra rtol, BOUND_LAMBDA * u * sqrt(k)
    atol: float = 0.0  # extra atol, BOUND_LAMBDA * u * k * rms
    why: str = ""  # for the verdict's tolerance text; empty for no accumulation
    terms: int = 1  # k, the terms per output element
    rms: float = 0.0  # the float inputs' root mean square

    @property
    def sum_scale(self) -> float:
        """The typical magnitude of one such sum, sqrt(k) x rms (verify.compare_output's
        `sum_scale`); 0 for an elementwise output."""
        return self.terms ** 0.5 * self.rms if self.terms >= 2 else 0.0


def accumulation(b: BufferSpec, contract: Spec, inputs: Mapping[str, np.ndarray],
                 lengths: dict[str, int]) -> Accumulation:
    """accumulation_bound as an Accumulation, measured only where output `b` accumulates
    (k >= 2 terms per element: a sum, a dot product); nothing for an elementwise one."""
    if accumulation_terms(b, contract, inputs, lengths) < 2:
        return Accumulation()
    rtol_x, atol_x, k, rms = accumulation_bound(b, contract, inputs, lengths)
    return Accumulation(rtol_x, atol_x, f"for the rounding of {k} terms per element", k, rms)


def scattered_bound(b: BufferSpec, k: int, largest: float) -> float:
    """The extra atol of an output accumulating k terms (k >= 2) on the special input set,
    whose inputs hold a few scattered magnitudes up to `largest` among ordinary values
    (backends/judge/inputs.py): once such a term is in a partial sum, each later addition
    rounds at its scale, so two correct orders differ by up to about BOUND_LAMBDA * u *
    sqrt(k) * largest, doubled for a second such term in the same sum, even where the terms
    cancel and the output is ordinary (accumulation_bound's rms, an average over the whole
    buffer, does not see a few large terms)."""
    if k < 2 or not largest > 0:
        return 0.0
    u = _UNIT_ROUNDOFF.get(dtypes.scalar(b.dtype), 2.0 ** -24)
    return 2.0 * BOUND_LAMBDA * u * k ** 0.5 * largest


RunOnce = Callable[[bool], dict[str, np.ndarray]]
"""run(alternate_poison) -> {buffer: contents after one run of the original on the same inputs};
the first run's own array for a buffer whose contents are bit for bit the first run's (the
harness knows it from device digests, without reading it back): nothing is compared there."""


def _alt_mask(values: np.ndarray, dtype: str) -> np.ndarray:
    width = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[values.dtype.itemsize]
    pattern = np.frombuffer(alternate_poison(dtype), dtype=width)[0]
    return values.view(width) == pattern


def _bits_differ(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    width = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}[a.dtype.itemsize]
    return a.view(width) != b.view(width)


def _float_diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", over="ignore"):
        d = np.abs(a.astype(np.float64) - b.astype(np.float64))
    both_nan = np.isnan(a) & np.isnan(b)
    d[both_nan] = 0.0
    same_inf = np.isinf(a) & (a == b)
    d[same_inf] = 0.0
    return d


def check_original(run: RunOnce, first: dict[str, np.ndarray], contract: Spec, tolerance: Callable[[BufferSpec], tuple[float, float]],
                   where: str, shape: str, inputs: dict[str, np.ndarray] | None = None,
                   expected: dict[str, np.ndarray] | None = None,
                   against: Callable[[BufferSpec, np.ndarray], OutputCheck] | None = None) -> OriginalFindings:
    """Run the original again (under a second poison, and on the same inputs) and compare
    with `first`, its ordinary run. Raises EvalFailure(SPEC_ERROR, line=buffer line) for a
    spec that cannot verify anything; returns the spread of a nondeterministic original and
    how far to widen the comparison for it (`inputs`: the run's inputs, for the bound), or,
    with `expected` (a Python reference's outputs), its largest error against them over the
    runs (`against(buffer, values)`: one run's outputs measured against the reference)."""
    outputs = [b for b in contract.buffers if b.role != "in"]
    if not outputs:
        return OriginalFindings()
    alt = run(True)
    again = [run(False)]
    samples = {b.name: [first[b.name], again[0][b.name]] for b in outputs}

    def varies(b: BufferSpec) -> bool:
        s = samples[b.name]
        return any(x is not s[0] and _bits_differ(s[0], x).any() for x in s[1:])

    accumulating = any(dtypes.is_float(b.dtype) and b.start is not None for b in outputs)
    if accumulating or any(varies(b) and dtypes.is_float(b.dtype) for b in outputs):
        for _ in range(EXTRA_RUNS_FOR_SPREAD):
            more = run(False)
            for b in outputs:
                samples[b.name].append(more[b.name])
    runs = 1 + len(samples[outputs[0].name])  # the alternate-poison run, the first and the repeats
    spread: dict[str, float] = {}
    notes: list[str] = []
    widen: dict[str, tuple[float, float]] = {}
    original_error: dict[str, float] = {}
    original_excess: dict[str, float] = {}
    lengths = {x.name: (_length(inputs, x.name) if inputs and x.name in inputs else first[x.name].size)
               for x in contract.buffers if x.name in first or (inputs and x.name in inputs)}
    for b in outputs:
        s = samples[b.name]
        n = s[0].size
        if n == 0:
            continue
        differs = np.zeros(n, dtype=bool)
        changed = [x for x in s[1:] if x is not s[0]]
        for x in changed:
            differs |= _bits_differ(s[0], x)
        if changed and b.role == "out" and b.start is None:
            differs &= ~np.logical_and.reduce([poison_mask(x, b.dtype) for x in s])
        if differs.any():
            count = int(differs.sum())
            if not dtypes.is_float(b.dtype):
                raise EvalFailure(Verdict.SPEC_ERROR,
                                  f"the original is not deterministic: `{b.name}` differs in {count} of {n} elements "
                                  f"between runs on the same inputs ({where}), so no candidate can be checked against "
                                  "it exactly (a race, or atomics whose order decides the result)", line=b.line)
            worst = 0.0
            for i in range(len(s)):
                for j in range(i + 1, len(s)):
                    d = _float_diff(s[i], s[j])
                    finite = np.isfinite(d)
                    if (~finite).any():
                        raise EvalFailure(Verdict.SPEC_ERROR,
                                          f"the original is not deterministic: `{b.name}` is NaN or Inf in some runs "
                                          f"on the same inputs and not in others ({where})", line=b.line)
                    worst = max(worst, float(d.max()) if d.size else 0.0)
            spread[b.name] = worst
            said = (f"the original is not deterministic: `{b.name}` varied by up to {worst:.3g} in {count} of {n} "
                    f"element(s) over {len(s)} runs on the same inputs")
            if expected is not None and b.name in expected and against is not None:
                checks = [against(b, x) for x in s]
                original_error[b.name] = max(c.max_abs_err for c in checks)
                original_excess[b.name] = max(c.excess for c in checks)
                notes.append(f"{said}; it is judged by accuracy against the Python reference (its largest error "
                             f"over these runs: {original_error[b.name]:.3g})")
            else:
                rtol_x, atol_x, k, rms = accumulation_bound(b, contract, inputs or {}, lengths)
                atol_x = max(atol_x, SPREAD_FACTOR * worst)
                widen[b.name] = (rtol_x, atol_x)
                notes.append(f"{said}; candidates are compared within the rounding error of an accumulation of "
                             f"k = {k} terms of rms {rms:.3g} (rtol + {rtol_x:.3g}, atol + {atol_x:.3g}; "
                             "docs/evaluation.md), not within how much it happened to vary")
        if b.role != "out" or b.start is not None or alt[b.name] is s[0]:
            continue  # (the run under the other poison wrote the same bits: every element written, none read first)
        a, other = s[0], alt[b.name]
        un_a, un_b = poison_mask(a, b.dtype), _alt_mask(other, b.dtype)
        one_sided = (un_a != un_b) & _bits_differ(a, other)  # (a written value that happens to equal a poison is not)
        both = ~un_a & ~un_b
        if dtypes.is_float(b.dtype):
            rtol, atol = tolerance(b)
            w_rtol, w_atol = widen.get(b.name, (0.0, SPREAD_FACTOR * spread.get(b.name, 0.0)))
            # bit-equal elements (NaN ones included) differ by 0: only the elements whose bits differ go
            # through float64 (a whole 256 MiB output in float64 took seconds)
            far = np.zeros(a.shape, dtype=bool)
            idx = np.flatnonzero(_bits_differ(a, other))
            if idx.size:
                sa = a.reshape(-1)[idx]
                d = _float_diff(sa, other.reshape(-1)[idx])  # 0 where both are NaN (sqrt(-1)) or the same infinity
                with np.errstate(invalid="ignore"):
                    mag = np.abs(sa.astype(np.float64))
                    far.reshape(-1)[idx] = ~(d <= atol + w_atol + (rtol + w_rtol) * np.where(np.isfinite(mag), mag, 0.0))
        else:
            far = _bits_differ(a, other)
        depends = one_sided | (both & far)
        if depends.any():
            k = int(depends.sum())
            raise EvalFailure(Verdict.SPEC_ERROR,
                              f"the original reads `{b.name}` before writing it: {k} of {n} elements depend on what the "
                              f"buffer held before the run ({where}); declare it `inout`, or give it a start value "
                              f"(`out {b.name}: ...[{b.length}] start 0`)", line=b.line)
        written = int((~(un_a & un_b)).sum())
        if written < MIN_WRITTEN_FRACTION * n:
            what = "none" if written == 0 else f"only {written}"
            raise EvalFailure(Verdict.SPEC_ERROR,
                              f"the original writes {what} of the {n} elements of `{b.name}` ({where}; launched with "
                              f"{shape}): is the launch too small or the length `{b.length}` too large? Elements the "
                              "original does not write are not compared", line=b.line)
        if written < n:
            notes.append(f"the original leaves {n - written} of the {n} elements of `{b.name}` unwritten "
                         f"({where}; launched with {shape}): they are not compared, so any value passes there; "
                         f"if it should write them, the launch is too small or `{b.length}` too large")
    return OriginalFindings(spread, runs, notes, widen, original_error, original_excess)
