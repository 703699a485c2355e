"""The comparison kernel on CUDA (backends/compare_kernel.py, CudaSession.compare_close): it
compiles with NVRTC here; on a GPU (marked gpu) it passes what the host passes with the host's
figures, sends failures to the host, and an evaluation with a 64 MiB output has every timed
trial compared in full. The SYCL forms run in CI: tests/test_device_compare.py."""

from __future__ import annotations

import re

import pytest

from backends.judge import device_checks
from backends.judge.reference_cache import StoredRun
from backends.judge.verify import compare_output
from backends.kernel import dtypes
from backends.model import Verdict
from backends.run.device_choice import devices
from backends.session import CompileFailure, CompileUnit

from test_device_compare import Live, _broken, _pair, _same, close_and_zeros


def _nvrtc() -> bool:
    try:
        from cuda.bindings import nvrtc

        return nvrtc.nvrtcVersion()[0] == nvrtc.nvrtcResult.NVRTC_SUCCESS
    except Exception:
        return False


needs_gpu = pytest.mark.skipif(not devices("cuda"), reason="no CUDA GPU")


@pytest.mark.skipif(not _nvrtc(), reason="NVRTC (cuda-bindings) not installed")
@pytest.mark.parametrize("entry", ["kf_close", "kf_gather"])
def test_the_comparison_kernels_compile_for_the_gpu(entry):
    """A compile error in kf's own kernel would show only on the GPU machine (and every large
    comparison would quietly go back to the host)."""
    from backends.cuda.compile_only import CompileOnlySession
    from backends.cuda.session import CLOSE_SOURCE

    out = CompileOnlySession("cuda", "sm_90").compile(CompileUnit(f"<{entry}>", CLOSE_SOURCE, entry, "cuda"))
    assert not isinstance(out, CompileFailure), out.log


@pytest.fixture(scope="module")
def session():
    from backends.cuda.session import CudaSession

    s = CudaSession(0)
    yield s
    s.close()


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("dtype", ["f32", "f64", "f16", "bf16", "i32"])
@pytest.mark.parametrize("scaled", [False, True])
def test_a_passing_output_gets_the_hosts_check_from_the_gpu(session, monkeypatch, dtype, scaled):
    monkeypatch.setattr(device_checks, "DEVICE_COMPARE_MIN_BYTES", 1 << 20)
    e, g = _pair(dtype, (1 << 22) + 777)  # above verify's scale sample: the live side gathers it
    rtol, atol = dtypes.default_tolerance(dtype)
    if not dtypes.is_float(dtype):
        rtol, atol = 0.0, 1.0
    oracle = dict(scale_atol=scaled, extra_atol=1e-7 if scaled else 0.0, extra_rtol=2e-6, extra_why="for a test")
    host = compare_output("y", dtype, e, g, rtol, atol, True, **oracle)
    assert host.ok and host.max_abs_err > 0
    cand = Live(session, g)
    try:
        before = device_checks.stats()
        for ref in (StoredRun({}, {"y": e}), Live(session, e)):
            _same(device_checks.compare("y", dtype, ref, cand, rtol, atol, True, **oracle), host)
            if isinstance(ref, Live):
                ref.free()
        after = device_checks.stats()
    finally:
        cand.free()
    assert after["outputs_on_device"] - before["outputs_on_device"] == 2


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("kind", ["one element", "unwritten", "nan", "inf for a number", "constant"])
def test_what_fails_on_the_gpu_reaches_the_host_and_gets_its_message(session, monkeypatch, kind):
    monkeypatch.setattr(device_checks, "DEVICE_COMPARE_MIN_BYTES", 1 << 20)
    e, g = _pair("f32", 1 << 19, seed=7)
    g = _broken(kind, e, g)
    host = compare_output("y", "f32", e, g, 1e-4, 1e-6, True, scale_atol=True)
    cand = Live(session, g)
    try:
        got = device_checks.compare("y", "f32", StoredRun({}, {"y": e}), cand, 1e-4, 1e-6, True, scale_atol=True)
    finally:
        cand.free()
    assert not host.ok and (got.ok, got.verdict, got.message) == (host.ok, host.verdict, host.message)


@pytest.mark.gpu
@needs_gpu
def test_timed_trials_of_a_64_mib_output_are_compared_in_full_on_the_gpu(monkeypatch, tmp_path):
    """The CUDA saxpy's default output (2^24 floats) is large: a candidate within the tolerance
    but not bit for bit the original's passes with every timed trial verified in full on the
    device; zeros on launches 14-17 are caught at a timed trial."""
    from backends.cuda.session import CudaSession

    good, bad, _ = close_and_zeros(CudaSession(0), "cuda", ".cu", tmp_path)
    assert good.verdict is Verdict.CORRECT, good.message
    assert re.search(r"all \d+ timed trials verified \(where not bit for bit the original's, in full on the device\)",
                     good.message), good.message
    assert bad.verdict in (Verdict.CONSTANT, Verdict.WRONG) and "timed trial" in bad.message, bad.message

