// kf red-team candidate (SYCL) for examples/sycl/saxpy.cpp: correct, but its spec claims the
// kernel moves 4 bytes, so a bandwidth above the device's peak (the sign of cached or skipped
// work) would never be flagged. Expected: the bytes of the problem are the original's.
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#define WG_SIZE 64
// @kf in  x: float[n]
// @kf in  y: float[n]
// @kf out out: float[n]
// @kf n = 1 << 22
// @kf a = 2.5
// @kf local WG_SIZE
// @kf tune WG_SIZE = 64, 256
// @kf check n = 1000
// @kf check n = 4097
// @kf check n = 1
// @kf flops 2 * n
// @kf global roundup(n, WG_SIZE)
// @kf bytes 4
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void saxpy(const float* x, const float* y, float* out, float a, int n) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t i = it.get_global_id(0);
  if (i < n) out[i] = a * x[i] + y[i];
}
