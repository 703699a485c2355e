"""Red team of issue 19 on the real SYCL runtime (CPU): candidates written to get a verdict they
do not deserve (tests/kernels/redteam/sycl; tests/kernels/redteam/README.md says what each does).
The first tests are holes found there and closed (each fails on 39c6098); the others pin verdicts
kf already gave right and no other test covered. A more accurate candidate must be accepted:
rejecting it is as much a bug."""

from __future__ import annotations

import re
import time
from pathlib import Path

import numpy as np
import pytest

from backends.judge import harness
from backends.judge.inputs import InputSet
from backends.kernel.load import load_unit
from backends.model import EvalOptions, EvalRequest, Verdict

from evalcases import EXAMPLES, KERNELS

RED = KERNELS / "redteam" / "sycl"
SAXPY = EXAMPLES / "sycl" / "saxpy.cpp"
REDUCTION = EXAMPLES / "sycl" / "reduction.cpp"
TIMED = EvalOptions(seeds=1, check_extra_sizes=False, min_trials=6, max_trials=6, target_seconds=0.1,
                    warmup_seconds=0.0, timeout_s=60.0)
CHECKS = EvalOptions(seeds=1, check_extra_sizes=False, time=False, timeout_s=60.0)


@pytest.fixture(scope="module")
def session():
    from backends.sycl.session import SyclSession

    s = SyclSession(0)
    yield s
    s.close()


def evaluate(session, reference: Path, candidate: Path, options: EvalOptions, nonce: int | None = None):
    request = EvalRequest(load_unit(str(reference)), load_unit(str(candidate)), "sycl", 0, options,
                          nonce=time.time_ns() & 0xFFFF if nonce is None else nonce)
    result, _ = harness.evaluate(session, request)
    return result


def _at_n(path: Path, n: int, tmp: Path) -> Path:
    """A copy of a kernel file whose default size is `n` (the reference and the candidate alike:
    the contract holds them to the same `n`), so that evaluating it many times stays cheap."""
    out = tmp / path.name
    if not out.exists():
        out.write_text(re.sub(r"// @kf n = .*", f"// @kf n = {n}", path.read_text()))
    return out


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """One directory for the copies at SMALL, so that the tests share the original's compile and
    its stored outputs (the worker keeps them per original)."""
    return tmp_path_factory.mktemp("small")


def _special_x(session, reference: Path, nonce: int, n: int) -> np.ndarray:
    """`x` of the special input set an evaluation with this nonce gets (from this process's
    secret, which the in-process harness uses too): what the test reads, never chooses."""
    unit = load_unit(str(reference))
    probe = harness.Evaluation(session, EvalRequest(unit, unit, "sycl", 0, TIMED, nonce=nonce), lambda *a: None)
    return InputSet(unit.kernel.spec, {"n": n, "a": 2.5}, probe._timing_key(-2), wide=True)["x"]


# -- holes found and closed -----------------------------------------------------------------


def test_special_values_run_at_the_timed_size_a_candidate_can_tell_apart(session):
    """saxpy's outputs (16 MiB) exceed 4 MiB, so the special values ran at n = 4097, a `@kf check`
    size; a candidate clamping x only from n >= 65536 on was exact there and `correct`. They run
    at the timed size now (large outputs compared on a secret sample holding the specials)."""
    r = evaluate(session, SAXPY, RED / "saxpy_clamped_large_n.cpp", TIMED)
    assert r.verdict is Verdict.WRONG, r.message
    assert "special input values" in r.message and "n=4194304" in r.message


def test_special_values_tolerance_is_not_set_by_the_huge_special_value(session):
    """The default atol is 1e-4 x the rms of the expected outputs; on the special values one huge
    input (2^60) makes that rms ~1e12, so only NaN/Inf/huge mismatches counted: a candidate
    clamping x to [-1, 1] below |x| < 2^20 was `correct`. The atol there now scales with the
    original's outputs on ordinary inputs."""
    r = evaluate(session, SAXPY, RED / "saxpy_clamped_moderate.cpp", TIMED)
    assert r.verdict is Verdict.WRONG, r.message
    assert "special input values" in r.message and "on ordinary inputs" in r.message


SMALL = 1 << 16  # the default size of the repeated evaluations below (the special set scatters ~72 values per buffer)


