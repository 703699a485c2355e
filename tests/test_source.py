import hashlib

import pytest

from backends.model import Position
from backends.kernel.declarations import template_params
from backends.kernel.scanner import KernelNotFound, find_kernel, find_kernels, language_of
from backends.kernel.text import mask
from backends.kernel.splice import region_text

TRICKY = r'''#include <cuda_runtime.h>
#define BLOCK 256
#define OPEN_BRACE {
#define LONG_MACRO(x) do { \
    if (x) { }           \
  } while (0)
// a comment with __global__ void in_comment(int n) { }
/* __global__ void in_block(int n) { } */
static const char* msg = "__global__ void in_string() {";
static const char brace = '}';
static const char* raw = R"delim(__global__ void in_raw() { ")delim";
static const long big = 1'000'000;

// @kf in  x: float[n]
// @kf out y: float[n]
// @kf n = 1 << 20
// @kf grid cdiv(n, BLOCK)
// @kf block BLOCK
// @kf tune BLOCK = 128, 256
__global__ void copy(const float* __restrict__ x, float* __restrict__ y, int n)
{
    // } a brace in a comment
    const char* s = "}{";
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) { y[i] = x[i]; }
}

extern "C" __global__ void prototype(float* p, int n);

namespace outer { namespace inner {

template <int TILE = 32,
          typename T = float>
__global__ void __launch_bounds__(256, 2)
transpose(const T* __restrict__ in,
          T* out,
          int rows, int cols = 7)
{
    __shared__ T tile[TILE][TILE + 1];
}

}  // namespace inner
}  // namespace outer

extern "C" __global__ void __attribute__((noinline)) plain(double* data, unsigned int count, float alpha) { data[0] = alpha; }
'''


def kernels(text=TRICKY, path="k.cu"):
    return {k.name: k for k in find_kernels(text, path)}


def line_of(text, needle):
    return next(i for i, line in enumerate(text.splitlines()) if needle in line)


def test_finds_exactly_the_real_kernels():
    ks = find_kernels(TRICKY, "k.cu")
    assert [k.name for k in ks] == ["copy", "transpose", "plain"]
    assert all(k.language == "cuda" for k in ks)


def test_definition_and_name_ranges():
    k = kernels()["copy"]
    start = line_of(TRICKY, "__global__ void copy")
    assert k.definition.start == Position(start, 0)
    assert k.definition.end == Position(start + 6, 1)  # just past the closing brace
    assert k.name_range.start == Position(start, 16)
    assert k.name_range.end == Position(start, 20)


def test_params_types_and_constness():
    k = kernels()["copy"]
    x, y, n = k.params
    assert (x.name, x.type, x.base_type, x.is_pointer, x.is_const) == (
        "x", "const float* __restrict__", "float", True, True)
    assert (y.name, y.base_type, y.is_pointer, y.is_const) == ("y", "float", True, False)
    assert (n.name, n.type, n.is_pointer) == ("n", "int", False)
    p = kernels()["plain"]
    assert [(q.name, q.base_type) for q in p.params] == [
        ("data", "double"), ("count", "unsigned int"), ("alpha", "float")]


def test_template_multiline_signature_with_launch_bounds():
    k = kernels()["transpose"]
    assert k.is_template and k.template_params == ["TILE", "T"]
    assert k.definition.start == Position(line_of(TRICKY, "template <int TILE"), 0)
    assert [p.name for p in k.params] == ["in", "out", "rows", "cols"]  # default arg dropped
    assert k.params[0].base_type == "T" and k.params[0].is_const
    assert template_params(TRICKY, k) == [("int", "TILE", "32"), ("typename", "T", "float")]
    assert k.spec is None and k.spec_errors == []


def test_extern_c_and_attribute_start_the_definition():
    k = kernels()["plain"]
    assert k.definition.start.column == 0
    assert region_text(TRICKY, k).startswith('extern "C" __global__')
    assert region_text(TRICKY, k).endswith("}")


def test_region_covers_spec_lines_and_hash():
    k = kernels()["copy"]
    region = region_text(TRICKY, k)
    assert region.startswith("// @kf in  x: float[n]") and region.endswith("}")
    assert k.spec.tunables[0].values == [128, 256]
    assert k.region.start == Position(line_of(TRICKY, "@kf in  x"), 0)
    assert k.content_hash == hashlib.sha256(region.encode()).hexdigest()
    assert k.spec is not None and k.spec_errors == []
    assert k.spec.range.start.line == k.region.start.line


