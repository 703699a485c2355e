// KernelBench level 1, task 23 (tests/data/kernelbench/23_Softmax.py) as the reference for
// a hand-written SYCL kernel: one work-item per row. The module's sizes `batch_size` and
// `dim` are replaced by the spec's variables of the same names.
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

// @kf reference ../../data/kernelbench/23_Softmax.py
// @kf in  x: float[batch_size * dim]
// @kf out y: float[batch_size * dim]
// @kf batch_size = 32
// @kf dim = 50000
// @kf global roundup(batch_size, 8)
// @kf local 8
// @kf check batch_size = 3, dim = 1000
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void softmax(const float* x, float* y, int batch_size, int dim) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t r = it.get_global_id(0);
  if (r >= (size_t)batch_size) return;
  const float* row = x + r * dim;
  float m = row[0];
  for (int c = 1; c < dim; ++c) m = sycl::fmax(m, row[c]);
  float s = 0.0f;
  for (int c = 0; c < dim; ++c) s += sycl::exp(row[c] - m);
  for (int c = 0; c < dim; ++c) y[r * dim + c] = sycl::exp(row[c] - m) / s;
}
