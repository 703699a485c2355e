"""Timing statistics: the noise-aware comparison every speedup claim goes through, and the
rule that stops the timing loop when the measurement is good enough.

A speedup is the median of the per-trial ratios (unpaired samples: the ratio of medians). The
harness runs the two kernels in interleaved trials
(one launch of each per trial), so trial t of the original and trial t of the candidate
share their moment in time: the same load on a shared machine, the same clocks, the same
drift. The 95% confidence interval is built on that pairing: it is the distribution-free
interval of the median of the per-trial ratios (order statistics, the sign test's
interval: exact coverage for any distribution of independent trials), in which whatever
the two kernels of a trial share cancels. The bootstrap it replaces resampled the two
sides independently, ignored what they share, and with the ~10 trials of a noisy run
gave intervals far too narrow: identical kernels were called significantly different.

A candidate is "significantly faster" by the search's rule (evolver/claims.py): the whole
interval above 1 *and* the point estimate at least 1 + the minimum effect (2% unless told
otherwise), so a 1.01x inside or beside the noise is never claimed.

Stopping (`stop_reason`): after `min_trials`, timing stops as soon as the 95% interval of
every kernel's median (distribution-free, from order statistics) is within +-noise_target
of the median, or within the timer's resolution; or as soon as the candidate is
slower than the minimum effect with confidence (the speedup's paired interval below
1 + min_effect: more trials could not make it a claim, so stopping there never creates one);
at the latest at the time cap or after `max_trials`. Like nvbench's relative-noise
stop, but on the median's interval, which shrinks as trials accumulate and is not moved by
a few slow outliers.
"""

from __future__ import annotations

import functools
import math
from typing import Sequence

import msgspec
import numpy as np

from backends.model import Timing

MIN_EFFECT_FLOOR = 0.02  # 2%: below this nothing is claimed even on a quiet machine (evolver/claims.py)

# the smallest difference a timer can tell apart: a narrower interval is as good as it gets
RESOLUTION = {"cuda-events": 0.5e-6, "host-clock": 1e-6, "sycl-events": 1e-8}


class Comparison(msgspec.Struct, frozen=True):
    speedup: float  # baseline median / candidate median
    low: float  # 95% confidence interval of the speedup
    high: float
    significant: bool  # interval above 1 and speedup >= 1 + min_effect
    paired: bool = False  # the interval came from paired trials


def claims_faster(point: float, low: float, min_effect: float) -> bool:
    """The search's rule for a speedup claim (evolver/claims.py uses it too)."""
    return low > 1.0 and point >= 1.0 + min_effect


def summarize(samples: Sequence[float], method: str, stop: str = "", noise: float | None = None) -> Timing:
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
        stop=stop,
        noise=noise,
    )


@functools.lru_cache(maxsize=1024)
def _median_ranks(n: int, confidence: float) -> tuple[int, int]:
    """0-based order statistics (j, n-1-j) bracketing the median with at least `confidence`
    coverage (exact binomial); (0, n-1) when n is too small to reach it."""
    alpha = (1.0 - confidence) / 2.0
    total = 2.0 ** n if n < 1000 else None
    j, cum = 0, 0.0
    if total is None:  # normal approximation for long runs
        j = int(math.floor(n / 2 - 1.959964 * math.sqrt(n) / 2))
        return max(0, j - 1), min(n - 1, n - j)
    while True:
        cum += math.comb(n, j) / total  # P(B <= j)
        if cum > alpha:
            break
        j += 1
    # j is the largest k with P(B <= k-1) <= alpha: the interval is [x_(k), x_(n+1-k)], 1-based
    return (j - 1, n - j) if j > 0 else (0, n - 1)


def median_interval(samples: Sequence[float], confidence: float = 0.95) -> tuple[float, float]:
    """Distribution-free interval of the median (order statistics)."""
    a = np.sort(np.asarray(samples, dtype=np.float64))
    if a.size == 0:
        raise ValueError("no samples")
    lo, hi = _median_ranks(int(a.size), confidence)
    return float(a[lo]), float(a[hi])


def median_noise(samples: Sequence[float], resolution: float = 0.0) -> float:
    """Half the width of the median's 95% interval relative to the median (0.01 = +-1%);
    an interval within the timer's resolution counts as 0."""
    if len(samples) < 2:
        return math.inf
    lo, hi = median_interval(samples)
    med = float(np.median(samples))
    half = (hi - lo) / 2.0
    if half <= resolution:
        return 0.0
    return half / med if med > 0 else math.inf


