// s = sum(x) by one work-item in index order (issue 21 findings, F6); REVERSED 1 sums the same
// floats in the other order: exactly as accurate in distribution, and accepted every time.
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#ifndef REVERSED
#define REVERSED 0
#endif

// @kf reference refs.py:total
// @kf in  x: float[n]
// @kf out s: float[1]
// @kf n = 1 << 20
// @kf global 1
// @kf local 1
// @kf tune REVERSED = 0, 1
// @kf check n = 100000
// @kf fixed n
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void seqsum(const float* x, float* s, int n) {
  float acc = 0.f;
#if REVERSED
  for (int i = n - 1; i >= 0; --i) acc += x[i];
#else
  for (int i = 0; i < n; ++i) acc += x[i];
#endif
  s[0] = acc;
}
