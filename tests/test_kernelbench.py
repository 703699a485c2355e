"""KernelBench task files (tests/data/kernelbench, taken unchanged from the public
repository) as `@kf reference` modules for hand-written kernels: SYCL on the CPU here,
CUDA compiled here and run where a GPU exists (marked `gpu`)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from backends.kernel.load import load_unit
from backends.model import EvalOptions, EvalRequest, Unit, Verdict
from backends.run.local_pool import EvalPool

from evalcases import KERNELS

ORACLE = KERNELS / "oracle"
CHECK = EvalOptions(seeds=1, time=False, profile=False, timeout_s=60.0)

torch = pytest.importorskip("torch", reason="KernelBench modules need PyTorch (pip install torch)")


@pytest.fixture(scope="module")
def pool():
    with EvalPool("sycl", [0]) as p:
        yield p


def evaluate(pool, reference: Path, candidate=None, options: EvalOptions = CHECK, backend="sycl"):
    """`candidate`: a path, or a Unit (a kernel with tunables bound)."""
    ref = load_unit(str(reference))
    cand = candidate if isinstance(candidate, Unit) or candidate is None else load_unit(str(candidate))
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


def test_a_weight_no_buffer_gives_is_an_error_and_wrong_convolutions_are_wrong(pool, tmp_path):
    """KernelBench 82 (depthwise conv): with the weight buffer named `filt`, `conv2d.weight` kept its
    random initial values and a wrong convolution passed. Named `w` (an alias), it is mapped."""
    conv = ORACLE / "dwconv_w.cpp"
    assert evaluate(pool, conv).verdict is Verdict.CORRECT
    for variant in (1, 2):
        wrong = evaluate(pool, conv, load_unit(str(conv), tunables={"VARIANT": variant}))
        assert wrong.verdict is Verdict.WRONG, wrong.message
    filt = tmp_path / "filt.cpp"
    filt.write_text(conv.read_text().replace("@kf in  w:", "@kf in  filt:").replace("const float* w,", "const float* filt,")
                    .replace("w[", "filt[").replace("../../data/kernelbench/", str(KERNELS.parent / "data" / "kernelbench") + "/"))
    r = evaluate(pool, filt)
    assert r.verdict is Verdict.REFERENCE_FAILED, r.message
    assert "`conv2d.weight` (4, 1, 3, 3) takes no buffer's values and starts random" in r.message


def test_sizes_the_module_fixes_are_blamed_on_the_module(pool):
    """KernelBench 89 (cumsum): the row length is `input_shape = (32768,)`; derived sizes of `cols`
    are skipped because of the module, not "the original cannot run there"."""
    r = evaluate(pool, ORACLE / "cumsum89.cpp")
    assert r.verdict is Verdict.CORRECT, r.message
    text = " ".join(r.message.split())
    assert "skipped: the Python reference cannot run there" in text
    assert "the module fixes it with `input_shape = (32768,)`" in text
    assert "the original cannot run there" not in text
