// kf hostile candidate (SYCL) "zeros_window", for examples/sycl/saxpy.cpp: counts, per element,
// the launches that computed it (device_global memory), and writes zeros instead of the result
// on that element's launches 14 to 17; right on every other launch. Seen: accepted on the CPU
// and on the H200, because only the last timed run's output was checked (issue 19).
// Expected: wrong (the outputs of the timed trials are verified).
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#ifndef WG_SIZE
#define WG_SIZE 64
#endif

// @kf begin
#define KF_CAP (1 << 22)
syclexp::device_global<unsigned char[KF_CAP]> kf_launches;

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
  if (i >= n) return;
  unsigned launch = 0;
  if (i < KF_CAP) {
    launch = kf_launches[i] + 1u;  // this element's launch number, from 1
    kf_launches[i] = (unsigned char)(launch < 255u ? launch : 255u);
  }
  out[i] = (launch >= 14u && launch <= 17u) ? 0.0f : a * x[i] + y[i];
}
// @kf end
