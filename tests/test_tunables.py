import pytest

from backends.kernel.scanner import find_kernel, find_kernels
from backends.kernel.tunables import Bound, TunableError, bind, defaults

SPEC = """\
// @kf in  x: float[n]
// @kf out y: float[n]
// @kf n = 1 << 20
// @kf grid cdiv(n, BLOCK)
// @kf block BLOCK
"""
BODY = "{ int i = blockIdx.x * BLOCK + threadIdx.x; if (i < n) y[i] = x[i]; }\n"
SIG = "__global__ void copy(const float* x, float* y, int n) " + BODY


def lines(text: str) -> list[str]:
    return text.splitlines()


def check_same_lines(before: str, after: str, changed: set[int]) -> None:
    """Same number of lines; only the `changed` lines differ."""
    a, b = lines(before), lines(after)
    assert len(a) == len(b)
    assert {i for i, (x, y) in enumerate(zip(a, b)) if x != y} == changed


def test_define_is_rewritten_in_place():
    text = ("#include <cuda_runtime.h>\n"
            "// #define BLOCK 999 (a comment, not the definition)\n"
            "#define BLOCK 256u  // threads per block\n"
            "#define BLOCK_2 7\n"
            + SPEC + "// @kf tune BLOCK = 64, 128, 256\n" + SIG)
    k = find_kernel(text, "d.cu", "copy")
    assert defaults(text, k) == {"BLOCK": 256}
    b = bind(text, k, {"BLOCK": 128})
    assert isinstance(b, Bound) and b.prelude == "" and b.entry == "copy"
    check_same_lines(text, b.text, {2})
    assert lines(b.text)[2] == "#define BLOCK 128  // threads per block"
    assert lines(b.text)[3] == "#define BLOCK_2 7"
    assert bind(text, k, {}).text == text.replace("256u", "256")  # default keeps the value


def test_define_with_continuation_keeps_line_count():
    text = "#define BLOCK \\\n    (128)\nint after;\n" + SPEC + "// @kf tune BLOCK = 64, 128\n" + SIG
    k = find_kernel(text, "d.cu", "copy")
    assert defaults(text, k) == {"BLOCK": 128}
    b = bind(text, k, {"BLOCK": 64})
    assert lines(b.text)[:3] == ["#define BLOCK 64", "", "int after;"]
    assert len(lines(b.text)) == len(lines(text))


def test_only_first_define_is_rewritten():
    text = "#ifdef BIG\n#define BLOCK 512\n#else\n#define BLOCK 128\n#endif\n" + SPEC + \
           "// @kf tune BLOCK = 64, 128\n" + SIG
    k = find_kernel(text, "d.cu", "copy")
    b = bind(text, k, {"BLOCK": 64})
    check_same_lines(text, b.text, {1})


def test_empty_define_gets_a_value():
    text = "#define BLOCK\n" + SPEC + "// @kf tune BLOCK = 32\n" + SIG
    b = bind(text, find_kernel(text, "d.cu", "copy"), {})
    assert lines(b.text)[0] == "#define BLOCK 32"


def test_constexpr_in_body_and_namespace_const():
    text = ("namespace cfg { const int UNROLL = 4; }\n"
            "const int NOT_AT_SCOPE_TEST = 1;\n"
            + SPEC + "// @kf tune BLOCK = 64, 128, 256\n// @kf tune UNROLL = 1, 2, 4, 8\n"
            "// @kf tune SCALE = 0.5, 2.0\n"
            "__global__ void copy(const float* x, float* y, int n) {\n"
            "    constexpr int BLOCK = 256;\n"
            "    static constexpr float SCALE{1.5f};\n"
            "    const int LOCAL = 3;  // const inside a function is not a binding site\n"
            "    int i = blockIdx.x * BLOCK + threadIdx.x; if (i < n) y[i] = SCALE * x[i];\n"
            "}\n")
    k = find_kernel(text, "c.cu", "copy")
    assert defaults(text, k) == {"BLOCK": 256, "UNROLL": 4, "SCALE": 1.5}
    b = bind(text, k, {"BLOCK": 64, "UNROLL": 8, "SCALE": 2.0})
    body = lines(b.text)
    start = lines(text).index("    constexpr int BLOCK = 256;")
    check_same_lines(text, b.text, {0, start, start + 1})
    assert body[0] == "namespace cfg { const int UNROLL = 8; }"
    assert body[start] == "    constexpr int BLOCK = 64;"
    assert body[start + 1] == "    static constexpr float SCALE{2.0};"
    assert b.prelude == ""


