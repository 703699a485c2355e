// KernelBench level 1, task 47 (sum over dim 1, tests/data/kernelbench) as the reference of an
// original with a bug (issue 21 findings, F1): BUG 1 skips the last row, BUG 7 the first,
// BUG 0 sums them all. An original that disagrees with its reference is an error, never the
// yardstick a candidate is judged "no worse" against.
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#ifndef BUG
#define BUG 1
#endif

// @kf reference ../../data/kernelbench/47_Sum_reduction_over_a_dimension.py
// @kf in  x: float[batch_size * dim1 * dim2]
// @kf out y: float[batch_size * dim2]
// @kf batch_size = 4
// @kf dim1 = 64
// @kf dim2 = 63
// @kf global roundup(batch_size * dim2, 64)
// @kf local 64
// @kf tune BUG = 0, 1, 7
// @kf check batch_size = 3, dim1 = 17, dim2 = 5
// @kf fixed dim1
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void sum_dim1(const float* x, float* y, int batch_size, int dim1, int dim2) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t i = it.get_global_id(0);
  if (i >= (size_t)batch_size * dim2) return;
  size_t b = i / dim2, j = i % dim2;
  float s = 0.f;
#if BUG == 1
  for (int k = 0; k < dim1 - 1; ++k) s += x[(b * dim1 + k) * dim2 + j];
#elif BUG == 7
  for (int k = 1; k < dim1; ++k) s += x[(b * dim1 + k) * dim2 + j];
#else
  for (int k = 0; k < dim1; ++k) s += x[(b * dim1 + k) * dim2 + j];
#endif
  y[i] = s;
}
