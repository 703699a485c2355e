// Hostile saxpy (issue 19, seen): four elements per work-item, and a tail that handles one
// or three leftover elements but drops two, so it is wrong only where n % 4 == 2 (none of
// the spec's sizes, nor the sizes kf derived before). Expected verdict: unwritten.
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#ifndef WG_SIZE
#define WG_SIZE 64
#endif

// @kf in  x: float[n]
// @kf in  y: float[n]
// @kf out out: float[n]
// @kf n = 1 << 22
// @kf a = 2.5
// @kf global roundup(cdiv(n, 4), WG_SIZE)
// @kf local WG_SIZE
// @kf tune WG_SIZE = 16, 64, 256, 1024
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void saxpy(const float* x, const float* y, float* out, float a, int n) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t base = 4 * it.get_global_id(0);
  if (base + 4 <= (size_t)n) {
    for (int k = 0; k < 4; ++k) out[base + k] = a * x[base + k] + y[base + k];
  } else if (base < (size_t)n && (n - base == 1 || n - base == 3)) {
    for (size_t j = base; j < (size_t)n; ++j) out[j] = a * x[j] + y[j];
  }
}
