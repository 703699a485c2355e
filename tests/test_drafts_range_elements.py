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
