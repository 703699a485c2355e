// Hostile saxpy standing in for a race that shows on some runs only: right on the first and
// second launch in a row at one size, wrong on the third (a device_global keeps the last size
// and how many launches in a row had it; one work-group, so a barrier orders the update).
// Small sizes only, so the timing loop's many launches at the default size stay right.
// Before, no size ran three times in a row. Expected verdict: nondeterministic.
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#ifndef WG_SIZE
#define WG_SIZE 64
#endif

// @kf begin
syclexp::device_global<int[2]> kf_streak;  // the last n, launches in a row with it
// @kf in  x: float[n]
// @kf in  y: float[n]
// @kf out out: float[n]
// @kf n = 1 << 22
// @kf a = 2.5
// @kf global WG_SIZE
// @kf local WG_SIZE
// @kf tune WG_SIZE = 16, 64, 256, 1024
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void saxpy(const float* x, const float* y, float* out, float a, int n) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  syclexp::work_group_static<int> bad;
  size_t lid = it.get_local_id(0);
  if (lid == 0) {
    if (kf_streak[0] == n) kf_streak[1] += 1; else { kf_streak[0] = n; kf_streak[1] = 1; }
    bad = kf_streak[1] >= 3 && n < 2000;
  }
  sycl::group_barrier(it.get_group());
  for (size_t i = lid; i < (size_t)n; i += WG_SIZE) out[i] = a * x[i] + y[i] + (bad && i == 0 ? 1.0f : 0.0f);
}
// @kf end
