// The candidate: y = 2 x in float, right at every size.
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
  if (i < (size_t)n) y[i] = x[i] + x[i];
}
