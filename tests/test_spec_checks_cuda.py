"""Issue 9's cases on CUDA. Without a GPU (CI) every kernel here is compiled against its
reference (compile errors and contracts are caught); on a GPU (`gpu`) each case must get
the verdict its SYCL twin gets in tests/test_spec_checks_sycl.py."""

from __future__ import annotations

import time

import pytest

from backends.kernel.load import load_unit
from backends.model import EvalOptions, EvalRequest, Verdict
from backends.run.device_choice import devices
from backends.run.local_pool import EvalPool

from evalcases import EXAMPLES, FAST, KERNELS

SPEC = KERNELS / "spec" / "cuda"
REJECTED = {Verdict.OUT_OF_BOUNDS, Verdict.CRASH, Verdict.WRONG, Verdict.UNWRITTEN}
HAVE_GPU = bool(devices("cuda"))
gpu = [pytest.mark.gpu, pytest.mark.skipif(not HAVE_GPU, reason="no CUDA GPU")]

PAIRS = [  # (reference, candidate, verdict on a GPU)
    (SPEC / "accumulate.cu", SPEC / "accumulate_empty.cu", {Verdict.SPEC_ERROR}),
    (EXAMPLES / "cuda" / "atomic_sum.cu", SPEC / "atomic_sum_tree.cu", {Verdict.CORRECT}),
    (EXAMPLES / "cuda" / "atomic_sum.cu", SPEC / "atomic_sum_wrong.cu", {Verdict.WRONG}),
    (EXAMPLES / "cuda" / "histogram.cu", SPEC / "histogram_strided.cu", {Verdict.CORRECT}),
    (EXAMPLES / "cuda" / "histogram.cu", SPEC / "histogram_low_bins.cu", {Verdict.WRONG}),
]


def minimal_saxpy(tmp_path):
    text = "\n".join(ln for ln in (EXAMPLES / "cuda" / "saxpy.cu").read_text().splitlines() if "@kf check" not in ln)
    path = tmp_path / "saxpy.cu"
    path.write_text(text.replace("@kf n = 1 << 24", "@kf n = 1 << 20") + "\n")
    return path


def request(reference, candidate=None, device=0, options: EvalOptions = FAST) -> EvalRequest:
    return EvalRequest(load_unit(str(reference)), load_unit(str(candidate)) if candidate else None, "cuda", device,
                       options, nonce=time.time_ns() & 0xFFFF)


@pytest.fixture(scope="module")
def offline_pool():
    with EvalPool("cuda", [-1]) as p:
        yield p


@pytest.mark.parametrize("ref,cand,_", PAIRS, ids=lambda x: getattr(x, "stem", ""))
def test_cuda_cases_compile_against_their_reference(offline_pool, ref, cand, _):
    result = offline_pool.evaluate_sync(request(ref, cand, device=-1))
    assert result.verdict is Verdict.COMPILED, result.message


def test_cuda_hard_coded_candidate_compiles(offline_pool, tmp_path):
    result = offline_pool.evaluate_sync(request(minimal_saxpy(tmp_path), SPEC / "saxpy_hardcoded.cu", device=-1))
    assert result.verdict is Verdict.COMPILED, result.message


def test_compile_only_says_what_the_default_size_needs_and_refuses_a_wrapped_size(offline_pool, tmp_path):
    """No GPU here, so no device memory to plan against: `@kf n = 1 << 34` compiled without a
    word (HeCBench's vanGenuchten scaled to 640 GiB of buffers). The default size's memory is
    said; a value `int n` cannot hold is a spec error at its line, as it is on a device."""
    text = (EXAMPLES / "cuda" / "saxpy.cu").read_text()
    ok = tmp_path / "saxpy.cu"
    ok.write_text(text.replace("@kf n = 1 << 24", "@kf n = 1 << 30"))
    r = offline_pool.evaluate_sync(request(ok, device=-1))
    assert r.verdict is Verdict.COMPILED, r.message
    assert "the default size needs 24 GiB of device memory (the largest buffer x: 4.0 GiB;" in r.message
    big = tmp_path / "big.cu"
    big.write_text(text.replace("@kf n = 1 << 24", "@kf n = 1 << 34"))
    r = offline_pool.evaluate_sync(request(big, device=-1))
    assert r.verdict is Verdict.SPEC_ERROR, r.message
    assert "`n` = 17179869184 does not fit the kernel's parameter `int n`" in r.message
    d = [x for x in r.diagnostics if x.severity == "error"][-1]
    assert "@kf n = 1 << 34" in big.read_text().splitlines()[d.line]


@pytest.fixture(scope="module")
def gpu_pool():
    with EvalPool("cuda", [0]) as p:
        yield p


@pytest.mark.parametrize("ref,cand,verdicts", PAIRS, ids=lambda x: getattr(x, "stem", ""))
@gpu[0]
@gpu[1]
def test_cuda_case_gets_its_verdict_on_the_gpu(gpu_pool, ref, cand, verdicts):
    result = gpu_pool.evaluate_sync(request(ref, cand))
    print(f"KF-SPEC-CASE {cand.stem}: {result.verdict.value}: {result.message[:200]}")
    assert result.verdict in verdicts, f"{cand.stem}: {result.verdict.value}: {result.message}"
    if cand.stem == "atomic_sum_tree":
        assert "the original is not deterministic: `sum`" in result.message
    if cand.stem == "accumulate_empty":
        assert "reads `y` before writing it" in result.message


@gpu[0]
@gpu[1]
def test_cuda_hard_coded_size_is_rejected_on_the_gpu(gpu_pool, tmp_path):
    ref = minimal_saxpy(tmp_path)
    alone = gpu_pool.evaluate_sync(request(ref))
    assert alone.verdict is Verdict.CORRECT and any(c.derived for c in alone.checks), alone.message
    bad = gpu_pool.evaluate_sync(request(ref, SPEC / "saxpy_hardcoded.cu"))
    assert bad.verdict in REJECTED, bad.message
    assert not bad.checks[-1].ok and bad.checks[-1].sizes["n"] < (1 << 20)


@pytest.mark.parametrize("example", ["atomic_sum", "histogram"])
@gpu[0]
@gpu[1]
def test_new_cuda_examples_pass_bench_on_the_gpu(gpu_pool, example):
    result = gpu_pool.evaluate_sync(request(EXAMPLES / "cuda" / f"{example}.cu"))
    assert result.verdict is Verdict.CORRECT, result.message


@gpu[0]
@gpu[1]
def test_cuda_histogram_without_start_value_is_a_spec_error(gpu_pool, tmp_path):
    path = tmp_path / "h.cu"
    path.write_text((EXAMPLES / "cuda" / "histogram.cu").read_text().replace("unsigned[256] start 0", "unsigned[256]"))
    result = gpu_pool.evaluate_sync(request(path))
    assert result.verdict is Verdict.SPEC_ERROR and "reads `hist` before writing it" in result.message, result.message
