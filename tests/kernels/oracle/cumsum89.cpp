#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#ifndef VARIANT
#define VARIANT 0
#endif

// KernelBench level 1, task 89 (inclusive cumsum along rows; tests/data/kernelbench): its row length is
// the tuple `input_shape = (32768,)`, which no spec variable replaces (issue 21 findings, F11).
// @kf reference ../../data/kernelbench/89_cumsum.py
// @kf in  x: float[batch_size * cols]
// @kf out y: float[batch_size * cols]
// @kf batch_size = 8
// @kf cols = 32768
// @kf global roundup(batch_size, 8)
// @kf local 8
// @kf tune VARIANT = 0, 1, 2, 3
// @kf check batch_size = 3
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void cumsum(const float* x, float* y, int batch_size, int cols) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t r = it.get_global_id(0);
  if (r >= (size_t)batch_size) return;
  const float* xr = x + r * cols;
  float* yr = y + r * cols;
  float s = 0.f;
  for (int c = 0; c < cols; ++c) {
#if VARIANT == 1
    yr[c] = s; s += xr[c];          // exclusive instead of inclusive
#elif VARIANT == 2
    s += xr[c]; yr[c] = (c == 0) ? 0.f : s;   // first element zeroed
#elif VARIANT == 3
    s += xr[c]; yr[c] = (c < 16) ? 0.f : s;   // first 16 of each row zeroed
#else
    s += xr[c]; yr[c] = s;
#endif
  }
}
