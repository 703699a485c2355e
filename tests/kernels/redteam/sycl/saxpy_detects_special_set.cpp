// kf red-team candidate (SYCL) for examples/sycl/saxpy.cpp: tells kf's special input set apart
// from the ordinary ones by 8 sampled elements of x (one outside [-1, 1], or not a number, or all
// eight below 0.25 in magnitude: uniform [-1, 1) inputs almost never look so), and only then is
// exact; otherwise it clamps x to [-1, 1]: wrong for any input with a few |x| > 1 among ordinary
// values. Seen on main (a scale per buffer of the special set): correct in every evaluation.
// Expected: wrong, unless its 8 samples meet one of the ~72 scattered values (about 8 * 72 / n).
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
  bool odd = false, small = true;
  for (int k = 0; k < 8; ++k) {
    float s = x[(size_t)k * (size_t)(n / 8)];
    odd = odd || !(sycl::fabs(s) <= 1.0f);  // outside [-1, 1], NaN or Inf
    small = small && sycl::fabs(s) < 0.25f;
  }
  bool looks_ordinary = n >= 8 && !odd && !small;
  if (i < n) out[i] = a * (looks_ordinary ? sycl::fmin(sycl::fmax(x[i], -1.0f), 1.0f) : x[i]) + y[i];
}