def test_spec_block_rules():
    text = """\
// @kf n = 1 << 20
// @kf out y: float[n]

// Doubles the input.
// @kf in x: float[n]
// more free text
// @kf out y: float[n]
// @kf n = 1 << 20
// @kf grid cdiv(n, 256)
// @kf block 256
__global__ void twice(const float* x, float* y, int n) { y[0] = 2 * x[0]; }
"""
    k = find_kernel(text, "t.cu", "twice")
    assert k.spec_errors == []
    # the blank line ends the block: the first two @kf lines are not this kernel's
    assert [b.line for b in k.spec.buffers] == [4, 6]
    # the region starts at the first @kf line; free text above it stays outside
    assert k.region.start == Position(4, 0)


def test_block_comment_spec():
    text = """\
/*
 * @kf in x: float[n]
 * @kf out y: float[n]
 * @kf n = 1000
 * @kf grid cdiv(n, 128)
 * @kf block 128
 */
__global__ void f(const float* x, float* y, int n) {}
"""
    k = find_kernel(text, "t.cu", None)
    assert k.spec_errors == [] and k.spec.launch.block == ["128"]
    assert k.region.start == Position(0, 0)  # the whole comment belongs to the region


def test_begin_end_region():
    text = """\
#include <x.h>
// @kf begin
__device__ float helper(float v) { return v * 2; }

// @kf in x: float[n]
// @kf out y: float[n]
// @kf n = 1000
// @kf grid cdiv(n, 128)
// @kf block 128
__global__ void f(const float* x, float* y, int n) { y[0] = helper(x[0]); }
// @kf end
int after;
"""
    k = find_kernel(text, "t.cu", "f")
    assert k.spec_errors == []
    assert k.region.start == Position(1, 0)
    assert k.region.end == Position(10, len("// @kf end"))
    assert region_text(text, k).startswith("// @kf begin\n__device__")


def test_unpaired_begin_is_a_warning():
    text = "// @kf begin\n__global__ void f(int* p) {}\n"
    k = find_kernel(text, "t.cu", "f")
    assert [d.severity for d in k.spec_errors] == ["warning"]
    assert k.region.start == Position(1, 0)


def test_crlf_file():
    text = TRICKY.replace("\n", "\r\n")
    a, b = kernels(), kernels(text)
    assert list(a) == list(b)
    for name in a:
        assert a[name].definition == b[name].definition
        assert a[name].region == b[name].region
        assert [p.name for p in a[name].params] == [p.name for p in b[name].params]
    assert b["copy"].spec_errors == [] and region_text(text, b["copy"]).endswith("}")


def test_duplicate_names_keep_both_and_warn():
    text = "__global__ void k(int* p) {}\n__global__ void k(float* p) {}\n"
    ks = find_kernels(text, "d.cu")
    assert [k.name for k in ks] == ["k", "k"]
    assert ks[0].spec_errors == []
    (w,) = ks[1].spec_errors
    assert w.severity == "warning" and "duplicate kernel name" in w.message and w.line == 1
    assert find_kernel(text, "d.cu", "k").params[0].base_type == "int"


def test_macros_and_trailing_attributes():
    text = ("#define KERNEL_ATTR(x) __attribute__((x))\n"
            "__global__ void KERNEL_ATTR(used) first(int* p) {}\n"
            "__global__ void second(int* p) __attribute__((used)) {}\n"
            "template <> __global__ void third<256>(float* p) { p[0] = 1; }\n")
    assert [(k.name, k.params[0].name) for k in find_kernels(text, "m.cu")] == [
        ("first", "p"), ("second", "p"), ("third", "p")]


def test_void_params_and_array_params():
    text = "__global__ void a(void) {}\n__global__ void b(float x[], const int idx[16]) {}\n"
    a, b = find_kernels(text, "v.cu")
    assert a.params == []
    assert [(p.name, p.is_pointer, p.is_const, p.base_type) for p in b.params] == [
        ("x", True, False, "float"), ("idx", True, True, "int")]


def test_pointer_const_placement():
    text = "__global__ void k(float* const p, const float* const q, const int n) {}"
    p, q, n = find_kernel(text, "c.cu", "k").params
    assert p.is_pointer and not p.is_const  # the pointer is const, not the pointee
    assert q.is_const and n.is_const and not n.is_pointer


def test_unbalanced_kernel_does_not_raise():
    text = "__global__ void broken(int* p) {\n  if (1) {\n"
    (k,) = find_kernels(text, "b.cu")
    assert any("closing brace" in d.message for d in k.spec_errors)
    assert region_text(text, k) == text


