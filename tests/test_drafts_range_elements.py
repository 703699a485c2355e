"""A `sycl::range` resized in place between two launches (`gws[0] = kBlock * kThreadInBlock;`,
HeCBench relu-sycl) is what the later launch sees: the draft follows the element assignment
instead of the declaration's stale value (which left half of relu_impl2's output unwritten),
and says it cannot tell where the assignment is conditional."""

from __future__ import annotations

from pathlib import Path

from backends.kernel.scanner import find_kernels
from backends.kernel.spec import draft_spec

CORPUS = Path(__file__).resolve().parent / "corpus"


def _draft(text: str, path: str, kernel: str) -> str:
    k = next(k for k in find_kernels(text, path) if k.name == kernel)
    return draft_spec(k, text=text, path=path)


def test_a_launch_after_gws_0_is_reassigned_gets_the_new_global_size():
    path = CORPUS / "hecbench/src/relu-sycl/main.cpp"
    text = path.read_text()
    # launched before the reassignment: the declaration's divup(divup(count, 2), 256) groups
    assert "// @kf global roundup(cdiv(count, 2), 256)" in _draft(text, str(path), "ReluGrad_impl1")
    # after `kBlock = divup(count, kThreadInBlock); gws[0] = kBlock * kThreadInBlock;`
    for kernel in ("relu_impl1", "relu_impl2"):
        assert "// @kf global roundup(count, 256)" in _draft(text, str(path), kernel), kernel


_RANGE = '''#include <sycl/sycl.hpp>
int main(int argc, char** argv) {
  sycl::queue q;
  const int n = 1 << 20;
  float* y = sycl::malloc_device<float>(n, q);
  sycl::range<1> gws(n / 2);
  gws[0] = n;
  q.parallel_for(gws, [=](sycl::id<1> i) { y[i] = 1.0f; }).wait();
  if (q.get_device().is_gpu()) gws[0] = 7;
  q.parallel_for(gws, [=](sycl::id<1> i) { y[i] = 1.0f; }).wait();
  return 0;
}
'''


def test_a_range_passed_directly_follows_its_elements_or_is_left_unknown(tmp_path):
    path = tmp_path / "r.cpp"
    path.write_text(_RANGE)
    first = _draft(_RANGE, str(path), "main#1")
    assert "// @kf global n" in first, first
    second = _draft(_RANGE, str(path), "main#2")  # changed under a condition kf cannot decide: no stale value
    assert "// @kf global ?" in second and "kf could not follow `gws` (changed conditionally" in second, second


_STENCIL = '''#include <sycl/sycl.hpp>
using namespace sycl;
int main() {
  queue q;
  const size_t N = 16;
  const size_t M = 16;
  DECLARATIONS
  buffer<float, 2> in(alloc_range), out(alloc_range);
  q.submit([&](handler& h) {
    accessor a(in, h, read_only);
    accessor b(out, h, write_only);
    h.parallel_for(nd_range<2>(inner, range<2>(4, 4)), [=](nd_item<2> it) {
      size_t i = it.get_global_id(0) + 1, j = it.get_global_id(1) + 1;
      b[i][j] = a[i - 1][j] + a[i + 1][j] + a[i][j - 1] + a[i][j + 1];
    });
  });
  return 0;
}
'''


def test_two_ranges_declared_in_one_declaration_draft_as_two_declarations_do(tmp_path):
    """`range<2> inner(N, M), padded(N + 2, M + 2);` (tree-sitter reads it as a comma expression
    of `range < 2 > inner(N, M)` and a call) drafted `float[?]` lengths and a launch of
    `roundup(1, 16)` with no word of why, where two declarations drafted the launch in full."""
    drafts = []
    for decls in ("range<2> inner(N, M);\n  range<2> alloc_range(N + 2, M + 2);",
                  "range<2> inner(N, M), alloc_range(N + 2, M + 2);"):
        text = _STENCIL.replace("DECLARATIONS", decls)
        path = tmp_path / "stencil.cpp"
        path.write_text(text)
        drafts.append(_draft(text, str(path), "main#1"))
    assert "// @kf global N, M" in drafts[0] and "float[(N + 2) * (M + 2)]" in drafts[0], drafts[0]
    spec_lines = [[x for x in d.splitlines() if "@kf" in x] for d in drafts]  # (the launch's line differs)
    assert spec_lines[1] == spec_lines[0], drafts[1]


def test_a_kernel_with_no_bound_and_no_launch_kf_can_read_gets_a_placeholder_and_why(tmp_path):
    """The body-only draft (no launch kf could follow) guessed one block, `roundup(1, 16)`, for a
    kernel with no size parameter: a spec that runs and checks almost nothing. Now `?` and a note."""
    text = _STENCIL.replace("DECLARATIONS", "range<2> alloc_range(N + 2, M + 2);").replace(
        "nd_range<2>(inner, range<2>(4, 4))", "nd_range<2>(make_inner(), range<2>(4, 4))")
    path = tmp_path / "stencil.cpp"
    path.write_text(text)
    d = _draft(text, str(path), "main#1")
    assert "roundup(1," not in d, d
    assert "// @kf global ?, ?" in d or "// @kf global ?" in d, d
    assert "kf:" in d.split("@kf global")[0], d  # a note above the placeholder says why
