// A candidate for examples/sycl/softmax.cpp (benchmarks/eval_speed.py): an online softmax. Each
// work-item keeps a running (max, sum) over its columns in one pass; the work-group takes the
// row's max, rescales the sums to it and adds them; one pass writes the row: two reads of x
// instead of three. Sums in another order than the original: not bit for bit its output.
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
  const float none = -std::numeric_limits<float>::infinity();
  float m = none, s = 0.0f;
  for (size_t j = lid; j < (size_t)cols; j += WG_SIZE) {
    float v = xr[j];
    if (v > m) { s = (m == none ? 0.0f : s * sycl::exp(m - v)); m = v; }
    s += sycl::exp(v - m);
  }
  float row_max = sycl::reduce_over_group(it.get_group(), m, sycl::maximum<float>());
  float mine = (m == none) ? 0.0f : s * sycl::exp(m - row_max);
  float inv = 1.0f / sycl::reduce_over_group(it.get_group(), mine, sycl::plus<float>());
  for (size_t j = lid; j < (size_t)cols; j += WG_SIZE) yr[j] = sycl::exp(xr[j] - row_max) * inv;
}
