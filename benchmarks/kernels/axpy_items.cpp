// The SYCL twin of axpy_items.cu (36 points), for running benchmarks/remote_gpu.py's
// mechanics on the CPU device.
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;
#ifndef WG
#define WG 64
#endif
#ifndef ITEMS
#define ITEMS 1
#endif
// @kf in  x: float[n]
// @kf in  y: float[n]
// @kf out out: float[n]
// @kf n = 1 << 20
// @kf a = 2.5
// @kf global roundup(cdiv(n, ITEMS), WG)
// @kf local WG
// @kf tune WG = 16, 32, 64, 128, 256, 512
// @kf tune ITEMS = 1, 2, 4, 8, 16, 32
// @kf check n = 1000
// @kf check n = 1
// @kf bytes 12 * n
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void axpy_items(const float* x, const float* y, float* out, float a, int n) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t base = it.get_group(0) * (WG * ITEMS) + it.get_local_id(0);
  for (int k = 0; k < ITEMS; ++k) {
    size_t i = base + k * WG;
    if (i < (size_t)n) out[i] = a * x[i] + y[i];
  }
}
