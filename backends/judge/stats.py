"""Timing statistics and the noise-aware comparison every speedup claim goes through.

A speedup is the ratio of medians; its 95% confidence interval comes from a bootstrap
over the recorded samples, and a candidate is "significantly faster" only when the
whole interval lies above 1 (+ an optional minimum effect). A 2% win inside the noise
is reported as such, never as an improvement.
"""

from __future__ import annotations

import math
from typing import Sequence

import msgspec
import numpy as np

from backends.model import Timing


class Comparison(msgspec.Struct, frozen=True):
    speedup: float  # baseline median / candidate median
    low: float  # 95% confidence interval of the speedup
    high: float
    significant: bool  # the whole interval is above 1 + min_effect


def summarize(samples: Sequence[float], method: str) -> Timing:
    a = np.asarray(samples, dtype=np.float64)
    if a.size == 0:
        raise ValueError("no timing samples")
    return Timing(
        median=float(np.median(a)),
        p10=float(np.percentile(a, 10)),
        p90=float(np.percentile(a, 90)),
        mean=float(a.mean()),
        stdev=float(a.std(ddof=1)) if a.size > 1 else 0.0,
        trials=int(a.size),
        samples=[float(x) for x in a],
        method=method,
    )


def compare(
    baseline: Timing,
    candidate: Timing,
    *,
    confidence: float = 0.95,
    min_effect: float = 0.0,
    resamples: int = 2000,
    seed: int = 0,
) -> Comparison:
    """Is `candidate` faster than `baseline`? Bootstrap CI of the ratio of medians."""
    b = np.asarray(baseline.samples or [baseline.median], dtype=np.float64)
    c = np.asarray(candidate.samples or [candidate.median], dtype=np.float64)
    speedup = float(np.median(b) / np.median(c))
    if b.size < 3 or c.size < 3:
        return Comparison(speedup, speedup, speedup, False)
    rng = np.random.default_rng(seed)
    bm = np.median(b[rng.integers(0, b.size, size=(resamples, b.size))], axis=1)
    cm = np.median(c[rng.integers(0, c.size, size=(resamples, c.size))], axis=1)
    ratios = bm / cm
    alpha = (1.0 - confidence) / 2.0
    low, high = (float(x) for x in np.quantile(ratios, [alpha, 1.0 - alpha]))
    return Comparison(speedup, low, high, low > 1.0 + min_effect)


def relative_spread(t: Timing) -> float:
    """(p90 - p10) / median: how noisy a measurement is, for reports."""
    return (t.p90 - t.p10) / t.median if t.median > 0 and math.isfinite(t.median) else math.inf
