import pytest

from backends.kernel.scanner import find_kernel, find_kernels
from backends.kernel.spec import check_contract, draft_spec, parse_spec

SAXPY_SIG = "__global__ void saxpy(const float* x, const float* y, float* out, float a, int n) {}\n"
SAXPY_SPEC = """\
// @kf in  x: float[n]
// @kf in  y: float[n]
// @kf out out: float[n]
// @kf n = 1 << 20
// @kf a = 2.5
// @kf grid cdiv(n, BLOCK)
// @kf block BLOCK
// @kf tune BLOCK = 64, 128, 256, 512
// @kf check n = 1000
// @kf check n = 4097
"""


def kernel(spec_text: str, sig: str = SAXPY_SIG, path: str = "k.cu"):
    return find_kernel(spec_text + sig, path, None)


def errors(spec_text: str, sig: str = SAXPY_SIG, path: str = "k.cu"):
    """(line, column, message) of every diagnostic, 0-based like the model."""
    return [(d.line, d.column, d.message) for d in kernel(spec_text, sig, path).spec_errors]


def replace(line_no: int, new: str, base: str = SAXPY_SPEC) -> str:
    lines = base.splitlines(keepends=True)
    lines[line_no] = new + "\n"
    return "".join(lines)


def test_full_spec():
    k = kernel(SAXPY_SPEC + "// @kf tol rtol=1e-3 atol=1e-5\n// @kf shared BLOCK * 4\n"
               "// @kf bytes 12 * n\n// @kf flops 2 * n\n")
    assert k.spec_errors == []
    s = k.spec
    assert [(b.name, b.role, b.dtype, b.length, b.line) for b in s.buffers] == [
        ("x", "in", "f32", "n", 0), ("y", "in", "f32", "n", 1), ("out", "out", "f32", "n", 2)]
    assert [(v.name, v.expr) for v in s.variables] == [("n", "1 << 20"), ("a", "2.5")]
    assert (s.launch.grid, s.launch.block, s.launch.shared, s.launch.line) == (
        ["cdiv(n, BLOCK)"], ["BLOCK"], "BLOCK * 4", 5)
    assert s.tunables[0].values == [64, 128, 256, 512] and s.tunables[0].line == 7
    assert [c.assignments for c in s.checks] == [{"n": "1000"}, {"n": "4097"}]
    assert (s.rtol, s.atol, s.bytes, s.flops) == (1e-3, 1e-5, "12 * n", "2 * n")
    assert (s.range.start.line, s.range.start.column) == (0, 0)
    assert (s.range.end.line, s.range.end.column) == (13, len("// @kf flops 2 * n"))


def test_single_tolerance_and_range_and_multi_dim_launch():
    k = kernel("""\
// @kf in idx: int[n] range 0..m
// @kf in src: float[m] range -1.5..1.5
// @kf out dst: float[n]
// @kf n = 1000
// @kf m = n * 2
// @kf grid cdiv(n, 64), max(1, min(4, 2)), 1
// @kf block 64, 1
// @kf tol 0.01
""", "__global__ void gather(const int* idx, const float* src, float* dst, int n, int m) {}\n")
    assert k.spec_errors == []
    s = k.spec
    assert (s.buffers[0].low, s.buffers[0].high) == ("0", "m")
    assert (s.buffers[1].low, s.buffers[1].high) == ("-1.5", "1.5")
    assert s.launch.grid == ["cdiv(n, 64)", "max(1, min(4, 2))", "1"]
    assert s.rtol == s.atol == 0.01


def test_missing_params_say_what_to_add():
    errs = errors("// @kf in x: float[n]\n// @kf n = 4\n// @kf grid 1\n// @kf block 1\n")
    msgs = [m for _, _, m in errs]
    assert "parameter 'y' has no buffer: add `// @kf in y: float[LEN]`" in msgs
    assert "parameter 'out' has no buffer: add `// @kf out out: float[LEN]`" in msgs
    assert "parameter 'a' has no value: add `// @kf a = ...`" in msgs


