// kf red-team candidate (SYCL) for examples/sycl/saxpy.cpp: right on its first 15 launches
// (the checks), then spins forever: the hang falls in the timing loop, not in the checks.
// Expected: timeout, the worker replaced.
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#define WG_SIZE 64
syclexp::device_global<unsigned[1]> launches;
// @kf in  x: float[n]
// @kf in  y: float[n]
// @kf out out: float[n]
// @kf n = 1 << 22
// @kf a = 2.5
// @kf local WG_SIZE
// @kf tune WG_SIZE = 64, 256
// @kf check n = 1000
// @kf check n = 4097
// @kf check n = 1
// @kf flops 2 * n
// @kf global roundup(n, WG_SIZE)
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void saxpy(const float* x, const float* y, float* out, float a, int n) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t i = it.get_global_id(0);
  bool late = launches[0] > 14u;
  if (i < n) out[i] = a * x[i] + y[i];
  if (late) { volatile float s = 0.f; while (s >= 0.f) s += 1.0f; out[i % n] = s; }
  if (i == 0) launches[0] += 1u;
}
