// kf red-team candidate (SYCL) for log_abs.cpp (here): a "fast" log that holds its argument at
// 2^-24 for normal |x| below it (zeros and subnormals take the exact path): right on every
// ordinary input (uniform [-1, 1) has no nonzero |x| below 2^-23), on NaN, Inf and subnormals;
// wrong only for tiny normal magnitudes. Seen on main: correct whenever the special set scaled x
// up (3 evaluations in 4). Expected: wrong in every evaluation (each special set holds values
// far below the range).
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
  if (i < n) {
    float a = sycl::fabs(x[i]);
    bool tiny_normal = a >= 1.17549435e-38f && a < 5.9604645e-8f;
    out[i] = sycl::log(tiny_normal ? 5.9604645e-8f : a);
  }
}
