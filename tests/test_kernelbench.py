"""KernelBench task files (tests/data/kernelbench, taken unchanged from the public
repository) as `@kf reference` modules for hand-written kernels: SYCL on the CPU here,
CUDA compiled here and run where a GPU exists (marked `gpu`)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from backends.kernel.load import load_unit
from backends.model import EvalOptions, EvalRequest, Verdict
from backends.run.local_pool import EvalPool

from evalcases import KERNELS

ORACLE = KERNELS / "oracle"
CHECK = EvalOptions(seeds=1, time=False, profile=False, timeout_s=60.0)

torch = pytest.importorskip("torch", reason="KernelBench modules need PyTorch (pip install torch)")


@pytest.fixture(scope="module")
def pool():
    with EvalPool("sycl", [0]) as p:
        yield p


def evaluate(pool, reference: Path, candidate: Path | None = None, options: EvalOptions = CHECK, backend="sycl"):
    ref = load_unit(str(reference))
    cand = load_unit(str(candidate)) if candidate else None
    return pool.evaluate_sync(EvalRequest(ref, cand, backend, 0, options, nonce=time.time_ns() & 0xFFFF))


def test_softmax_task_is_the_reference_of_a_sycl_kernel(pool, tmp_path):
    r = evaluate(pool, ORACLE / "kb_softmax.cpp")
    assert r.verdict is Verdict.CORRECT, r.message
    assert "23_Softmax.py (KernelBench module)" in r.message
    sizes = {tuple(sorted(c.sizes.items())) for c in r.checks}
    assert (("batch_size", 32), ("dim", 50000)) in sizes  # the spec's sizes, not the module's 4096 x 393216
    half = tmp_path / "half.cpp"
    half.write_text((ORACLE / "kb_softmax.cpp").read_text().replace("/ s;", "/ s * 0.5f;"))
    wrong = evaluate(pool, ORACLE / "kb_softmax.cpp", half)
    assert wrong.verdict is Verdict.WRONG, wrong.message
    assert wrong.checks[-1].oracle == "python reference"


def test_layernorm_task_maps_the_model_weights_to_buffers_by_name(pool, tmp_path):
    r = evaluate(pool, ORACLE / "kb_layernorm.cpp")
    assert r.verdict is Verdict.CORRECT, r.message
    no_weight = tmp_path / "no_weight.cpp"
    no_weight.write_text((ORACLE / "kb_layernorm.cpp").read_text().replace("* inv * weight[i] + bias[i]",
                                                                         "* inv + bias[i]"))
    wrong = evaluate(pool, ORACLE / "kb_layernorm.cpp", no_weight)
    assert wrong.verdict is Verdict.WRONG, wrong.message  # `ln.weight` took the buffer `weight`'s values


def test_sizes_not_named_like_the_module_are_explained(pool, tmp_path):
    src = (ORACLE / "kb_softmax.cpp").read_text()
    for old, new in (("batch_size", "rows"), ("dim", "cols")):
        src = src.replace(old, new)
    src = src.replace("../../data/kernelbench/23_Softmax.py",
                      str((KERNELS.parent / "data" / "kernelbench" / "23_Softmax.py").resolve()))
    (tmp_path / "renamed.cpp").write_text(src)
    r = evaluate(pool, tmp_path / "renamed.cpp")
    assert r.verdict is Verdict.REFERENCE_FAILED, r.message
    assert "get_inputs() gives `x` of shape (4096, 393216)" in r.message or "shape (" in r.message
    assert "as spec variables of the same names" in r.message


def test_cuda_kernel_with_a_kernelbench_reference_compiles():
    from backends.cuda.compile_only import CompileOnlySession  # the session `kf bench` uses with no GPU
    from backends.judge.harness import evaluate as run_evaluation

    unit = load_unit(str(ORACLE / "kb_softmax.cu"))
    assert unit.kernel.spec.reference.path.endswith("23_Softmax.py") and not unit.kernel.spec_errors
    try:
        session = CompileOnlySession("cuda")
    except Exception as e:  # pragma: no cover - NVRTC missing
        pytest.skip(f"NVRTC not available: {e}")
    result, _ = run_evaluation(session, EvalRequest(unit, None, "cuda", 0, CHECK))
    assert result.verdict is Verdict.COMPILED, result.message
    assert result.reference.profile.registers


def _no_gpu() -> bool:
    from backends.cuda.devices import list_devices

    return not list_devices()


@pytest.mark.gpu
@pytest.mark.skipif(_no_gpu(), reason="no CUDA GPU")
def test_cuda_kernel_with_a_kernelbench_reference_runs_on_a_gpu():
    with EvalPool("cuda", [0]) as gpu:
        r = evaluate(gpu, ORACLE / "kb_softmax.cu", options=EvalOptions(seeds=2, timeout_s=60.0), backend="cuda")
        assert r.verdict is Verdict.CORRECT, r.message
        assert "23_Softmax.py (KernelBench module)" in r.message and r.reference.timing.median > 0
        assert all(c.oracle == "python reference" for c in r.checks)
