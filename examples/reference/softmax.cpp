// softmax: each row of a rows x cols matrix to exp(x - max) / sum(exp(x - max)), one
// work-item per row (naive: three passes over the row). With 50,000 columns the outputs
// are near 2e-5, so a fixed absolute tolerance of 1e-4 would accept zeros; kf scales the
// absolute tolerance to the outputs' magnitude (docs/evaluation.md, "Tolerances").
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#ifndef WG_SIZE
#define WG_SIZE 16
#endif

// @kf reference ref.py:softmax
// @kf in  x: float[rows * cols]
// @kf out y: float[rows * cols]
// @kf rows = 64
// @kf cols = 50000
// @kf global roundup(rows, WG_SIZE)
// @kf local WG_SIZE
// @kf tune WG_SIZE = 4, 16, 64
// @kf check rows = 3, cols = 1000
// @kf check rows = 17, cols = 1
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void softmax(const float* x, float* y, int rows, int cols) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t r = it.get_global_id(0);
  if (r >= (size_t)rows) return;
  const float* row = x + r * cols;
  float m = row[0];
  for (int c = 1; c < cols; ++c) m = sycl::fmax(m, row[c]);
  float s = 0.0f;
  for (int c = 0; c < cols; ++c) s += sycl::exp(row[c] - m);
  for (int c = 0; c < cols; ++c) y[r * cols + c] = sycl::exp(row[c] - m) / s;
}
