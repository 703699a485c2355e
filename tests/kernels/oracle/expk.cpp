// y = exp(a x) (issue 21 findings, F2 and F3): with a = 12 the outputs span 6e-6 .. 1.6e5, so a
// tolerance scaled by their rms (about 2.4 absolute) let every value below 1 be anything.
// VARIANT 1 writes 0 and VARIANT 2 writes 1 wherever x < 0; VARIANT 3 writes 0 everywhere.
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#ifndef VARIANT
#define VARIANT 0
#endif

// @kf reference refs.py:expk
// @kf in  x: float[n]
// @kf out y: float[n]
// @kf n = 100000
// @kf a = 12.0
// @kf global roundup(n, 64)
// @kf local 64
// @kf tune VARIANT = 0, 1, 2, 3
// @kf check n = 1000
// @kf fixed n
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void expk(const float* x, float* y, float a, int n) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t i = it.get_global_id(0);
  if (i >= (size_t)n) return;
#if VARIANT == 1
  y[i] = x[i] < 0.f ? 0.f : sycl::exp(a * x[i]);
#elif VARIANT == 2
  y[i] = x[i] < 0.f ? 1.0f : sycl::exp(a * x[i]);
#elif VARIANT == 3
  y[i] = 0.f;
#else
  y[i] = sycl::exp(a * x[i]);
#endif
}