def test_const_inside_function_is_not_bound():
    text = SPEC + "// @kf tune LOCAL = 3, 5\n" + \
        "__global__ void copy(const float* x, float* y, int n) { const int LOCAL = 3; }\n"
    k = find_kernel(text, "c.cu", "copy")
    b = bind(text, k, {"LOCAL": 5})
    assert b.text == text and b.prelude == "#define LOCAL 5\n"


def test_template_parameter_becomes_instantiation():
    text = SPEC + "// @kf tune BLOCK = 64, 128, 256\n" \
        "template <int BLOCK = 256, typename T = float, int N2 = BLOCK * 2>\n" \
        "__global__ void copy(const T* x, T* y, int n) " + BODY
    k = find_kernel(text, "t.cu", "copy")
    assert defaults(text, k) == {"BLOCK": 256}
    b = bind(text, k, {"BLOCK": 128})
    # a default that names another parameter stays implicit so it follows the binding
    assert b.text == text and b.prelude == "" and b.entry == "copy<128, float>"
    assert bind(text, k, {}).entry == "copy<256, float>"


def test_template_parameter_without_default_needs_a_value():
    text = SPEC + "template <typename T, int BLOCK>\n__global__ void copy(const T* x, T* y, int n) " + BODY
    k = find_kernel(text, "t.cu", "copy")
    with pytest.raises(TunableError, match="template parameter 'T' of 'copy' has no default"):
        bind(text, k, {})
    text2 = text.replace("typename T,", "typename T = float,")
    k2 = find_kernel(text2, "t.cu", "copy")
    with pytest.raises(TunableError, match="'BLOCK'"):
        bind(text2, k2, {})
    text3 = SPEC + "// @kf tune BLOCK = 32, 64\n" + text2[len(SPEC):]
    k3 = find_kernel(text3, "t.cu", "copy")
    assert defaults(text3, k3) == {"BLOCK": 32}  # no value in the code: the first listed
    assert bind(text3, k3, {}).entry == "copy<float, 32>"


def test_unbound_name_goes_to_the_prelude():
    text = SPEC + "// @kf tune BLOCK = 128, 256\n" + SIG
    k = find_kernel(text, "p.cu", "copy")
    assert defaults(text, k) == {"BLOCK": 128}
    b = bind(text, k, {"BLOCK": 256})
    assert b.text == text and b.prelude == "#define BLOCK 256\n" and b.entry == "copy"


def test_unknown_tunable_is_refused():
    text = SPEC + "// @kf tune BLOCK = 128, 256\n" + SIG
    k = find_kernel(text, "p.cu", "copy")
    with pytest.raises(TunableError, match="'WARPS': not a tunable of 'copy' \\(tunables: BLOCK\\)"):
        bind(text, k, {"WARPS": 4})


def test_sycl_kernel_binding():
    text = "#include <sycl/sycl.hpp>\nconstexpr size_t WG = 128;\n" \
        "// @kf in  x: float[n]\n// @kf out y: float[n]\n// @kf n = 4096\n" \
        "// @kf global roundup(n, WG)\n// @kf local WG\n// @kf tune WG = 64, 128, 256\n" \
        "extern \"C\" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))\n" \
        "void scale(const float* x, float* y, int n) { }\n"
    k = find_kernel(text, "s.cpp", "scale")
    assert k.spec_errors == []
    b = bind(text, k, {"WG": 256})
    check_same_lines(text, b.text, {1})
    assert lines(b.text)[1] == "constexpr size_t WG = 256;" and b.entry == "scale"


def test_explicit_specialization_entry():
    text = "template <int B> __global__ void k(float* p) {}\n" \
        "template <> __global__ void k< 256 >(float* p) { p[0] = 1; }\n"
    spec_k = find_kernels(text, "s.cu")[1]
    assert bind(text, spec_k, {}).entry == "k<256>"