@pytest.mark.parametrize("line_no, text, col, fragment", [
    (0, "// @kf in x: double[n]", 13, "buffer 'x' is double (f64) but the parameter is const float* (f32)"),
    (0, "// @kf in x: floot[n]", 13, "unknown element type 'floot'"),
    (0, "// @kf in x float[n]", 11, "missing ':' after 'x'"),
    (0, "// @kf in x: float", 13, "buffer 'x' needs a length"),
    (0, "// @kf in x: float[n", 18, "'[' without a matching ']'"),
    (0, "// @kf in x: float[n] range 0", 22, "only `range LOW..HIGH`"),
    (0, "// @kf in x: float[n +* 2]", 19, "syntax error"),
    (0, "// @kf in x: float[q]", 19, "unknown name 'q'"),
    (0, "// @kf in x: float[x]", 19, "'x' is a buffer, not a number"),
    (0, "// @kf in x: float[N_TOTAL]", 19, "`@kf tune N_TOTAL = VALUE`"),
    (0, "// @kf in a: float[n]", 10, "'a' is not a pointer"),
    (0, "// @kf in z: float[n]", 10, "'z' is not a parameter of the kernel (parameters: x, y, out, a, n)"),
    (0, "// @kf out x: float[n]", 7, "'x' is `const float*` (read-only): it cannot be `out`"),
    (3, "// @kf n = 1 <<", 11, "variable 'n': syntax error"),
    (3, "// @kf n = 1 << 20  */", 99, None),  # a block comment's end is not part of the entry
    (3, "// @kf x = 5", 7, "'x' is a pointer parameter"),
    (4, "// @kf n = 3", 7, "duplicate variable 'n' (first at line 4)"),
    (5, "// @kf global cdiv(n, BLOCK)", 7, "`global` is for SYCL kernels: this is a CUDA kernel, use `grid` (in blocks)"),
    (6, "// @kf local BLOCK", 7, "use `block` (in threads)"),
    (5, "// @kf grid 1, 2, 3, 4", 21, "takes 1 to 3 dimensions"),
    (5, "// @kf grid 1,, 2", 14, "expected an expression"),
    (6, "// @kf grid 4", 7, "duplicate `grid` line (first at line 6)"),
    (7, "// @kf tune BLOCK = 64, big, 256", 24, "values must be numbers, not `big`"),
    (7, "// @kf tune BLOCK = 64, 64", 24, "64 is listed twice"),
    (7, "// @kf tune n = 1, 2", 12, "'n' is a kernel parameter"),
    (7, "// @kf tune BLOCK 64", 12, "expected `tune NAME = V1, V2, ...`"),
    (8, "// @kf check m = 5", 13, "check sets 'm', which is not a variable"),
    (8, "// @kf check n", 13, "expected `NAME = EXPR` in `check`"),
    (8, "// @kf check n = 1, n = 2", 20, "'n' is set twice"),
    (8, "// @kf tol rtol=x", 16, "rtol must be a number"),
    (8, "// @kf tol 1e-3 2", 11, "expected `tol R` or `tol rtol=R atol=A`"),
    (8, "// @kf tol speed=3", 11, "unknown tolerance 'speed'"),
    (8, "// @kf launch 1", 7, "unknown spec line `launch`: expected `NAME = EXPR` or one of in, out, inout, grid, block"),
    (8, "// @kf n == 5", 7, "unknown spec line `n`"),
    (8, "// @kf", 3, "empty `@kf` line"),
])
def test_line_errors(line_no, text, col, fragment):
    errs = errors(replace(line_no, text))
    if fragment is None:
        assert errs == []
        return
    hits = [(line, c, m) for line, c, m in errs if fragment in m]
    assert hits, errs
    assert (hits[0][0], hits[0][1]) == (line_no, col), hits


def test_warnings_are_warnings():
    k = kernel(replace(7, "// @kf tune BLOCK = 64, 64"))
    assert [d.severity for d in k.spec_errors] == ["warning"]
    assert all(d.source == "kf" and d.file == "k.cu" for d in k.spec_errors)


