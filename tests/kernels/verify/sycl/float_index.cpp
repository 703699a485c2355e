// Hostile saxpy (issue 19, seen): the element index goes through a float, exact only up to
// 2^24: above it neighbouring work-items round to the same element and others are never
// written. Right at every size up to the default (2^22). Expected verdict: unwritten (or
// wrong), at the size kf checks above the default.
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
// @kf global roundup(n, WG_SIZE)
// @kf local WG_SIZE
// @kf tune WG_SIZE = 16, 64, 256, 1024
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void saxpy(const float* x, const float* y, float* out, float a, int n) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  float fi = (float)it.get_global_id(0);
  size_t i = (size_t)fi;
  if (i < (size_t)n) out[i] = a * x[i] + y[i];
}