@pytest.mark.parametrize("text", [
    "", "__global__", "__global__ void", "__global__ void f(", "/* unterminated",
    '"unterminated string\n__global__ void f() {}', "#define X \\", "template <", "}}}{{{",
    "// @kf in x: float[\n__global__ void f(float* x) {}",
    "SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>)) void",
])
def test_garbage_never_raises(text):
    find_kernels(text, "g.cu")
    find_kernels(text, "g.cpp")


def test_mask_keeps_offsets():
    text = 'int a; // c {\nchar* s = "x{y"; /* {\n} */ int b;\n#define Q {\n'
    m = mask(text)
    assert len(m) == len(text) and m.count("\n") == text.count("\n")
    assert "{" not in m and "}" not in m
    assert m.index("int b") == text.index("int b")


SYCL = """\
#include <sycl/sycl.hpp>
namespace syclexp = sycl::ext::oneapi::experimental;

// @kf in  x: float[n]
// @kf out y: float[n]
// @kf n = 1 << 20
// @kf global roundup(n, 256)
// @kf local 256
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void scale(const float* x, float* y, int n) {
  auto item = syclexp::this_work_item::get_nd_item<1>();
  size_t i = item.get_global_id(0);
  if (i < n) { y[i] = 2.0f * x[i]; }
}

// @kf in  a: float[rows * cols]
// @kf out b: float[rows * cols]
// @kf rows = 512
// @kf cols = 256
// @kf global rows, cols
// @kf local 16, 16
SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((sycl::ext::oneapi::experimental::nd_range_kernel<2>))
void transpose2d(const float* a, float* b, int rows, int cols) {
}

void host_function(sycl::queue& q) { q.wait(); }
"""


def test_sycl_free_function_kernels():
    ks = find_kernels(SYCL, "s.cpp")
    assert [k.name for k in ks] == ["scale", "transpose2d"]
    scale, t2 = ks
    assert scale.language == "sycl" and scale.spec_errors == []
    assert scale.definition.start == Position(8, 0)
    assert region_text(SYCL, scale).startswith("// @kf in  x")
    assert scale.spec.launch.grid == ["roundup(n, 256)"]
    assert t2.spec_errors == [] and t2.spec.launch.block == ["16", "16"]
    assert [p.name for p in t2.params] == ["a", "b", "rows", "cols"]


def test_sycl_single_task_and_grid_in_sycl():
    text = SYCL.replace("// @kf global rows, cols", "// @kf grid rows, cols")
    t2 = find_kernel(text, "s.cpp", "transpose2d")
    (d,) = [d for d in t2.spec_errors if "grid" in d.message]
    assert "use `global`" in d.message and (d.line, d.column) == (19, 7)
    single = "SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::single_task_kernel))\nvoid one(int* p) { *p = 1; }\n"
    assert [k.name for k in find_kernels(single, "one.sycl")] == ["one"]


def test_language_of(tmp_path):
    assert language_of("a.cu") == "cuda" and language_of("a.CUH") == "cuda"
    assert language_of("a.cpp", SYCL) == "sycl"
    assert language_of("a.cpp", "#include <sycl/sycl.hpp>\nint main() {}") == "sycl"
    assert language_of("a.cpp", "int main() {}") is None
    assert language_of("a.py", SYCL) is None
    f = tmp_path / "k.hpp"
    f.write_text(SYCL)
    assert language_of(str(f)) == "sycl"
    assert language_of(str(tmp_path / "missing.cpp")) is None


def test_find_kernel_errors_list_kernels():
    with pytest.raises(KernelNotFound, match="copy, transpose, plain"):
        find_kernel(TRICKY, "k.cu", "nope")
    with pytest.raises(KernelNotFound, match="3 kernels"):
        find_kernel(TRICKY, "k.cu", None)
    with pytest.raises(KernelNotFound, match="no kernel"):
        find_kernel("int main() {}", "m.cu", None)


def test_code_hash_follows_tunable_values_bound_outside_the_region():
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "examples/sycl/saxpy.cpp").read_text()
    (k,) = find_kernels(text, "saxpy.cpp")
    (k2,) = find_kernels(text.replace("#define WG_SIZE 64", "#define WG_SIZE 256"), "saxpy.cpp")
    (k3,) = find_kernels(text.replace("// saxpy: out", "// saxpy (edited comment): out"), "saxpy.cpp")
    assert k.content_hash == k2.content_hash  # the region itself is unchanged
    assert k.code_hash != k2.code_hash  # but the kernel that runs is not
    assert k.code_hash == k3.code_hash  # a comment outside the region changes nothing
