"""An original that crashes at a size kf chose (issue 17): a segfault of the process on the
SYCL CPU device, a sticky fault (illegal address) that poisons a CUDA context. That size is
skipped with one message naming it and the fault, the evaluation goes on in a fresh worker,
and the candidate's verdict is given on the sizes that ran. Real SYCL on the CPU; the CUDA
kernels compile here and run on a GPU (marked gpu)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.kernel.load import load_unit
from backends.model import EvalOptions, EvalRequest, SkippedSize, Verdict
from backends.run.device_choice import devices
from backends.run.local_pool import EvalPool, WorkerProcess

HERE = Path(__file__).resolve().parent / "kernels" / "derived_fault"
FAST = EvalOptions(seeds=1, time=False, profile=False, timeout_s=20.0)
NOTE = "derived size(s) n=67 skipped: the original crashed its worker there (the evaluation went on in a fresh one)"


def _request(original: str, candidate: str | None, backend: str, device: int = 0) -> EvalRequest:
    return EvalRequest(load_unit(str(HERE / original)), load_unit(str(HERE / candidate)) if candidate else None,
                       backend, device, FAST, nonce=5)


def _ran(result) -> set[int]:
    return {c.sizes["n"] for c in result.checks if c.derived}


# -- which runs leave a size out (the pool's rule; no device) ---------------------------------

@pytest.mark.parametrize("kind, payload, stage, left_out", [
    ("died", ["killed by SIGSEGV"], "running the reference (n=67 (derived), seed 0)",
     SkippedSize({"n": 67}, "its process died (killed by SIGSEGV)")),
    ("timeout", [], "running the reference (n=67 (derived), seed 0, other guard contents)",
     SkippedSize({"n": 67}, "it ran past the time limit (20 s a run) and was killed")),
    ("resume", [{"sizes": {"n": 67}, "reason": "it faulted: CUDA_ERROR_ILLEGAL_ADDRESS"}], "running the reference",
     SkippedSize({"n": 67}, "it faulted: CUDA_ERROR_ILLEGAL_ADDRESS")),
    # the candidate's crash is its verdict; the original's at the spec's own sizes is the user's to fix
    ("died", ["killed by SIGSEGV"], "running the candidate (n=67 (derived), seed 0)", None),
    ("died", ["killed by SIGSEGV"], "running the reference (n=1000, seed 0)", None),
    ("died", ["killed by SIGSEGV"], "running the reference (n=4096, seed -1, timing)", None),
    ("timeout", [], "running the Python reference ref.py:f (n=67 (derived), seed 0)", None),
])
def test_only_the_originals_crash_at_a_size_kf_chose_is_left_out(kind, payload, stage, left_out):
    request = _request("scale_faults.cpp", "scale.cpp", "sycl")
    assert WorkerProcess._crashed_at_derived_size(request, kind, payload, stage) == left_out
    if left_out is not None:  # never the same size twice (that would loop)
        again = EvalRequest(request.reference, request.candidate, "sycl", 0,
                            EvalOptions(seeds=1, timeout_s=20.0, skip_sizes=[left_out]))
        assert WorkerProcess._crashed_at_derived_size(again, kind, payload, stage) is None


# -- SYCL on the CPU: the original segfaults its worker at n = 67 ---------------------------------

try:
    import dpctl  # noqa: F401
    HAVE_SYCL = True
except ImportError:  # pragma: no cover
    HAVE_SYCL = False
sycl = pytest.mark.skipif(not HAVE_SYCL, reason="the SYCL runtime (dpctl) is not installed")


@pytest.fixture(scope="module")
def sycl_pool():
    with EvalPool("sycl", [0]) as p:
        yield p


@sycl
def test_a_size_where_the_original_segfaults_is_skipped_and_the_candidate_judged_on_the_rest(sycl_pool):
    restarts = sycl_pool.workers[0].restarts
    result = sycl_pool.evaluate_sync(_request("scale_faults.cpp", "scale.cpp", "sycl"))
    assert result.verdict is Verdict.CORRECT, result.message
    assert NOTE in result.message and "(at n=67: its process died (killed by SIGSEGV))" in result.message
    assert 67 not in _ran(result) and {1, 63, 65, 66, 68, 69, 70, 71} <= _ran(result)
    assert {c.sizes["n"] for c in result.checks if not c.derived} == {4096, 1000}
    assert sycl_pool.workers[0].restarts == restarts + 1  # one fresh worker took over


@sycl
def test_the_original_alone_is_measured_without_that_size(sycl_pool):
    result = sycl_pool.evaluate_sync(_request("scale_faults.cpp", None, "sycl"))
    assert result.verdict is Verdict.CORRECT, result.message
    assert NOTE in result.message and 67 not in _ran(result)


# -- CUDA: an illegal address at n = 67 poisons the context -----------------------------------------

def test_the_cuda_kernels_compile():
    with EvalPool("cuda", [-1]) as pool:
        result = pool.evaluate_sync(_request("scale_faults.cu", "scale.cu", "cuda", device=-1))
    if "NVRTC" in result.message and result.verdict is not Verdict.COMPILED:
        pytest.skip(result.message)
    assert result.verdict is Verdict.COMPILED, result.message


@pytest.mark.gpu
@pytest.mark.skipif(not devices("cuda"), reason="no CUDA GPU")
def test_a_size_where_the_original_poisons_the_cuda_context_is_skipped_in_a_fresh_worker():
    with EvalPool("cuda", [0]) as pool:
        result = pool.evaluate_sync(_request("scale_faults.cu", "scale.cu", "cuda"))
        assert result.verdict is Verdict.CORRECT, result.message
        assert NOTE in result.message and "it faulted: " in result.message, result.message
        assert "CUDA_ERROR_ILLEGAL_ADDRESS" in result.message or "illegal" in result.message.lower()
        assert 67 not in _ran(result) and {1, 63, 65, 66, 68} <= _ran(result)
        assert pool.workers[0].restarts == 1
        alone = pool.evaluate_sync(_request("scale_faults.cu", None, "cuda"))
        assert alone.verdict is Verdict.CORRECT and NOTE in alone.message, alone.message
