// The original: y = 2 x in float, but at sizes n % 8 == 3 (none of the spec's own: kf derives
// n = 67) work-item 0 also stores through a wild pointer (address 0x10, kept by a volatile):
// on the CPU device the process running it gets SIGSEGV. kf must skip that size, go on in a
// fresh worker and still judge the candidate on the other sizes.
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

// @kf in  x: float[n]
// @kf out y: float[n]
// @kf n = 4096
// @kf global roundup(n, 64)
// @kf local 64
// @kf check n = 1000
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void scale(const float* x, float* y, int n) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t i = it.get_global_id(0);
  volatile size_t wild = 0x10;
  if (i < (size_t)n) y[i] = 2.0f * x[i];
  if (i == 0 && n % 8 == 3) *(volatile float*)(wild + 0 * i) = 1.0f;  // page 0 is never mapped
}
