// kf adversarial test case (SYCL) "good": a correct, different implementation: a grid-stride loop over a capped global range (at most 256 work-groups).
// Expected verdict: correct
// Reference: examples/sycl/saxpy.cpp (same kernel name, parameters and spec buffers/variables).
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#ifndef WG_SIZE
#define WG_SIZE 64
#endif

// @kf in  x: float[n]
// @kf in  y: float[n]
// @kf out out: float[n]
// @kf n = 1 << 22
// @kf a = 2.5
// @kf global WG_SIZE * min(cdiv(n, WG_SIZE), 256)
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
  size_t stride = it.get_global_range(0);
  for (; i < (size_t)n; i += stride) out[i] = sycl::fma(a, x[i], y[i]);
}