def stop_reason(samples: Sequence[Sequence[float]], elapsed: float, *, noise_target: float, min_trials: int,
                max_trials: int, cap_seconds: float, method: str = "", min_effect: float = 0.0) -> str | None:
    """Why the timing loop may stop now ("noise", "slower", "time cap", "max trials"), or None
    to go on. `samples`: the original's, then the candidate's if any (paired by trial).
    "slower": the paired interval of the speedup lies wholly below 1 + min_effect, so no
    number of further trials can make the candidate a claim; only with a noise target."""
    n = min((len(s) for s in samples), default=0)
    if n < max(2, min_trials):
        return None
    if n >= max_trials:
        return "max trials"
    if noise_target > 0:
        resolution = RESOLUTION.get(method, 0.0)
        if all(median_noise(s, resolution) <= noise_target for s in samples):
            return "noise"
        if len(samples) == 2 and len(samples[0]) == len(samples[1]):
            ratios = np.asarray(samples[0], dtype=np.float64) / np.asarray(samples[1], dtype=np.float64)
            if median_interval(ratios)[1] < 1.0 + min_effect:
                return "slower"
    if elapsed >= cap_seconds:
        return "time cap"
    return None


def describe_stop(timings: Sequence[Timing], noise_target: float, cap_seconds: float) -> str:
    """'14 trials, stopped when every median was within +-0.8% (target +-2%)', for the verdict."""
    if not timings:
        return ""
    t = timings[0]
    worst = max((x.noise for x in timings if x.noise is not None), default=None)
    within = f"+-{worst * 100:.1f}%" if worst is not None and math.isfinite(worst) else "unknown"
    if t.stop == "noise":
        return f"{t.trials} trials, stopped when every median was within {within} (target +-{noise_target * 100:g}%)"
    if t.stop == "slower":
        return (f"{t.trials} trials, stopped when the speedup's interval lay below the minimum effect "
                f"(medians within {within})")
    if t.stop == "time cap":
        goal = f", target +-{noise_target * 100:g}%" if noise_target > 0 else ""
        spent = sum(sum(x.samples) for x in timings)
        if spent > cap_seconds:  # a slow kernel: the budget ran out before the fewest trials were done
            return (f"{t.trials} trials, the fewest for an interval: the kernels ran {spent:.3g} s, past the "
                    f"{cap_seconds:g} s timing budget (medians within {within}{goal})")
        return f"{t.trials} trials in the {cap_seconds:g} s timing budget (medians within {within}{goal})"
    if t.stop == "max trials":
        return f"{t.trials} trials, the most allowed (medians within {within})"
    return f"{t.trials} trials"


def compare(
    baseline: Timing,
    candidate: Timing,
    *,
    confidence: float = 0.95,
    min_effect: float = 0.0,
    resamples: int = 2000,
    seed: int = 0,
    paired: bool | None = None,
) -> Comparison:
    """Is `candidate` faster than `baseline`? For paired samples (the harness's interleaved
    trials: equal counts, in trial order; `paired` None decides by the counts) the speedup is
    the median of the per-trial ratios, its interval that median's order-statistics interval;
    otherwise the ratio of the medians, its interval a bootstrap of each side on its own. Either
    way the figure lies inside its own interval (the ratio of medians need not lie inside the
    per-trial ratios' interval: with trial times split between two levels under load, 2.57x
    was shown beside [1.87-2.13])."""
    b = np.asarray(baseline.samples or [baseline.median], dtype=np.float64)
    c = np.asarray(candidate.samples or [candidate.median], dtype=np.float64)
    speedup = float(np.median(b) / np.median(c))
    if b.size < 3 or c.size < 3:
        return Comparison(speedup, speedup, speedup, False)
    if paired is None:
        paired = b.size == c.size
    if paired and b.size == c.size:
        ratios = b / c
        speedup = float(np.median(ratios))
        low, high = median_interval(ratios, confidence)
        return Comparison(speedup, low, high, claims_faster(speedup, low, min_effect), True)
    rng = np.random.default_rng(seed)
    bm = np.median(b[rng.integers(0, b.size, size=(resamples, b.size))], axis=1)
    cm = np.median(c[rng.integers(0, c.size, size=(resamples, c.size))], axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = (float(x) for x in np.quantile(bm / cm, [alpha, 1.0 - alpha]))
    return Comparison(speedup, low, high, claims_faster(speedup, low, min_effect), False)


def relative_spread(t: Timing) -> float:
    """(p90 - p10) / median: how noisy a measurement is, for reports."""
    return (t.p90 - t.p10) / t.median if t.median > 0 and math.isfinite(t.median) else math.inf
