// A candidate for a saxpy whose spec has only its default size n = 1 << 20: it ignores
// n and hard-codes the default. Must be rejected by the sizes kf derives itself.
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

// @kf in  x: float[n]
// @kf in  y: float[n]
// @kf out out: float[n]
// @kf n = 1 << 20
// @kf a = 2.5
// @kf global 1 << 20
// @kf local 64
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void saxpy(const float* x, const float* y, float* out, float a, int n) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t i = it.get_global_id(0);
  if (i < (1 << 20)) out[i] = a * x[i] + y[i];
}
