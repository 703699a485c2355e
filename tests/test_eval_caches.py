"""The worker's caches on the real SYCL runtime (CPU device), through spawned workers: the
original is compiled once per worker and its verification outputs are reused, a changed
original (its text or a header it includes) is compiled and run again, and the adversarial
candidates are still caught when they are compared against stored outputs."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from backends.judge.verify import compare_output
from backends.kernel import dtypes
from backends.kernel.load import load_unit
from backends.model import EvalRequest, Verdict
from backends.run.local_pool import EvalPool

from evalcases import CASES, EXAMPLES, FAST, KERNELS, request



def _saxpy_sets() -> int:
    """Input sets one saxpy evaluation verifies on: four problem sizes (the default and three
    `@kf check`) x FAST's seeds, plus one seed at each size kf derives (backends/judge/sizes.py)."""
    from backends.judge.sizes import derived_sizes
    from backends.kernel.tunables import defaults

    unit = load_unit(str(EXAMPLES / "sycl" / "saxpy.cpp"))
    spec = unit.kernel.spec
    derived = derived_sizes(spec, defaults(unit.text, unit.kernel), [c.assignments for c in spec.checks], "sycl")
    return (1 + len(spec.checks)) * FAST.seeds + len(derived)


SAXPY_SETS = _saxpy_sets()


@pytest.fixture()
def pool():
    with EvalPool("sycl", [0]) as p:
        yield p


def _counters(pool: EvalPool) -> tuple[dict, dict]:
    stats = pool.workers[0].cache_stats()
    return stats["compile"], stats["reference"]


def _wide_nonce() -> tuple[int, int]:
    """(a nonce whose random size lies between the small sizes and the default, that size's n):
    found by the same function the harness draws with, so the branch is taken every run."""
    from backends.judge.sizes import random_size
    from backends.kernel.tunables import defaults

    unit = request("sycl", "good", "sycl").reference
    tun = defaults(unit.text, unit.kernel)
    nonce = next(k for k in range(1000) if (r := random_size(unit.kernel.spec, k, tun, "sycl")) is not None
                 and not r.probe)
    return nonce, int(random_size(unit.kernel.spec, nonce, tun, "sycl").overrides["n"])


def test_second_evaluation_of_the_same_original_reuses_its_compile_and_outputs(pool):
    first = pool.evaluate_sync(request("sycl", "good", "sycl"))
    assert first.verdict is Verdict.CORRECT, first.message
    comp, ref = _counters(pool)
    assert (comp["misses"], comp["hits"]) == (1, 0)
    assert (ref["misses"], ref["hits"]) == (SAXPY_SETS, 0)

    # at a nonce whose random size lies between the small sizes and the default (sizes.WIDE_SHARE),
    # where the special values run once more: that size's scale is not stored either
    nonce, wide = _wide_nonce()
    second = pool.evaluate_sync(msgspec.structs.replace(request("sycl", "good", "sycl"), nonce=nonce))
    assert second.verdict is Verdict.CORRECT, second.message
    # the evaluation took that branch: its random size is the wide one (above 1/16 of the 2^22 default)
    assert f"random size n={wide} " in second.message and wide > (1 << 22) // 16, (wide, second.message)
    comp, ref = _counters(pool)
    assert (comp["misses"], comp["hits"]) == (1, 1)  # the original was not compiled again
    assert (ref["misses"], ref["hits"]) == (SAXPY_SETS, SAXPY_SETS)  # nor run on the verification inputs
    # nor on ordinary inputs for the special values' scale (measured once per epoch); their own set
    # is the request's, run by both kernels in every evaluation
    assert (ref["special_runs"], ref["special_hits"]) == (1, 1)
    assert all("special input values checked" in r.message for r in (first, second))
    # and the random size, drawn anew for every evaluation and never stored
    assert all(c.ok for c in second.checks) and len(second.checks) == SAXPY_SETS + 1


def test_adversarial_candidates_are_caught_against_stored_outputs(pool):
    assert pool.evaluate_sync(request("sycl", "good", "sycl")).verdict is Verdict.CORRECT
    for case in ("stale_output", "cache_attack", "input_modified", "wrong", "partial_write", "constant_output"):
        result = pool.evaluate_sync(request("sycl", case, "sycl"))
        assert result.verdict in CASES[case], f"{case}: {result.verdict.value}: {result.message}"
    _, ref = _counters(pool)
    assert ref["hits"] >= 6  # each was compared against the stored outputs, not a fresh run


def _header_kernel(tmp_path, factor: str) -> str:
    src = (EXAMPLES / "sycl" / "saxpy.cpp").read_text()
    src = src.replace("#include <sycl/sycl.hpp>\n", '#include <sycl/sycl.hpp>\n#include "factor.h"\n')
    src = src.replace("out[i] = a * x[i] + y[i];", "out[i] = a * x[i] + KF_FACTOR * y[i];")
    (tmp_path / "factor.h").write_text(f"#define KF_FACTOR {factor}\n")
    path = tmp_path / "saxpy_h.cpp"
    path.write_text(src)
    return str(path)


