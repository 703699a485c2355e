"""CUDA end to end through spawned workers.

Without a GPU (CI) the cuda backend compiles only: compile errors mapped to the user's
lines, the contract check, and the compiler's resource report. With a GPU (marked gpu)
every adversarial candidate must get its verdict, as on SYCL, and kf's timing must
agree with Nsight Compute's."""

import re
import shutil

import pytest

from backends.model import EvalOptions, Verdict
from backends.run.local_pool import EvalPool
from backends.run.device_choice import devices

from evalcases import CASES, KERNELS, cases_for, request

HAVE_GPU = bool(devices("cuda"))
gpu = pytest.mark.skipif(not HAVE_GPU, reason="no CUDA GPU")


@pytest.fixture(scope="module")
def offline_pool():
    with EvalPool("cuda", [-1]) as p:
        yield p


def test_compile_only_reports_resources_without_a_gpu(offline_pool):
    result = offline_pool.evaluate_sync(request("cuda", "good", "cuda", device=-1))
    assert result.verdict is Verdict.COMPILED, result.message
    for m in (result.reference, result.candidate):
        assert m.profile.registers and m.profile.registers > 0
        assert m.profile.spill_stores == 0 and m.timing is None


def test_compile_error_is_mapped_to_the_users_line(offline_pool):
    result = offline_pool.evaluate_sync(request("cuda", "compile_error", "cuda", device=-1))
    assert result.verdict is Verdict.COMPILE_ERROR
    stated = int(re.search(r"line (\d+) has the error", (KERNELS / "cuda" / "compile_error.cu").read_text())[1])
    d = result.diagnostics[0]
    assert d.file.endswith("compile_error.cu") and d.line + 1 == stated and d.severity == "error"


def test_contract_change_is_refused_before_compiling(offline_pool):
    result = offline_pool.evaluate_sync(request("cuda", "contract_change", "cuda", device=-1))
    assert result.verdict is Verdict.CONTRACT and "a" in result.message


@pytest.fixture(scope="module")
def gpu_pool():
    with EvalPool("cuda", [0]) as p:
        yield p


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("case", cases_for("cuda"))
def test_adversarial_candidate_gets_its_verdict_on_the_gpu(gpu_pool, case):
    result = gpu_pool.evaluate_sync(request("cuda", case, "cuda"))
    print(f"KF-CASE {case}: {result.verdict.value}: {result.message[:160]}")
    assert result.verdict in CASES[case], f"{case}: {result.verdict.value}: {result.message}"


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("example", ["saxpy", "matmul", "reduction", "transpose"])
def test_examples_time_agrees_with_ncu(gpu_pool, example):
    opts = EvalOptions(seeds=1, target_seconds=1.0, ncu=shutil.which("ncu") is not None)
    result = gpu_pool.evaluate_sync(request("cuda", None, "cuda", options=opts, reference=example))
    assert result.verdict is Verdict.CORRECT, result.message
    t, p = result.reference.timing, result.reference.profile
    assert t.method == "cuda-events" and t.median > 0
    assert p.bandwidth and p.peak_bandwidth and 0 < p.bandwidth_fraction
    print(f"KF-BENCH {example}: median {t.median * 1e6:.1f} us p10-p90 {t.p10 * 1e6:.1f}-{t.p90 * 1e6:.1f} us, "
          f"{p.bandwidth / 1e9:.0f} GB/s = {p.bandwidth_fraction:.0%} of {p.peak_bandwidth / 1e9:.0f} GB/s, "
          f"regs {p.registers}, occupancy {p.occupancy}; ncu {p.ncu}; notes {p.notes}")
    if shutil.which("ncu"):
        ncu_t = p.ncu["gpu__time_duration.sum"]
        assert abs(t.median / ncu_t - 1) < 0.10, f"kf {t.median} vs ncu {ncu_t}"
