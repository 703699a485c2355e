// Far less accurate than sum_truncated.cpp (4 bits of mantissa per term): wrong.
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

// @kf reference ../../../examples/reference/ref.py:total
// @kf in  x: float[n]
// @kf out sum: float[1]
// @kf n = 1 << 20
// @kf global 1
// @kf local 1
// @kf check n = 1000
// @kf check n = 4097
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void total(const float* x, float* sum, int n) {
  float acc = 0.0f;
  for (int i = 0; i < n; ++i) acc += sycl::bit_cast<float>(sycl::bit_cast<unsigned>(x[i]) & 0xFFF00000u);
  sum[0] = acc;
}