def test_a_changed_header_of_the_original_is_compiled_again(pool, tmp_path):
    """The original reads a constant from a header next to it; the candidate computes a*x+y.
    With the header changed between two evaluations, a stale compiled original (or stale
    outputs) would still say correct."""
    path = _header_kernel(tmp_path, "1.0f")
    cand = load_unit(str(EXAMPLES / "sycl" / "saxpy.cpp"))
    ok = pool.evaluate_sync(EvalRequest(load_unit(path), cand, "sycl", 0, FAST, nonce=1))
    assert ok.verdict is Verdict.CORRECT, ok.message
    (tmp_path / "factor.h").write_text("#define KF_FACTOR 2.0f\n")
    changed = pool.evaluate_sync(EvalRequest(load_unit(path), cand, "sycl", 0, FAST, nonce=2))
    assert changed.verdict is Verdict.WRONG, changed.message
    comp, _ = _counters(pool)
    assert comp["misses"] == 2 and comp["hits"] == 0


def test_a_changed_original_text_is_compiled_again(pool, tmp_path):
    path = tmp_path / "saxpy.cpp"
    text = (EXAMPLES / "sycl" / "saxpy.cpp").read_text()
    path.write_text(text)
    good = load_unit(str(KERNELS / "sycl" / "good.cpp"))
    assert pool.evaluate_sync(EvalRequest(load_unit(str(path)), good, "sycl", 0, FAST, nonce=3)).ok
    path.write_text(text.replace("out[i] = a * x[i] + y[i];", "out[i] = a * x[i] - y[i];"))
    changed = pool.evaluate_sync(EvalRequest(load_unit(str(path)), good, "sycl", 0, FAST, nonce=4))
    assert changed.verdict is Verdict.WRONG, changed.message
    # a tunable is part of the compiled text too: another value is another compile
    tuned = msgspec.structs.replace(load_unit(str(path)), tunables={"WG_SIZE": 256})
    assert pool.evaluate_sync(EvalRequest(tuned, None, "sycl", 0, FAST, nonce=5)).ok
    comp, _ = _counters(pool)
    assert comp["misses"] == 3 and comp["hits"] == 0


def test_stored_inputs_are_renewed_after_a_few_evaluations(monkeypatch):
    monkeypatch.setenv("KF_REFERENCE_REUSE_EVALUATIONS", "2")  # read by the spawned worker
    with EvalPool("sycl", [0]) as p:
        for _ in range(3):
            r = p.evaluate_sync(request("sycl", "good", "sycl"))
            assert r.verdict is Verdict.CORRECT, r.message
        _, ref = _counters(p)
    # evaluations 1 and 2 share an input epoch; the third draws new inputs and runs the original again
    assert ref["epochs"] == 2
    assert (ref["misses"], ref["hits"]) == (2 * SAXPY_SETS, SAXPY_SETS)


def test_reuse_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("KF_REFERENCE_REUSE", "0")
    monkeypatch.setenv("KF_COMPILE_CACHE", "0")
    with EvalPool("sycl", [0]) as p:
        for _ in range(2):
            assert p.evaluate_sync(request("sycl", "good", "sycl")).ok
        comp, ref = _counters(p)
    assert comp["hits"] == 0 and ref["hits"] == 0 and ref["misses"] == 0


@pytest.mark.parametrize("dtype", ["f32", "f16", "i32", "f64"])
def test_bitwise_equal_outputs_pass_and_one_changed_bit_does_not(dtype):
    rng = np.random.default_rng(0)
    want = rng.uniform(-1, 1, 4096).astype(dtypes.numpy_dtype(dtype)) if dtypes.is_float(dtype) else \
        rng.integers(-64, 64, 4096).astype(dtypes.numpy_dtype(dtype))
    rtol, atol = dtypes.default_tolerance(dtype)
    assert compare_output("out", dtype, want, want.copy(), rtol, atol).ok
    got = want.copy()
    got.view({2: np.uint16, 4: np.uint32, 8: np.uint64}[got.itemsize])[100] ^= 1 << (8 * got.itemsize - 2)
    check = compare_output("out", dtype, want, got, rtol, atol)
    assert not check.ok and check.mismatches[0].index == 100


@pytest.mark.gpu
def test_cuda_large_buffers_are_checked_by_device_digest_and_attacks_still_caught():
    """On a GPU, inputs and outputs of 1 MiB and more are compared by keyed digests on the
    device; an output that differs goes to the full host comparison, so every verdict holds."""
    from backends.run.device_choice import devices

    if not devices("cuda"):
        pytest.skip("no CUDA GPU")
    with EvalPool("cuda", [0]) as p:
        good = p.evaluate_sync(request("cuda", "good", "cuda"))
        assert good.verdict is Verdict.CORRECT, good.message
        matched = p.workers[0].cache_stats()["device"]["outputs_matched"]
        assert matched >= 1  # the 2^24-element outputs passed by digest, not by a host copy
        for case in ("stale_output", "cache_attack", "input_modified", "wrong", "partial_write", "constant_output"):
            result = p.evaluate_sync(request("cuda", case, "cuda"))
            assert result.verdict in CASES[case], f"{case}: {result.verdict.value}: {result.message}"
        stats = p.workers[0].cache_stats()
    assert stats["compile"]["hits"] >= 6 and stats["reference"]["hits"] >= 6


def test_the_pool_takes_over_the_worker_that_listed_the_devices():
    """`kf optimize` / `kf bench` list the devices, then open a pool: the listing process has
    already started and imported the runtime, so the pool evaluates in it."""
    from backends.run.local_pool import probe_devices

    assert probe_devices("sycl")
    with EvalPool("sycl", [0]) as p:
        w = p.workers[0]
        assert w.alive()  # already running before the first request
        r = p.evaluate_sync(request("sycl", "good", "sycl"))
        assert r.verdict is Verdict.CORRECT, r.message
        assert w.starts == 1 and w.restarts == 0
    assert not w.alive()