def test_a_candidate_exact_only_where_8_samples_look_special_is_wrong_in_every_evaluation(session, small):
    """The special set scaled each buffer by one power of two, so 8 sampled elements told it apart
    from the ordinary sets: a saxpy exact only when its samples of x look special (and clamping x
    to [-1, 1] otherwise) was `correct` in every evaluation. The special set is ordinary values now
    but for ~72 scattered ones at secret positions: in every evaluation where the kernel's samples
    (at k n / 8, read here from the set kf draws, not chosen) miss them, it is `wrong`."""
    reference, candidate = _at_n(SAXPY, SMALL, small), _at_n(RED / "saxpy_detects_special_set.cpp", SMALL, small)
    first = time.time_ns() & 0xFFFF
    unseen = []
    for nonce in range(first, first + 8):
        samples = _special_x(session, reference, nonce, SMALL)[np.arange(8) * (SMALL // 8)]
        if (np.abs(samples) <= 1).all() and not (np.abs(samples) < 0.25).all():
            unseen.append(nonce)  # else its samples met a scattered value (about 1 set in 110 at this size)
    assert len(unseen) >= 3
    for nonce in unseen[:3]:
        r = evaluate(session, reference, candidate, TIMED, nonce)
        assert r.verdict is Verdict.WRONG and "special input values" in r.message, r.message


@pytest.mark.parametrize("reference,candidate", [(SAXPY, "saxpy_clamped_moderate.cpp"),
                                                 (RED / "log_abs.cpp", "log_abs_tiny_wrong.cpp")])
def test_a_candidate_wrong_only_above_or_only_far_below_the_range_is_wrong_in_every_evaluation(
        session, small, reference, candidate):
    """The special set's scale, drawn per buffer, was below 1 in 1 evaluation in 4: a saxpy wrong
    only for |x| > 1 passed a `kf bench` then; a log|x| wrong only for tiny normal |x| passed
    whenever x was scaled up. Every special set holds both, in every float input."""
    reference, candidate = _at_n(reference, SMALL, small), _at_n(RED / candidate, SMALL, small)
    first = time.time_ns() & 0xFFFF
    for nonce in range(first, first + 3):
        r = evaluate(session, reference, candidate, TIMED, nonce)
        assert r.verdict is Verdict.WRONG and "special input values" in r.message, r.message


def test_a_more_accurate_reduction_is_accepted_with_nan_on_both_sides(session):
    """Accumulating in double: more accurate, NaN and Inf where the original has them. It was
    `wrong` ("expected nan, got nan"): NaN on both sides failed the bound atol + rtol*|NaN|."""
    r = evaluate(session, REDUCTION, RED / "reduction_double_accum.cpp", TIMED)
    assert r.verdict is Verdict.CORRECT, r.message
    assert "special input values checked" in r.message


def test_the_special_sets_rounding_bound_of_a_sum_is_measured_once_per_epoch(session, tmp_path, monkeypatch):
    """The special set's allowance for a reduction's rounding adds its largest term's to the
    ordinary bound of the sums; that bound is kept with the ordinary scale of the outputs (the
    reference store, once per epoch), not measured on an ordinary set of its own in every
    evaluation (nor taken from whatever size the verification happened to measure last)."""
    from backends.judge import original, reference_cache

    path = tmp_path / "reduction_once.cpp"  # a text of its own: a fresh original, a fresh epoch
    path.write_text(re.sub(r"// @kf n = .*", f"// @kf n = {SMALL}", REDUCTION.read_text()) + "\n// once per epoch\n")
    real_bound, real_special = original.accumulation_bound, harness.Evaluation._special_values
    inside: list[int] = []
    measured: list[bool] = []  # per measurement of a bound: made for the special values?

    def bound(*args):
        measured.append(bool(inside))
        return real_bound(*args)

    def special(self, *args):
        inside.append(1)
        try:
            return real_special(self, *args)
        finally:
            inside.pop()

    monkeypatch.setattr(original, "accumulation_bound", bound)
    monkeypatch.setattr(harness.Evaluation, "_special_values", special)
    stats = reference_cache.store_for(session).stats
    runs, hits = stats.special_runs, stats.special_hits
    quick = EvalOptions(seeds=1, check_extra_sizes=False, min_trials=2, max_trials=2, target_seconds=0.01,
                        warmup_seconds=0.0, timeout_s=60.0)
    for nonce in (1, 2):  # two evaluations of one original: one epoch
        r = evaluate(session, path, path, quick, nonce)
        assert r.verdict is Verdict.CORRECT and "special input values checked" in r.message, r.message
    assert (stats.special_runs - runs, stats.special_hits - hits) == (1, 1)
    assert measured.count(True) == 1, measured


def test_a_candidates_own_bytes_claim_does_not_set_its_bandwidth(session):
    """`@kf bytes 4` in the candidate's spec made its bandwidth 4 bytes per run: nothing it did
    could ever be flagged above the device's peak. The problem's bytes are the original's."""
    r = evaluate(session, SAXPY, RED / "bytes_claim.cpp", TIMED)
    assert r.verdict is Verdict.CORRECT, r.message
    assert r.candidate.profile.bytes_moved == r.reference.profile.bytes_moved == 3 * 4 * (1 << 22)


def test_zeros_for_small_outputs_beside_large_ones_are_wrong(session):
    """exp(8x): the default atol was 1e-4 x the buffer's rms (~374), so a candidate writing 0 for
    the quarter of the outputs below 0.02 (from n = 1000 on) was `correct`."""
    r = evaluate(session, RED / "exp8.cpp", RED / "exp8_drop_small_gated.cpp", CHECKS)
    assert r.verdict is Verdict.WRONG, r.message
    assert "lower quartile of the expected magnitudes" in r.message


# -- judge round 20: outputs compared in 1M-element pieces, read into one reused host array ------

SAXPY_1M3 = RED / "saxpy_1m3.cpp"  # n = 2^20 + 3: one whole piece and a last piece of 3 elements
TWO_SEEDS = EvalOptions(seeds=2, check_extra_sizes=False, time=False, timeout_s=60.0)


def test_an_error_only_in_the_last_partial_piece_of_the_comparison_at_the_full_size_is_wrong(session):
    """Large outputs are compared on threads, 2^20 elements a piece: an error only in the last
    partial piece (the 3 elements past 2^20) is counted, and it exists only at the full size
    (every derived size is smaller). (A NaN only at the last element of the first piece,
    saxpy_1m3_nan_boundary.cpp, and errors at every piece boundary are `wrong` too: README.)"""
    r = evaluate(session, SAXPY_1M3, RED / "saxpy_1m3_wrong_tail.cpp", CHECKS)
    assert r.verdict is Verdict.WRONG, r.message
    assert "3 of 1048579 elements differ" in r.message and "first at index 1048576" in r.message
    assert "n=1048579" in r.message


def test_a_candidate_writing_only_on_its_first_launch_is_unwritten_at_the_next_seed(session):
    """A device_global counts the candidate's launches: it writes its outputs on the first (seed
    0) and only the first 1000 on the next (seed 1, the same size). kf reads the candidate's
    outputs into one host array reused from read to read; the read covers the whole buffer,
    poisoned before the run, so nothing of the first launch's values survives there. (Writing
    nothing after the first launch, saxpy_1m3_first_launch_only.cpp, is `unwritten` too.)"""
    r = evaluate(session, SAXPY_1M3, RED / "saxpy_1m3_later_partial.cpp", TWO_SEEDS)
    assert r.verdict is Verdict.UNWRITTEN, r.message
    assert "never written" in r.message and "first at index 1000" in r.message
    assert "n=1048579, seed 1" in r.message


def test_a_clamp_only_between_the_small_sizes_and_the_default_is_wrong_where_the_random_size_lies_there(
        session):
    """Every fixed size kf chooses costs at most 1/16 of the default: a saxpy clamping x only where
    2^18 < n < 2^22 (saxpy_wrong_between.cpp) was `correct` in every evaluation, since ordinary
    inputs never leave [-1, 1] and special values ran at the default only. In a quarter of the
    evaluations the random size lies in that range (the nonce decides: sizes.WIDE_SHARE), and the
    special values run there too: at such a nonce the clamp is `wrong`."""
    from backends.judge.sizes import random_size
    from backends.kernel.tunables import defaults

    unit = load_unit(str(SAXPY))
    tun = defaults(unit.text, unit.kernel)
    nonce = next(k for k in range(1000) if (r := random_size(unit.kernel.spec, k, tun, "sycl")) is not None
                 and not r.probe and (1 << 18) < int(r.overrides["n"]) < (1 << 22))
    n = random_size(unit.kernel.spec, nonce, tun, "sycl").overrides["n"]
    options = EvalOptions(seeds=1, min_trials=6, max_trials=6, target_seconds=0.1, warmup_seconds=0.0,
                          timeout_s=60.0)
    r = evaluate(session, SAXPY, RED / "saxpy_wrong_between.cpp", options, nonce=nonce)
    assert r.verdict is Verdict.WRONG, r.message
    assert f"n={n}" in r.message and "special input values" in r.message, r.message


# -- verdicts kf gives right, pinned ---------------------------------------------------------


@pytest.mark.parametrize("reference,candidate", [(SAXPY, "half_math.cpp"), (REDUCTION, "reduction_half_accum.cpp")])
def test_half_precision_arithmetic_in_a_float_kernel_is_wrong(session, reference, candidate):
    """Lower precision than the kernel's type (half loads or accumulators): beyond the float
    tolerance, so `wrong`, however much faster it would be."""
    r = evaluate(session, reference, RED / candidate, CHECKS)
    assert r.verdict is Verdict.WRONG, r.message


def test_a_launch_of_2_to_the_40_work_items_is_refused_cleanly(session):
    r = evaluate(session, SAXPY, RED / "huge_global.cpp", CHECKS)
    assert r.verdict is Verdict.LAUNCH_ERROR, r.message
    assert "candidate launch refused" in r.message


@pytest.mark.parametrize("reference,candidate,says", [
    (SAXPY, "tune_shadow_n.cpp", "'n' is a kernel parameter"),
    (RED / "fixed_size.cpp", "fixed_size_tune_n.cpp", "length of 'x' depends on the tunable N"),
])
def test_a_tunable_named_like_a_size_variable_is_refused(session, reference, candidate, says):
    """`@kf tune n = 64, 1000` or `@kf tune N = 64`: tunables win over spec variables of the same
    name, so the candidate would have run (and been sized) at 64 elements. Refused before it runs."""
    r = evaluate(session, reference, RED / candidate, CHECKS)
    assert r.verdict is Verdict.SPEC_ERROR, r.message
    assert r.message.startswith("candidate") and says in r.message
