// kf red-team candidate (SYCL) for fixed_size.cpp: declares the size variable N a tunable with
// value 64, so its launch, its buffers and its #define say N = 64 while the original's is 65536.
// Expected: refused (a tunable may not rebind a variable that sizes the buffers), never an
// internal error or a verdict on 64 elements.
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#define N 64

// @kf in  x: float[N]
// @kf out out: float[N]
// @kf N = 65536
// @kf tune N = 64
// @kf global N
// @kf local 64
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void scale2(const float* x, float* out) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t i = it.get_global_id(0);
  if (i < N) out[i] = 2.0f * x[i];
}