def test_launch_required_and_paired():
    no_launch = "".join(line + "\n" for line in SAXPY_SPEC.splitlines() if "grid" not in line
                        and "block" not in line and "tune" not in line)
    assert any("no launch shape: add `// @kf grid ...` and `// @kf block ...`" in m
               for _, _, m in errors(no_launch))
    only_grid = replace(6, "// @kf shared 0")
    assert (5, 0, "`grid` needs a `block` line: add `// @kf block ...`") in errors(only_grid)


def test_cycles_and_values():
    errs = errors(replace(3, "// @kf n = a2 + 1") + "// @kf a2 = n * 2\n")
    assert any("variables depend on each other: n -> a2 -> n" in m for _, _, m in errs)
    errs = errors(replace(2, "// @kf out out: float[n / 3]"))
    assert any(line == 2 and "write // or cdiv" in m for line, _, m in errs)


def test_sycl_dims_must_match():
    text = """\
// @kf in x: float[n]
// @kf n = 1024
// @kf global n, 4
// @kf local 64
SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<2>))
void f(const float* x, int n) {}
"""
    (k,) = find_kernels(text, "f.cpp")
    assert [(d.line, d.message) for d in k.spec_errors] == [
        (2, "`global` has 2 dimension(s) but `local` has 1")]


def test_template_type_params_accept_the_spec_type():
    text = """\
// @kf in x: half[n]
// @kf n = 64
// @kf grid 1
// @kf block 64
template <typename T = float>
__global__ void f(const T* x, int n) {}
"""
    k = find_kernel(text, "t.cu", "f")
    assert k.spec_errors == [] and k.spec.buffers[0].dtype == "f16"


def test_parse_spec_direct_lines():
    params = find_kernel(SAXPY_SIG, "k.cu", None).params
    spec, diags = parse_spec([(10, "in x: float[n]"), (11, "/* @kf n = 5 */")], "p.cu", params, "cuda")
    assert spec.buffers[0].name == "x" and spec.variables[0].expr == "5"
    assert all(d.file == "p.cu" for d in diags) and diags
    assert parse_spec([], "p.cu", params, "cuda") == (None, [])


# ---------------------------------------------------------------------------
# drafts
# ---------------------------------------------------------------------------

DRAFT_CASES = [
    ("k.cu", SAXPY_SIG),
    ("k.cu", "__global__ void gemm(const float* A, const float* B, float* C, int M, int N, int K) {}\n"),
    ("k.cu", "__global__ void add(const double* a, const double* b, double* c, size_t count) {}\n"),
    ("k.cu", "__global__ void fill(int* out) {}\n"),
    ("k.cu", "__global__ void blur(const unsigned char* img, unsigned char* dst, int width, int height, int stride) {}\n"),
    ("k.cu", "template <int BLOCK = 256>\n__global__ void red(const float* x, float* sum, int n) {}\n"),
    ("k.cpp", "SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))\n"
              "void scale(const float* x, float* y, float s, int n) {}\n"),
    ("k.cpp", "SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<2>))\n"
              "void tr(const float* a, float* b, int rows, int cols) {}\n"),
]


@pytest.mark.parametrize("path, sig", DRAFT_CASES)
@pytest.mark.parametrize("comment", ["//", "/*"])
def test_draft_round_trips(path, sig, comment):
    (k,) = find_kernels(sig, path)
    draft = draft_spec(k, comment)
    assert draft.endswith("\n")
    (again,) = find_kernels(draft + sig, path)
    assert again.spec_errors == [], draft
    assert len(again.spec.buffers) == sum(p.is_pointer for p in k.params)


