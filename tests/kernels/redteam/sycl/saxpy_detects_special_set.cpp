// kf red-team candidate (SYCL) for examples/sycl/saxpy.cpp: tells kf's special input set apart
// from the ordinary ones by 8 sampled elements (mean |x| in (0.25, 0.75): uniform [-1, 1) inputs,
// not the special set, whose values are all scaled up or down), and only then clamps x to [-1, 1]:
// wrong for any input with a few |x| > 1 among ordinary values, which no kf input set has.
// Expected (ideal): wrong. Seen: correct (the special set is recognisable as a whole).
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
  float m = 0.0f;
  for (int k = 0; k < 8; ++k) m += sycl::fabs(x[(size_t)k * (size_t)(n / 8)]);
  bool looks_ordinary = n >= 8 && m > 2.0f && m < 6.0f;
  if (i < n) out[i] = a * (looks_ordinary ? sycl::fmin(sycl::fmax(x[i], -1.0f), 1.0f) : x[i]) + y[i];
}
