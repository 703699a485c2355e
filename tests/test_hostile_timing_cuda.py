"""Issue 19's timing cases and the device-generated inputs of issue 20 on CUDA: the kernels
(hostile candidates, input generators) compile here with NVRTC; the verdicts need a GPU
(marked gpu; the SYCL forms run in CI: tests/test_hostile_timing.py, tests/test_inputs.py)."""

from __future__ import annotations

import itertools
import re
import time
import weakref

import numpy as np
import pytest

from backends.judge import device_checks, harness, launch
from backends.judge import inputs as gen
from backends.judge.inputs import InputSet
from backends.judge.launch import Buffers
from backends.kernel.load import load_unit
from backends.model import BufferSpec, EvalOptions, EvalRequest, Spec, Verdict
from backends.run.device_choice import devices
from backends.run.local_pool import EvalPool

from evalcases import EXAMPLES, KERNELS

HOSTILE = KERNELS / "hostile" / "cuda"
QUICK = EvalOptions(seeds=1, min_trials=10, max_trials=60, target_seconds=0.2, warmup_seconds=0.0, timeout_s=30.0)
# (reference, candidate) of every hostile timing case, as the GPU tests below evaluate them
PAIRS = [
    (EXAMPLES / "cuda" / "reduction.cu", HOSTILE / "memo_reduction.cu"),
    (EXAMPLES / "cuda" / "saxpy.cu", HOSTILE / "zeros_window.cu"),
    (EXAMPLES / "cuda" / "saxpy.cu", HOSTILE / "saxpy_clamped.cu"),
    (HOSTILE / "relu.cu", HOSTILE / "relu_branchless.cu"),
    (HOSTILE / "relu.cu", HOSTILE / "relu.cu"),
]


def _nvrtc() -> bool:
    try:
        from cuda.bindings import nvrtc

        return nvrtc.nvrtcVersion()[0] == nvrtc.nvrtcResult.NVRTC_SUCCESS
    except Exception:
        return False


needs_nvrtc = pytest.mark.skipif(not _nvrtc(), reason="NVRTC (cuda-bindings) not installed")


# -- no GPU needed: what the GPU tests run compiles, with the harness's own compile path --------


@needs_nvrtc
@pytest.mark.parametrize("reference,candidate", PAIRS, ids=[f"{c.stem}-for-{r.stem}" for r, c in PAIRS])
def test_hostile_candidates_compile_against_their_reference(reference, candidate):
    """A typo in a GPU-only test file would show only on the GPU machine: the candidate and its
    reference are compiled (NVRTC, sm_90) and the contract checked as an evaluation does."""
    from backends.cuda.compile_only import CompileOnlySession

    result, _ = harness.evaluate(CompileOnlySession("cuda", "sm_90"),
                                 EvalRequest(load_unit(str(reference)), load_unit(str(candidate)), "cuda", -1,
                                             EvalOptions(seeds=1)))
    assert result.verdict is Verdict.COMPILED, result.message


@needs_nvrtc
def test_every_cuda_input_generator_compiles():
    """Each element type has its own generator kernel (backends/judge/inputs.py; a special set's
    bulk is an ordinary one's); one that does not compile silently falls back to the host twin,
    50x slower on a GPU."""
    from backends.cuda.compile_only import CompileOnlySession

    session = CompileOnlySession("cuda", "sm_90")
    built: dict[str, bool] = {}
    ranges = [(None, None), ("0", "5"), ("0", str(1 << 40))]  # the last: a span wider than 32 bits
    for dtype, wide, (low, high) in itertools.product(["f32", "f64", "f16", "bf16", "u8", "i16", "i32", "i64"],
                                                      [False, True], ranges):
        if high == str(1 << 40) and dtype != "i64":
            continue
        plan = gen.plan_for(BufferSpec("x", "in", dtype, "1", low, high), 1 << 20, {}, "special", wide)
        entry, _ = gen._variant(plan)
        if entry not in built:
            built[entry] = gen._generator(session, plan) is not None
    assert len(built) >= 9 and all(built.values()), built


# -- on the GPU ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pool():
    with EvalPool("cuda", [0]) as p:
        yield p


def evaluate(pool, reference, candidate, options: EvalOptions = QUICK):
    return pool.evaluate_sync(EvalRequest(load_unit(str(reference)), load_unit(str(candidate)), "cuda", 0, options,
                                          nonce=time.time_ns() & 0xFFFF))


@pytest.mark.gpu
@pytest.mark.skipif(not devices("cuda"), reason="no CUDA GPU")
def test_memoizing_reduction_is_not_faster(pool):
    r = evaluate(pool, EXAMPLES / "cuda" / "reduction.cu", HOSTILE / "memo_reduction.cu",
                 EvalOptions(seeds=1, timeout_s=30.0))
    assert r.verdict is Verdict.CORRECT and not r.significant and r.speedup < 1.5, r.message
    assert "each trial on new inputs" in r.message


@pytest.mark.gpu
@pytest.mark.skipif(not devices("cuda"), reason="no CUDA GPU")
def test_zeros_on_launches_14_to_17_are_caught(pool):
    r = evaluate(pool, EXAMPLES / "cuda" / "saxpy.cu", HOSTILE / "zeros_window.cu",
                 EvalOptions(seeds=1, check_extra_sizes=False, min_trials=20, max_trials=40, target_seconds=0.2,
                             warmup_seconds=0.0, timeout_s=30.0))
    assert r.verdict in (Verdict.CONSTANT, Verdict.WRONG) and "timed trial" in r.message, r.message
    assert r.checks and not r.checks[-1].ok and r.checks[-1].seed == -1  # named as a timed run


