import pytest

from backends.model import Position, Range
from backends.kernel.scanner import find_kernel, find_kernels
from backends.kernel.splice import StaleKernel, region_text, splice
from backends.kernel.text import range_to_offsets

FILE = """\
#include <cuda_runtime.h>

__device__ float sq(float v) { return v * v; }

// Squares every element.
// @kf in  x: float[n]
// @kf out y: float[n]
// @kf n = 1 << 20
// @kf grid cdiv(n, 256)
// @kf block 256
__global__ void square(const float* x, float* y, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = sq(x[i]);
}

// @kf in  x: float[n]
// @kf n = 1 << 20
// @kf grid 1
// @kf block 1
__global__ void other(const float* x, int n) { }
"""

VARIANT = """\
// @kf in  x: float[n]
// @kf out y: float[n]
// @kf n = 1 << 20
// @kf grid cdiv(n, 512)
// @kf block 128
__global__ void square(const float* x, float* y, int n) {
    int i = (blockIdx.x * blockDim.x + threadIdx.x) * 4;
    for (int j = i; j < i + 4 && j < n; ++j) y[j] = x[j] * x[j];
}
"""


@pytest.mark.parametrize("text", [FILE, FILE.replace("\n", "\r\n"), FILE.rstrip("\n")])
def test_round_trip_is_identity(text):
    for k in find_kernels(text, "s.cu"):
        assert splice(text, k, region_text(text, k)) == text


def test_splice_replaces_only_the_region():
    k = find_kernel(FILE, "s.cu", "square")
    out = splice(FILE, k, VARIANT)
    before, after = FILE.split("// @kf in  x: float[n]\n// @kf out y", 1)[0], FILE[FILE.index("\n\n// @kf in  x: float[n]\n// @kf n"):]
    assert out.startswith(before) and out.endswith(after)
    # the trailing newline of the variant does not add a blank line
    assert "}\n\n// @kf in  x: float[n]\n// @kf n" in out
    k2 = find_kernel(out, "s.cu", "square")
    assert k2.spec_errors == [] and k2.spec.launch.block == ["128"]
    assert region_text(out, k2) == VARIANT.rstrip("\n")
    assert find_kernel(out, "s.cu", "other").spec_errors == []


def test_crlf_file_gets_crlf_region():
    text = FILE.replace("\n", "\r\n")
    k = find_kernel(text, "s.cu", "square")
    out = splice(text, k, VARIANT)
    assert "\n" not in out.replace("\r\n", "")
    lf = splice(FILE, find_kernel(FILE, "s.cu", "square"), VARIANT)
    assert out == lf.replace("\n", "\r\n")
    assert find_kernel(out, "s.cu", "square").spec.launch.block == ["128"]


def test_stale_kernel_is_refused():
    k = find_kernel(FILE, "s.cu", "square")
    with pytest.raises(StaleKernel):
        splice(FILE.replace("y[i] = sq", "y[i] = 2 * sq"), k, VARIANT)


def test_range_to_offsets():
    text = "ab\r\ncd\nef"
    assert range_to_offsets(text, Range(Position(0, 0), Position(0, 2))) == (0, 2)
    assert range_to_offsets(text, Range(Position(1, 1), Position(2, 2))) == (5, 9)
    assert range_to_offsets(text, Range(Position(0, 99), Position(9, 0))) == (2, 9)  # clamped


def test_begin_end_region_splice():
    text = "int a;\n// @kf begin\n__device__ int h() { return 1; }\n" \
           "// @kf out p: int[1]\n// @kf grid 1\n// @kf block 1\n" \
           "__global__ void k(int* p) { *p = h(); }\n// @kf end\nint b;\n"
    k = find_kernel(text, "b.cu", "k")
    new = "// @kf begin\n// @kf out p: int[1]\n// @kf grid 1\n// @kf block 1\n" \
          "__global__ void k(int* p) { *p = 1; }\n// @kf end\n"
    out = splice(text, k, new)
    assert out == "int a;\n" + new + "int b;\n"
    assert splice(out, find_kernel(out, "b.cu", "k"), region_text(out, find_kernel(out, "b.cu", "k"))) == out


def test_write_variant_binds_tunables_outside_the_region():
    from backends.kernel.scanner import find_kernels
    from backends.kernel.splice import region_text, write_variant

    text = ("#ifndef BLOCK\n#define BLOCK 64\n#endif\n"
            "// @kf in  x: float[n]\n// @kf out y: float[n]\n// @kf n = 1024\n"
            "// @kf grid cdiv(n, BLOCK)\n// @kf block BLOCK\n// @kf tune BLOCK = 64, 256\n"
            "// @kf tune UNROLL = 1, 4\n"
            'extern "C" __global__ void k(const float* x, float* y, int n) {\n'
            "  int i = blockIdx.x * blockDim.x + threadIdx.x;\n  if (i < n) y[i] = x[i] * UNROLL;\n}\n")
    (k,) = find_kernels(text, "k.cu")
    region = region_text(text, k).replace("x[i] * UNROLL", "x[i] * UNROLL + 0.0f")
    out = write_variant(text, k, region, {"BLOCK": 256, "UNROLL": 4})
    assert "#define BLOCK 256\n" in out and "#define BLOCK 64" not in out
    assert "#define UNROLL 4\n// @kf in  x" in out  # not defined by the code: just above the region
    assert "x[i] * UNROLL + 0.0f" in out
    (k2,) = find_kernels(out, "k.cu")
    assert k2.spec is not None and not [d for d in k2.spec_errors if d.severity == "error"]
