"""The noise-aware comparison behind every speedup the tool reports."""

import numpy as np

from backends.judge.stats import compare, summarize


def sample(center, spread, n, seed):
    rng = np.random.default_rng(seed)
    return summarize(list(center * (1 + spread * rng.standard_normal(n))), "test")


def test_summary_reports_median_spread_and_count():
    t = summarize([3.0, 1.0, 2.0, 100.0], "host-clock")
    assert t.median == 2.5 and t.trials == 4 and t.p10 < t.median < t.p90
    assert t.samples == [3.0, 1.0, 2.0, 100.0]


def test_clear_speedup_is_significant():
    c = compare(sample(2.0, 0.03, 40, 1), sample(1.0, 0.03, 40, 2))
    assert c.significant and 1.9 < c.speedup < 2.1 and c.low < c.speedup < c.high


def test_same_kernel_twice_is_not_significant():
    c = compare(sample(1.0, 0.05, 40, 3), sample(1.0, 0.05, 40, 4))
    assert not c.significant and c.low < 1.0 < c.high


def test_small_win_inside_the_noise_is_not_significant():
    c = compare(sample(1.02, 0.15, 15, 5), sample(1.0, 0.15, 15, 6))
    assert not c.significant


def test_too_few_samples_never_significant():
    assert not compare(summarize([2.0, 2.0], "x"), summarize([1.0, 1.0], "x")).significant
