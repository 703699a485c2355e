// kf hostile candidate (SYCL) "relu_branchless", for relu.cpp: 0.5 * (x + |x|), the same as the
// original for every finite input, but NaN where the original gives 0 (x = -Inf: -Inf + Inf;
// x = NaN). Seen: a candidate mishandling NaN/Inf passed (issue 19). Expected: wrong.
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#ifndef WG_SIZE
#define WG_SIZE 64
#endif

// @kf in  x: float[n]
// @kf out y: float[n]
// @kf n = 1 << 20
// @kf global roundup(n, WG_SIZE)
// @kf local WG_SIZE
// @kf tune WG_SIZE = 64, 256
// @kf check n = 1000
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void relu(const float* x, float* y, int n) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t i = it.get_global_id(0);
  if (i < n) y[i] = 0.5f * (x[i] + sycl::fabs(x[i]));
}
