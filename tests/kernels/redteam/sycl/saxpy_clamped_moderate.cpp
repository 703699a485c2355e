// kf red-team candidate (SYCL) for examples/sycl/saxpy.cpp: clamps x to [-1, 1] where |x| < 2^20:
// exact for the ordinary inputs and for NaN, Inf and the huge special value, wrong for the other
// scaled magnitudes. The special values were compared with an atol of 1e-4 x the rms of their own
// outputs, which the huge value sets (1e8 here). Expected: wrong (special input values) in every
// evaluation; on main only when the special set scaled x up (3 in 4): red team finding 7.
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
  if (i < n) out[i] = a * (sycl::fabs(x[i]) < 1048576.0f ? sycl::fmin(sycl::fmax(x[i], -1.0f), 1.0f) : x[i]) + y[i];
}
