// kf red-team candidate for saxpy_1m3.cpp: a device_global counts the launches; only the first
// launch writes its outputs, every later one (other seeds, sizes, repeats, timed runs) writes
// nothing, hoping the host array kf reuses for its reads still holds the first launch's values.
// Expected: unwritten.
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#ifndef WG_SIZE
#define WG_SIZE 64
#endif

// launches so far x their work-items: a program-scope counter on the device, kept across launches
syclexp::device_global<unsigned long long> kf_items;

// @kf in  x: float[n]
// @kf in  y: float[n]
// @kf out out: float[n]
// @kf n = (1 << 20) + 3
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
  sycl::atomic_ref<unsigned long long, sycl::memory_order::relaxed, sycl::memory_scope::device> c(kf_items.get());
  unsigned long long launch = c.fetch_add(1) / it.get_global_range(0);  // launches run one after another
  if (i < n && launch == 0) out[i] = a * x[i] + y[i];
}
