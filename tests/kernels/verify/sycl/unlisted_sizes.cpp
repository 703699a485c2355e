// Hostile saxpy: wrong for 5000 <= n < 4000000, sizes no spec line and no size kf derives
// by rule reach (the listed ones are 1, 1000, 4097 and 2^22; the derived ones are small or
// above the default), so only a size nobody can know in advance catches it.
// Expected verdict: wrong, at the random size when it falls in that range.
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
  size_t i = it.get_global_id(0);
  if (i < n) out[i] = (n >= 5000 && n < 4000000) ? a * x[i] : a * x[i] + y[i];
}
