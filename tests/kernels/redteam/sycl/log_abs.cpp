// kf red-team reference (SYCL): out = log|x| (NaN stays NaN, 0 gives -Inf, Inf gives Inf).
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#define WG_SIZE 64
// @kf in  x: float[n]
// @kf out out: float[n]
// @kf n = 1 << 16
// @kf global roundup(n, WG_SIZE)
// @kf local WG_SIZE
// @kf tune WG_SIZE = 64, 256
// @kf check n = 1000
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void log_abs(const float* x, float* out, int n) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t i = it.get_global_id(0);
  if (i < n) out[i] = sycl::log(sycl::fabs(x[i]));
}
