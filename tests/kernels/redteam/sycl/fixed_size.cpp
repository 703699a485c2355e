// kf red-team reference (SYCL): a kernel whose size is a compile-time constant N (no size
// parameter); the spec names it as a variable that sizes the buffers.
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#define N 65536

// @kf in  x: float[N]
// @kf out out: float[N]
// @kf N = 65536
// @kf global N
// @kf local 64
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void scale2(const float* x, float* out) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t i = it.get_global_id(0);
  if (i < N) out[i] = 2.0f * x[i];
}