def test_draft_content():
    (k,) = find_kernels(SAXPY_SIG, "k.cu")
    assert draft_spec(k) == """\
// @kf in  x: float[n]
// @kf in  y: float[n]
// @kf out out: float[n]
// @kf a = 1.5
// @kf n = 1 << 20
// @kf grid cdiv(n, 256)
// @kf block 256
// @kf check n = 1000
// @kf check n = 4097
"""
    (g,) = find_kernels(DRAFT_CASES[1][1], "k.cu")
    d = draft_spec(g)
    assert "A: float[M*K]" in d and "B: float[K*N]" in d and "C: float[M*N]" in d
    assert "// @kf M = 1024\n" in d
    (s,) = find_kernels(DRAFT_CASES[6][1], "k.cpp")
    assert "// @kf global roundup(n, 256)\n// @kf local 256\n" in draft_spec(s)
    (t,) = find_kernels(DRAFT_CASES[5][1], "k.cu")
    assert "// @kf block BLOCK\n" in draft_spec(t) and "tune BLOCK = 64, 128, 256, 512" in draft_spec(t)


# ---------------------------------------------------------------------------
# contracts
# ---------------------------------------------------------------------------

REF = SAXPY_SPEC + SAXPY_SIG


def contract(candidate: str) -> list[str]:
    return check_contract(find_kernel(REF, "k.cu", None), find_kernel(candidate, "k.cu", None))


def test_contract_ok_for_body_and_launch_changes():
    cand = SAXPY_SPEC.replace("64, 128, 256, 512", "128, 1024").replace("cdiv(n, BLOCK)", "cdiv(n, BLOCK * 4)")
    body = SAXPY_SIG.replace("{}", "{ int i = threadIdx.x; out[i] = a * x[i] + y[i]; }")
    assert contract(cand + body) == []
    # the candidate may omit variables and buffers: the reference's apply
    assert contract("// @kf grid 1\n// @kf block 1\n" + SAXPY_SIG) == []
    # whitespace in expressions and type spellings do not matter
    assert contract(SAXPY_SPEC.replace("float[n]", "f32[ n ]") + SAXPY_SIG.replace("int n", "int32_t n")) == []


@pytest.mark.parametrize("candidate, fragment", [
    (SAXPY_SPEC + SAXPY_SIG.replace("saxpy", "saxpy2"), "kernel name changed: 'saxpy' -> 'saxpy2'"),
    (SAXPY_SPEC + SAXPY_SIG.replace(", int n)", ")"), "parameter count changed: 5 -> 4"),
    (SAXPY_SPEC + SAXPY_SIG.replace("float a", "double a"), "parameter 4 'a' changed type: `float` -> `double`"),
    (SAXPY_SPEC + SAXPY_SIG.replace("const float* y", "float* y"), "parameter 2 'y' changed type"),
    (SAXPY_SPEC + SAXPY_SIG.replace("float* out", "double* out"), "parameter 3 'out' changed type"),
    (SAXPY_SPEC + SAXPY_SIG.replace("int n", "int count"), "parameter 5 renamed: 'n' -> 'count'"),
    (SAXPY_SPEC.replace("out out: float[n]", "out out: float[n / 2]") + SAXPY_SIG,
     "buffer 'out' changed length: `n` -> `n / 2`"),
    (SAXPY_SPEC.replace("in  y", "inout y") + SAXPY_SIG, "buffer 'y' changed role: `in` -> `inout`"),
    (SAXPY_SPEC.replace("n = 1 << 20", "n = 1000") + SAXPY_SIG, "variable 'n' changed: `1 << 20` -> `1000`"),
    (SAXPY_SPEC.replace("a = 2.5", "a = 0") + SAXPY_SIG, "variable 'a' changed"),
])
def test_contract_changes_detected(candidate, fragment):
    problems = contract(candidate)
    assert any(fragment in p for p in problems), problems


def test_contract_size_variable_behind_a_buffer():
    ref = "// @kf in x: float[total]\n// @kf total = 4 * 256\n// @kf grid 1\n// @kf block 1\n" \
          "__global__ void f(const float* x) {}\n"
    cand = ref.replace("4 * 256", "8")
    problems = check_contract(find_kernel(ref, "k.cu", None), find_kernel(cand, "k.cu", None))
    assert problems == ["variable 'total' changed: `4 * 256` -> `8` (it sets a parameter or a buffer size)"]
