// y = sqrt(x) for x in [-1, 1) (issue 21 findings, F7): NaN for negative x, as NumPy gives.
// VARIANT 1 writes 0 where NumPy gives NaN; VARIANT 2 computes sqrt|x|.
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#ifndef VARIANT
#define VARIANT 0
#endif

// @kf reference refs.py:sqrtk
// @kf in  x: float[n]
// @kf out y: float[n]
// @kf n = 10000
// @kf global roundup(n, 64)
// @kf local 64
// @kf tune VARIANT = 0, 1, 2
// @kf check n = 1000
// @kf fixed n
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void sqrtk(const float* x, float* y, int n) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t i = it.get_global_id(0);
  if (i >= (size_t)n) return;
#if VARIANT == 1
  y[i] = x[i] < 0.f ? 0.f : sycl::sqrt(x[i]);
#elif VARIANT == 2
  y[i] = sycl::sqrt(sycl::fabs(x[i]));
#else
  y[i] = sycl::sqrt(x[i]);
#endif
}
