// kf red-team candidate for examples/sycl/saxpy.cpp: wrong (x clamped to [-1, 1]) only where
// 2^18 < n < 2^22: right at the default 2^22, above it, and at every size of at most 1/16 of the
// default (the residue, all-at-once and random sizes kf derives since e58b283).
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
// @kf check n = 1000
// @kf check n = 4097
// @kf check n = 1
// @kf flops 2 * n
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void saxpy(const float* x, const float* y, float* out, float a, int n) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t i = it.get_global_id(0);
  if (i < n) out[i] = a * ((n > (1 << 18) && n < (1 << 22)) ? sycl::fmin(sycl::fmax(x[i], -1.0f), 1.0f) : x[i]) + y[i];
}
