// sum: *sum += x[i] with one float atomic per work-item (naive, like ../sycl/atomic_sum.cpp),
// judged against a Python reference: the float64 sum of the same inputs. The original's own
// rounding error is measured against it, and a candidate passes when it is within the
// tolerance or no less accurate than the original (docs/evaluation.md, "The oracle").
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#ifndef WG_SIZE
#define WG_SIZE 64
#endif

// @kf reference ref.py:total
// @kf in  x: float[n]
// @kf out sum: float[1] start 0
// @kf n = 1 << 20
// @kf global roundup(n, WG_SIZE)
// @kf local WG_SIZE
// @kf tune WG_SIZE = 16, 64, 256
// @kf check n = 1000
// @kf check n = 4097
// @kf flops n
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void sum(const float* x, float* sum, int n) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t i = it.get_global_id(0);
  if (i < (size_t)n) {
    sycl::atomic_ref<float, sycl::memory_order::relaxed, sycl::memory_scope::device,
                     sycl::access::address_space::global_space> total(*sum);
    total.fetch_add(x[i]);
  }
}
