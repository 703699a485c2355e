"""The red team's CUDA forms (tests/kernels/redteam/cuda; the SYCL forms run in CI:
tests/test_redteam_sycl.py). Every file compiles here (NVRTC, no GPU needed); the verdicts need
a GPU (marked gpu)."""

from __future__ import annotations

import time

import pytest

from backends.cuda.compiler import CompiledModule, compile_cuda
from backends.judge.launch import compile_unit_for
from backends.kernel.load import load_unit
from backends.model import EvalOptions, EvalRequest, Verdict

from evalcases import EXAMPLES, KERNELS

RED = KERNELS / "redteam" / "cuda"
SAXPY = EXAMPLES / "cuda" / "saxpy.cu"
REDUCTION = EXAMPLES / "cuda" / "reduction.cu"


def _nvrtc() -> bool:
    try:
        from cuda.bindings import nvrtc

        return nvrtc.nvrtcVersion()[0] == nvrtc.nvrtcResult.NVRTC_SUCCESS
    except Exception:
        return False


@pytest.mark.skipif(not _nvrtc(), reason="NVRTC (cuda-bindings) not installed")
@pytest.mark.parametrize("name", sorted(p.name for p in RED.glob("*.cu")))
def test_every_red_team_kernel_compiles(name):
    unit = load_unit(str(RED / name))
    errors = [f"{d.line + 1}: {d.message}" for d in unit.kernel.spec_errors if d.severity == "error"]
    assert not errors, errors  # a spec error would end the GPU tests at spec_error, not the verdict
    cu, _ = compile_unit_for(unit, "candidate")
    out = compile_cuda(cu)
    assert isinstance(out, CompiledModule), getattr(out, "log", out)


@pytest.fixture(scope="module")
def pool():
    from backends.run.device_choice import devices
    from backends.run.local_pool import EvalPool

    if not devices("cuda"):
        pytest.skip("no CUDA GPU")
    with EvalPool("cuda", [0]) as p:
        yield p


def evaluate(pool, reference, candidate, options: EvalOptions):
    return pool.evaluate_sync(EvalRequest(load_unit(str(reference)), load_unit(str(candidate)), "cuda", 0, options,
                                          nonce=time.time_ns() & 0xFFFF))


TIMED = EvalOptions(seeds=1, check_extra_sizes=False, min_trials=6, max_trials=20, target_seconds=0.2,
                    warmup_seconds=0.0, timeout_s=60.0)
CHECKS = EvalOptions(seeds=1, check_extra_sizes=False, time=False, timeout_s=60.0)


@pytest.mark.gpu
def test_special_values_at_the_timed_size_and_their_tolerance(pool):
    r = evaluate(pool, SAXPY, RED / "saxpy_clamped_large_n.cu", TIMED)
    assert r.verdict is Verdict.WRONG and "special input values" in r.message, r.message
    r = evaluate(pool, SAXPY, RED / "saxpy_clamped_moderate.cu", TIMED)
    assert r.verdict is Verdict.WRONG and "on ordinary inputs" in r.message, r.message


@pytest.mark.gpu
def test_a_candidate_exact_only_where_8_samples_look_special_is_wrong(pool):
    """Red team (6), CUDA form: at n = 2^24 its 8 samples meet one of the ~72 scattered values of
    x with probability ~3.4e-5 per evaluation (the SYCL test reads the set to be exact about it)."""
    for _ in range(3):
        r = evaluate(pool, SAXPY, RED / "saxpy_detects_special_set.cu", TIMED)
        assert r.verdict is Verdict.WRONG and "special input values" in r.message, r.message


@pytest.mark.gpu
@pytest.mark.parametrize("reference,candidate", [(SAXPY, "saxpy_clamped_moderate.cu"),
                                                 (RED / "log_abs.cu", "log_abs_tiny_wrong.cu")])
def test_a_candidate_wrong_only_above_or_only_far_below_the_range_is_wrong_in_every_evaluation(
        pool, reference, candidate):
    """Red team (7), CUDA form: every special set holds magnitudes above and far below the range."""
    for _ in range(3):
        r = evaluate(pool, reference, RED / candidate, TIMED)
        assert r.verdict is Verdict.WRONG and "special input values" in r.message, r.message


@pytest.mark.gpu
def test_zeros_for_small_outputs_beside_large_ones_are_wrong(pool):
    r = evaluate(pool, RED / "exp8.cu", RED / "exp8_drop_small_gated.cu", CHECKS)
    assert r.verdict is Verdict.WRONG and "lower quartile of the expected magnitudes" in r.message, r.message


@pytest.mark.gpu
def test_a_more_accurate_reduction_is_accepted(pool):
    r = evaluate(pool, REDUCTION, RED / "reduction_double_accum.cu", TIMED)
    assert r.verdict is Verdict.CORRECT and "special input values checked" in r.message, r.message


@pytest.mark.gpu
def test_a_candidates_own_bytes_claim_does_not_set_its_bandwidth(pool):
    r = evaluate(pool, SAXPY, RED / "bytes_claim.cu", TIMED)
    assert r.verdict is Verdict.CORRECT, r.message
    assert r.candidate.profile.bytes_moved == r.reference.profile.bytes_moved


@pytest.mark.gpu
@pytest.mark.parametrize("reference,candidate", [(SAXPY, "half_math.cu"), (REDUCTION, "reduction_half_accum.cu")])
def test_half_precision_arithmetic_in_a_float_kernel_is_wrong(pool, reference, candidate):
    r = evaluate(pool, reference, RED / candidate, CHECKS)
    assert r.verdict is Verdict.WRONG, r.message
