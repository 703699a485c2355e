"""A `@kf reference` run as the worker runs it (backends/judge/python_reference.py), in this
process, without a device: what it returns is checked before it is believed, each reference
keeps its own helper modules, and its mistakes are said at its own file and line (the issue 21
findings F4, F5, F8, F9, F12, F13). The kernels are only read for their specs."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from backends.judge import python_reference
from backends.judge.inputs import InputSet
from backends.judge.launch import EvalFailure, buffer_sizes
from backends.kernel import dtypes
from backends.kernel.expressions import resolve
from backends.kernel.load import load_unit
from backends.model import Verdict

from evalcases import KERNELS

ORACLE = KERNELS / "oracle"

KERNEL = """// @kf reference {ref}
// @kf in  x: float[n]
// @kf out y: {out}[n]
// @kf n = 64
// @kf a = 2.0
// @kf global n
// @kf local 1
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void k(const float* x, {out}* y, float a, int n) {{
}}
"""


def inputs_for(spec, env, seed: int) -> dict[str, np.ndarray]:
    """The inputs of one run on the host, as the harness makes them (an InputSet, indexed)."""
    inputs = InputSet(spec, env, (seed,))
    return {name: inputs[name] for name in inputs}


def run(kernel: Path, seed: int = 0, **overrides) -> dict[str, np.ndarray]:
    """The reference's outputs for one input set, as the harness asks for them."""
    unit = load_unit(str(kernel))
    spec = unit.kernel.spec
    assert not [d for d in unit.kernel.spec_errors if d.severity == "error"], unit.kernel.spec_errors
    env = resolve(spec, {k: str(v) for k, v in overrides.items()})
    inputs = inputs_for(spec, env, seed)
    sizes = buffer_sizes(spec, env)
    lengths = {b.name: sizes[b.name] // dtypes.numpy_dtype(b.dtype).itemsize for b in spec.buffers}
    variables = {v.name: env[v.name] for v in spec.variables}
    return python_reference.expected_outputs(str(kernel), spec, variables, inputs, lengths, "default size, seed 0")


def kernel_with(tmp_path: Path, body: str, out: str = "float", name: str = "ref.py") -> Path:
    (tmp_path / name).write_text(body)
    k = tmp_path / "k.cpp"
    k.write_text(KERNEL.format(ref=f"{name}:f", out=out))
    return k


def failure(kernel: Path, **overrides) -> EvalFailure:
    with pytest.raises(EvalFailure) as info:
        run(kernel, **overrides)
    assert info.value.verdict is Verdict.REFERENCE_FAILED
    return info.value


# -- F4: each reference with its own modules, edits taken ------------------------------------------

def test_helper_modules_of_the_same_name_stay_with_their_reference(tmp_path):
    kernels = {}
    for name, factor in (("a", 2.0), ("b", 3.0)):
        d = tmp_path / name
        d.mkdir()
        (d / "helpers.py").write_text(f"FACTOR = {factor}\n")
        kernels[name] = kernel_with(d, "from helpers import FACTOR\n\n\ndef f(x):\n    return FACTOR * x\n")
    x = lambda k: run(k)["y"] / inputs_for(load_unit(str(k)).kernel.spec, {"n": 64, "a": 2.0}, 0)["x"]  # noqa: E731
    assert np.allclose(x(kernels["a"]), 2.0) and np.allclose(x(kernels["b"]), 3.0)
    assert np.allclose(x(kernels["a"]), 2.0)  # and back: nothing of b's stayed behind
    assert "helpers" not in sys.modules
    key = python_reference.reference_key(str(kernels["b"]), load_unit(str(kernels["b"])).kernel.spec.reference)
    (tmp_path / "b" / "helpers.py").write_text("FACTOR = 5.0\n")  # an edit of the helper, not of ref.py
    assert np.allclose(x(kernels["b"]), 5.0)
    assert python_reference.reference_key(str(kernels["b"]), load_unit(str(kernels["b"])).kernel.spec.reference) != key


def test_a_helper_imported_inside_the_function_is_its_reference_s_too(tmp_path):
    k = kernel_with(tmp_path, "def f(x):\n    from lazy_helper import K\n    return K * x\n")
    (tmp_path / "lazy_helper.py").write_text("K = 4.0\n")
    first = run(k)["y"]
    (tmp_path / "lazy_helper.py").write_text("K = 6.0\n")
    assert np.allclose(run(k)["y"], first * 1.5)


# -- F8: what a reference returns is checked, never converted silently -------------------------------

@pytest.mark.parametrize("body, out, said", [
    ("def f(x):\n    return x > 0\n", "float", "gave `y` as booleans"),
    ("import numpy as np\n\ndef f(x):\n    return x * (1 + 1j)\n", "float", "gave `y` as complex numbers"),
    ("import numpy as np\n\ndef f(x):\n    return np.full(x.shape, np.nan)\n", "float",
     "gave NaN for every element of `y`"),
    ("def f(x):\n    return x * 10\n", "int", "gave non-integer values for `y`, a i32 buffer"),
    ("import numpy as np\n\ndef f(x):\n    return np.full(x.shape, 300)\n", "unsigned char",
     "gave values outside the range of `y` (u8, 0 to 255)"),
])
def test_a_result_that_cannot_be_the_buffer_is_an_error_at_the_reference(tmp_path, body, out, said):
    f = failure(kernel_with(tmp_path, body, out))
    assert said in f.message, f.message
    assert f.message.startswith(f"{tmp_path / 'ref.py'}:") or "ref.py:" in f.message.split(" ")[0]
    assert f.diagnostics[0].file.endswith("ref.py")
    assert "ComplexWarning" not in f.message


def test_integers_as_floats_are_taken_when_they_are_whole(tmp_path):
    k = kernel_with(tmp_path, "import numpy as np\n\ndef f(x):\n    return np.floor(x * 10)\n", "int")
    assert run(k)["y"].dtype == np.int64


# -- F13: messages ---------------------------------------------------------------------------------

def test_a_reference_that_exits_is_said_at_its_line_and_the_worker_lives_on(tmp_path):
    k = kernel_with(tmp_path, "import sys\n\n\ndef f(x):\n    sys.exit(3)\n")
    f = failure(k)
    assert "ref.py:5:" in f.message and "exited the process (exit(3))" in f.message
    k = kernel_with(tmp_path, "import os\n\n\ndef f(x):\n    os._exit(0)\n", name="ref2.py")
    f = failure(k)
    assert "ref2.py:5:" in f.message and "exited the process" in f.message


def test_prints_and_warnings_stay_out_of_kf_s_output_and_come_with_a_failure(tmp_path, capfd):
    k = kernel_with(tmp_path, "import numpy as np\n\n\ndef f(x):\n    print('hello from ref')\n"
                              "    return np.sqrt(x)\n")
    run(k)
    out, err = capfd.readouterr()
    assert "hello from ref" not in out + err and "RuntimeWarning" not in out + err
    k = kernel_with(tmp_path, "def f(x):\n    print('about to fail')\n    return x / undefined\n", name="ref2.py")
    f = failure(k)
    assert "it printed: about to fail" in f.message and "NameError" in f.message


def test_the_subject_is_said_once_and_positional_arguments_are_explained(tmp_path):
    f = failure(kernel_with(tmp_path, "def f(x):\n    return x[:3]\n"))
    assert f.message.count("the reference ref.py:f") == 1, f.message
    f = failure(kernel_with(tmp_path, "def f(inp, factor):\n    return inp * factor\n", name="ref2.py"))
    assert "passed by position (x); `factor` got nothing" in f.message, f.message
    assert "ref2.py:1:" in f.message


# -- KernelBench modules: F5 (weights), F9 (shapes without allocating), F12 (replaced numbers) ----------

torch = pytest.importorskip("torch", reason="KernelBench modules need PyTorch")


def test_a_model_weight_no_buffer_gives_is_an_error_naming_it(tmp_path):
    src = (ORACLE / "dwconv_w.cpp").read_text().replace("../../data/kernelbench/", str(KERNELS.parent / "data" /
                                                                                       "kernelbench") + "/")
    alias = tmp_path / "alias.cpp"
    alias.write_text(src)
    assert run(alias)["y"].size  # `w` is a documented alias of `conv2d.weight`
    other = tmp_path / "filt.cpp"
    other.write_text(src.replace("@kf in  w:", "@kf in  filt:").replace("const float* w,", "const float* filt,"))
    f = failure(other)
    assert "the model's parameter `conv2d.weight` (4, 1, 3, 3) takes no buffer's values and starts random" in f.message
    assert "`weight`" in f.message and "buffer(s) `filt` reach neither forward() nor a parameter" in f.message
    assert "82_conv_depthwise" in f.diagnostics[0].file


def test_constant_initial_weights_need_no_buffer(tmp_path):
    """LayerNorm's ones and zeros are the same under any seed: a kernel without them is right."""
    (tmp_path / "ln.py").write_text(
        "import torch\n\n\nclass Model(torch.nn.Module):\n    def __init__(self, n):\n        super().__init__()\n"
        "        self.ln = torch.nn.LayerNorm(n)\n\n    def forward(self, x):\n        return self.ln(x)\n\n\n"
        "n = 64\n\n\ndef get_inputs():\n    return [torch.rand(4, n)]\n\n\ndef get_init_inputs():\n    return [n]\n")
    k = tmp_path / "k.cpp"
    k.write_text(KERNEL.format(ref="ln.py", out="float").replace("float[n]", "float[4 * n]"))
    assert run(k)["y"].size == 256


def test_get_inputs_is_read_for_its_shapes_without_allocating(tmp_path):
    """A module whose get_inputs() makes a 2^40-element tensor: only its shape is taken."""
    (tmp_path / "huge.py").write_text(
        "import torch\n\n\nclass Model(torch.nn.Module):\n    def forward(self, x):\n        return 2 * x\n\n\n"
        "rows = 1 << 20\ncols = 1 << 20\n\n\ndef get_inputs():\n    return [torch.rand(rows, cols)]\n\n\n"
        "def get_init_inputs():\n    return []\n")
    k = tmp_path / "k.cpp"
    k.write_text(KERNEL.format(ref="huge.py", out="float"))
    f = failure(k)  # the spec names no `rows`/`cols`: the mismatch is said, nothing was allocated
    assert "get_inputs() gives `x` of shape (1048576, 1048576)" in f.message
    assert "`rows = 1048576`, `cols = 1048576`" in f.message


def test_a_replaced_module_number_is_named_when_the_module_then_fails(tmp_path):
    src = (KERNELS.parent / "data" / "kernelbench" / "89_cumsum.py")
    k = tmp_path / "k.cpp"
    k.write_text((ORACLE / "cumsum89.cpp").read_text().replace("../../data/kernelbench/89_cumsum.py", str(src))
                 .replace("cols", "dim").replace("@kf batch_size = 8", "@kf batch_size = 2"))
    f = failure(k)
    assert "89_cumsum.py:" in f.message and "kf replaced the module's" in f.message and "`dim = 1` by the spec's 32768" in f.message


def test_a_size_whose_reference_cannot_fit_in_host_memory_is_a_spec_error_at_its_buffer():
    from backends.judge.harness import _fits_host_memory

    spec = load_unit(str(ORACLE / "expk.cpp")).kernel.spec
    with pytest.raises(EvalFailure) as info:
        _fits_host_memory(spec, {"x": 1 << 40, "y": 1 << 40}, "n=1099511627776, seed 0")
    f = info.value
    size_line = next(v.line for v in spec.variables if v.name == "n")  # `@kf n = ...`, the size to change
    assert f.verdict is Verdict.SPEC_ERROR and f.line == size_line
    assert "GiB of host memory" in f.message and "use a smaller size" in f.message
    _fits_host_memory(spec, {"x": 1000, "y": 1000}, "n=1000, seed 0")  # an ordinary size is fine
