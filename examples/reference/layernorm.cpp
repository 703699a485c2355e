// layernorm: each row of a rows x cols matrix normalized to mean 0, variance 1, then
// scaled by gamma and shifted by beta (per column); one work-item per row, two passes.
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#ifndef WG_SIZE
#define WG_SIZE 16
#endif

// @kf reference ref.py:layernorm
// @kf in  x: float[rows * cols]
// @kf in  gamma: float[cols]
// @kf in  beta: float[cols]
// @kf out y: float[rows * cols]
// @kf rows = 256
// @kf cols = 1024
// @kf eps = 1e-5
// @kf global roundup(rows, WG_SIZE)
// @kf local WG_SIZE
// @kf tune WG_SIZE = 4, 16, 64
// @kf check rows = 5, cols = 77
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void layernorm(const float* x, const float* gamma, const float* beta, float* y, int rows, int cols, float eps) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t r = it.get_global_id(0);
  if (r >= (size_t)rows) return;
  const float* row = x + r * cols;
  float mean = 0.0f;
  for (int c = 0; c < cols; ++c) mean += row[c];
  mean /= cols;
  float var = 0.0f;
  for (int c = 0; c < cols; ++c) var += (row[c] - mean) * (row[c] - mean);
  var /= cols;
  float inv = 1.0f / sycl::sqrt(var + eps);
  for (int c = 0; c < cols; ++c) y[r * cols + c] = (row[c] - mean) * inv * gamma[c] + beta[c];
}
