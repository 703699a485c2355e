// kf red-team candidate (SYCL) for exp8.cpp: from n = 1000 on (exact at kf's small sizes), writes 0 wherever
// exp(8 x) < 0.02 (x < -0.489, about 25% of the ordinary inputs): 100% relative error there, but
// within an absolute tolerance of 1e-4 x the whole buffer's rms (~374: atol 0.037), which the few
// large outputs set. Expected: wrong (KernelBench's absolute 1e-4 rejects it too).
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#define WG_SIZE 64
// @kf in  x: float[n]
// @kf out out: float[n]
// @kf n = 1 << 20
// @kf global roundup(n, WG_SIZE)
// @kf local WG_SIZE
// @kf tune WG_SIZE = 64, 256
// @kf check n = 1000
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void exp8(const float* x, float* out, int n) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t i = it.get_global_id(0);
  if (i < n) out[i] = n >= 1000 && x[i] < -0.489f ? 0.0f : sycl::exp(8.0f * x[i]);
}
