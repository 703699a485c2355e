"""Issue 19's timing cases and the device-generated inputs of issue 20 on CUDA (marked gpu; the
SYCL forms run in CI: tests/test_hostile_timing.py, tests/test_inputs.py)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from backends.judge import inputs as gen
from backends.judge.inputs import InputSet
from backends.judge.launch import Buffers
from backends.kernel.load import load_unit
from backends.model import BufferSpec, EvalOptions, EvalRequest, Spec, Verdict
from backends.run.device_choice import devices
from backends.run.local_pool import EvalPool

from evalcases import EXAMPLES, KERNELS

HOSTILE = KERNELS / "hostile" / "cuda"
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not devices("cuda"), reason="no CUDA GPU")]
QUICK = EvalOptions(seeds=1, min_trials=10, max_trials=60, target_seconds=0.2, warmup_seconds=0.0, timeout_s=30.0)


@pytest.fixture(scope="module")
def pool():
    with EvalPool("cuda", [0]) as p:
        yield p


def evaluate(pool, reference, candidate, options: EvalOptions = QUICK):
    return pool.evaluate_sync(EvalRequest(load_unit(str(reference)), load_unit(str(candidate)), "cuda", 0, options,
                                          nonce=time.time_ns() & 0xFFFF))


def test_memoizing_reduction_is_not_faster(pool):
    r = evaluate(pool, EXAMPLES / "cuda" / "reduction.cu", HOSTILE / "memo_reduction.cu",
                 EvalOptions(seeds=1, timeout_s=30.0))
    assert r.verdict is Verdict.CORRECT and not r.significant and r.speedup < 1.5, r.message


def test_zeros_on_launches_14_to_17_are_caught(pool):
    r = evaluate(pool, EXAMPLES / "cuda" / "saxpy.cu", HOSTILE / "zeros_window.cu",
                 EvalOptions(seeds=1, check_extra_sizes=False, min_trials=20, max_trials=40, target_seconds=0.2,
                             warmup_seconds=0.0, timeout_s=30.0))
    assert r.verdict in (Verdict.CONSTANT, Verdict.WRONG) and "timed trial" in r.message, r.message


def test_special_values_catch_a_clamp_and_a_nan_mistake(pool):
    clamped = evaluate(pool, EXAMPLES / "cuda" / "saxpy.cu", HOSTILE / "saxpy_clamped.cu")
    assert clamped.verdict is Verdict.WRONG and "special input values" in clamped.message, clamped.message
    relu = evaluate(pool, HOSTILE / "relu.cu", HOSTILE / "relu_branchless.cu")
    assert relu.verdict is Verdict.WRONG and "special input values" in relu.message, relu.message
    same = evaluate(pool, HOSTILE / "relu.cu", HOSTILE / "relu.cu")
    assert same.verdict is Verdict.CORRECT and "special input values checked" in same.message, same.message


@pytest.mark.parametrize("dtype,low,high,wide", [
    ("f32", None, None, False), ("f32", None, None, True), ("f16", None, None, True), ("f64", None, None, True),
    ("u8", None, None, False), ("i64", "-5", "5", False),
])
def test_the_gpu_writes_the_host_twins_values(monkeypatch, dtype, low, high, wide):
    from backends.cuda.session import CudaSession

    monkeypatch.setattr(gen, "WIDE_DEVICE_MIN_ELEMENTS", 1)
    session = CudaSession(0)
    try:
        n = (1 << 20) + 3
        spec = Spec([BufferSpec("x", "in", dtype, str(n), low, high)], [], None)
        inputs = InputSet(spec, {}, (4, 5, 6), wide=wide)
        before = gen.generator_stats()["device_buffers"]
        b = Buffers(session, spec, {})
        try:
            b.load(inputs)
            assert gen.generator_stats()["device_buffers"] == before + 1
            on_device = b.read("x", dtype)
        finally:
            b.free()
        host = InputSet(spec, {}, (4, 5, 6), wide=wide)["x"]
        assert np.array_equal(on_device.view(np.uint8), np.ascontiguousarray(host).view(np.uint8))
    finally:
        session.close()