@pytest.mark.gpu
@pytest.mark.skipif(not devices("cuda"), reason="no CUDA GPU")
def test_special_values_catch_a_clamp_and_a_nan_mistake(pool):
    clamped = evaluate(pool, EXAMPLES / "cuda" / "saxpy.cu", HOSTILE / "saxpy_clamped.cu")
    assert clamped.verdict is Verdict.WRONG and "special input values" in clamped.message, clamped.message
    relu = evaluate(pool, HOSTILE / "relu.cu", HOSTILE / "relu_branchless.cu")
    assert relu.verdict is Verdict.WRONG and "special input values" in relu.message, relu.message
    assert "NaN/Inf where the reference has a number" in relu.message
    same = evaluate(pool, HOSTILE / "relu.cu", HOSTILE / "relu.cu")
    assert same.verdict is Verdict.CORRECT and "special input values checked" in same.message, same.message


@pytest.mark.gpu
@pytest.mark.skipif(not devices("cuda"), reason="no CUDA GPU")
def test_values_ordinary_turns_the_special_set_off(pool, tmp_path):
    def with_line(src):
        out = tmp_path / src.name
        out.write_text(src.read_text().replace("// @kf check n = 1000", "// @kf check n = 1000\n// @kf values ordinary"))
        return out

    r = evaluate(pool, with_line(HOSTILE / "relu.cu"), with_line(HOSTILE / "relu_branchless.cu"))
    assert r.verdict is Verdict.CORRECT, r.message
    assert "special input values" not in r.message


class _Tracked(launch.Buffers):
    """Buffers that remember the live instances (the test's view of the device's memory)."""

    live: "weakref.WeakSet[launch.Buffers]" = weakref.WeakSet()

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        _Tracked.live.add(self)


@pytest.mark.gpu
@pytest.mark.skipif(not devices("cuda"), reason="no CUDA GPU")
def test_candidate_writing_into_the_originals_guard_gets_the_verdict(monkeypatch):
    """After every timed run of the candidate the test writes into the guard of the other set
    (TEST DOUBLE of a kernel writing out of its bounds: where cuMemAlloc places buffers is not
    something a test can rely on; the session, the kernels and the harness are real)."""
    from backends.cuda.session import CudaSession

    monkeypatch.setattr(harness, "Buffers", _Tracked)
    real_launch = harness.Evaluation._launch

    def launching(self, k, bufs, env, what, timed=False):
        t = real_launch(self, k, bufs, env, what, timed)
        if timed and k.role == "candidate":
            for b in [b for b in _Tracked.live if b is not bufs and b.alloc]:
                self.session.fill(b.alloc["x"], 0, 4, b"\x00\x00\x00\x00")
        return t

    monkeypatch.setattr(harness.Evaluation, "_launch", launching)
    unit = load_unit(str(EXAMPLES / "cuda" / "saxpy.cu"))
    session = CudaSession(0)
    try:
        result, _ = harness.evaluate(session, EvalRequest(unit, unit, "cuda", 0, QUICK, nonce=7))
    finally:
        session.close()
    assert result.verdict is Verdict.OUT_OF_BOUNDS, result.message
    assert result.message.startswith("candidate writes outside its own buffers: the guards of the original's `x`")


@pytest.mark.gpu
@pytest.mark.skipif(not devices("cuda"), reason="no CUDA GPU")
def test_large_outputs_are_checked_on_secret_blocks_of_every_trial(monkeypatch):
    """Outputs compared by device digest, else on sampled blocks (every output counts as large
    here): the zeros of launches 14-17 are caught with the whole comparison's verdict, and a
    correct candidate passes."""
    from backends.cuda.session import CudaSession

    monkeypatch.setattr(harness, "LARGE_OUTPUT_BYTES", 0)
    monkeypatch.setattr(harness, "SAMPLE_BLOCKS", 4)
    monkeypatch.setattr(device_checks, "DEVICE_COMPARE_MIN_BYTES", 1 << 62)  # the sampled way, not the kernel's
    ref = load_unit(str(EXAMPLES / "cuda" / "saxpy.cu"))
    options = EvalOptions(seeds=1, check_extra_sizes=False, min_trials=20, max_trials=40, target_seconds=0.2,
                          warmup_seconds=0.0, timeout_s=30.0)
    session = CudaSession(0)
    try:
        bad, _ = harness.evaluate(session, EvalRequest(ref, load_unit(str(HOSTILE / "zeros_window.cu")), "cuda", 0,
                                                       options, nonce=3))
        good, _ = harness.evaluate(session, EvalRequest(ref, load_unit(str(KERNELS / "cuda" / "good.cu")), "cuda", 0,
                                                        options, nonce=4))
    finally:
        session.close()
    assert bad.verdict in (Verdict.CONSTANT, Verdict.WRONG) and "timed trial" in bad.message, bad.message
    assert "sampled" not in bad.message
    assert good.verdict is Verdict.CORRECT and re.search(r"all \d+ timed trials verified \(where not bit for bit",
                                                          good.message), good.message


@pytest.mark.gpu
@pytest.mark.skipif(not devices("cuda"), reason="no CUDA GPU")
@pytest.mark.parametrize("dtype,low,high,wide", [
    ("f32", None, None, False), ("f32", None, None, True), ("f16", None, None, True), ("f64", None, None, True),
    ("bf16", None, None, True), ("u8", None, None, False), ("i64", "-5", "5", False),
])
def test_the_gpu_writes_the_host_twins_values(monkeypatch, dtype, low, high, wide):
    from backends.cuda.session import CudaSession

    session = CudaSession(0)
    try:
        n = (1 << 20) + 3  # above the size small buffers are written whole from the host
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
