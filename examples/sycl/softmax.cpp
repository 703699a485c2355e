// softmax: every row of x[rows x cols] to exp(x - max) / sum(exp(x - max)), one work-group per
// row, over a language model's vocabulary (50257 columns; 64 rows here, a size for the CPU
// device: the CUDA example takes 8192). Naive on purpose: three passes over the row (max, sum,
// write) with work-group reductions. An online softmax (max and sum in one pass) and vector
// loads are left to do.
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#ifndef WG_SIZE
#define WG_SIZE 64
#endif

// @kf in  x: float[rows * cols]
// @kf out y: float[rows * cols]
// @kf rows = 64
// @kf cols = 50257
// @kf global rows * WG_SIZE
// @kf local WG_SIZE
// @kf tune WG_SIZE = 16, 64, 256
// @kf check rows = 3, cols = 1000
// @kf check rows = 17, cols = 4097
// @kf check rows = 1, cols = 1
// @kf tol rtol=1e-4 atol=1e-9
// @kf flops 5 * rows * cols
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void softmax_rows(const float* x, float* y, int rows, int cols) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t r = it.get_group(0);
  size_t lid = it.get_local_id(0);
  const float* xr = x + r * cols;
  float* yr = y + r * cols;
  float m = -std::numeric_limits<float>::infinity();
  for (size_t j = lid; j < (size_t)cols; j += WG_SIZE) m = sycl::fmax(m, xr[j]);
  m = sycl::reduce_over_group(it.get_group(), m, sycl::maximum<float>());
  float sum = 0.0f;
  for (size_t j = lid; j < (size_t)cols; j += WG_SIZE) sum += sycl::exp(xr[j] - m);
  sum = sycl::reduce_over_group(it.get_group(), sum, sycl::plus<float>());
  float inv = 1.0f / sum;
  for (size_t j = lid; j < (size_t)cols; j += WG_SIZE) yr[j] = sycl::exp(xr[j] - m) * inv;
}
