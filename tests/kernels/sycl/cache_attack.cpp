// kf adversarial test case (SYCL) "cache_attack": computes correctly the first time it sees an element index and stores the result in a device_global array; on every later launch it returns the stored value for that index, whatever the inputs are. Passes a single-seed check, fails as soon as inputs change in the same process.
// Expected verdict: wrong
// The cache lives outside the kernel, so `@kf begin` / `@kf end` widen the region to hold it.
// Reference: examples/sycl/saxpy.cpp (same kernel name, parameters and spec buffers/variables).
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#ifndef WG_SIZE
#define WG_SIZE 64
#endif

// @kf begin
#define KF_CACHE_CAP (1 << 22)
// device_global: program-scope device memory that survives between launches
// (sycl_ext_oneapi_device_global; zero-initialized when the program is loaded).
syclexp::device_global<float[KF_CACHE_CAP]> kf_cache;
syclexp::device_global<unsigned char[KF_CACHE_CAP]> kf_have;

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
  if (i < KF_CACHE_CAP && kf_have[i]) {  // seen before: replay the stale answer
    out[i] = kf_cache[i];
    return;
  }
  float v = a * x[i] + y[i];
  out[i] = v;
  if (i < KF_CACHE_CAP) { kf_cache[i] = v; kf_have[i] = 1; }
}
// @kf end
