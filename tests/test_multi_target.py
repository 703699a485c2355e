"""Multi-target fitness: worst correctness, geometric mean of speedups; and a real run of
one candidate on two targets (two local SYCL CPU pools standing in for two kinds of
hardware; tests/test_remote.py runs one target through the Dask cluster)."""

from __future__ import annotations

import asyncio
import math

import msgspec
import pytest

from backends.model import EvalOptions, EvalResult, Verdict
from backends.run.multi_target import MultiResult, MultiTargetPool, combine, geometric_mean
from backends.run.local_pool import EvalPool
from backends.run.pool import Pool

from evalcases import request

# timeout_s: these tests combine verdicts across targets, they do not test hangs; at load 11
# on 2 cores one stage of the 4M-element run overran 10 s and both targets said `timeout`
SMALL = EvalOptions(seeds=1, target_seconds=0.1, min_trials=3, max_trials=20, warmup_seconds=0.01, timeout_s=120.0,
                    check_extra_sizes=False)


def ok(speedup, low=None, high=None, significant=False):
    return EvalResult(Verdict.CORRECT, "correct", speedup=speedup, speedup_low=low or speedup * 0.9,
                      speedup_high=high or speedup * 1.1, significant=significant)


def test_geometric_mean_of_speedups():
    m = combine({"cuda-sm_90": ok(2.0), "sycl-cpu": ok(0.5)})
    assert m.verdict is Verdict.CORRECT and m.speedup == pytest.approx(1.0)  # 2x faster and 2x slower cancel
    assert m.speedups == {"cuda-sm_90": 2.0, "sycl-cpu": 0.5}
    assert not m.significant  # arithmetic mean would have claimed 1.25x
    m = combine({"a": ok(4.0, 3.0), "b": ok(1.0, 0.9), "c": ok(2.0, 1.5)})
    assert m.speedup == pytest.approx(2.0) and m.speedup_low == pytest.approx((3.0 * 0.9 * 1.5) ** (1 / 3))
    assert m.significant and m.fitness() == (5, pytest.approx(2.0))
    assert geometric_mean([]) is None and geometric_mean([1.0, 0.0]) is None
    assert geometric_mean([8.0, 2.0]) == pytest.approx(4.0)


def test_one_target_failing_fails_the_candidate_with_the_worst_stage():
    wrong = EvalResult(Verdict.WRONG, "out differs")
    cerr = EvalResult(Verdict.COMPILE_ERROR, "no such intrinsic")
    m = combine({"sycl-cpu": ok(3.0), "cuda-sm_80": wrong, "cuda-sm_90": cerr})
    assert m.verdict is Verdict.COMPILE_ERROR and m.worst_target == "cuda-sm_90"
    assert m.speedup is None and not m.significant and not m.ok
    assert m.results["sycl-cpu"].speedup == 3.0  # per-target detail is kept
    assert "cuda-sm_90" in m.message and "sycl-cpu: correct" in m.message
    combined = m.combined()
    assert combined.verdict is Verdict.COMPILE_ERROR and combined.message == m.message
    # Any correct candidate outranks any failing one, whatever its speed.
    assert combine({"a": ok(0.1)}).fitness() > combine({"a": ok(9.0), "b": wrong}).fitness()
    # A single target is passed through as it is.
    one = combine({"a": ok(1.5, significant=True)})
    assert one.significant and one.speedup == 1.5


def test_multi_result_round_trips_as_plain_data():
    m = combine({"cuda-sm_90": ok(2.0), "sycl-cpu": EvalResult(Verdict.TIMEOUT, "hung")})
    back = msgspec.json.decode(msgspec.json.encode(m), type=MultiResult)
    assert back == m and back.verdict is Verdict.TIMEOUT


def test_one_candidate_on_two_targets():
    with EvalPool("sycl", [0]) as a, EvalPool("sycl", [0]) as b:
        pool = MultiTargetPool({"sycl-cpu": a, "sycl-cpu-2": b}, owns=False)
        assert isinstance(pool, Pool) and pool.size == 1 and pool.backend == "sycl"
        good = request("sycl", "good", "sycl", options=SMALL)
        combined = asyncio.run(pool.evaluate(good))
        multi = pool.last[good.nonce]
        assert multi.verdict is Verdict.CORRECT and set(multi.results) == {"sycl-cpu", "sycl-cpu-2"}
        expected = math.sqrt(multi.results["sycl-cpu"].speedup * multi.results["sycl-cpu-2"].speedup)
        assert combined.speedup == pytest.approx(expected) and combined.verdict is Verdict.CORRECT
        wrong = asyncio.run(pool.evaluate_multi(request("sycl", "wrong", "sycl", options=SMALL)))
        assert wrong.verdict is Verdict.WRONG and wrong.worst_target == "sycl-cpu"
