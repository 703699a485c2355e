// A wrong sum for examples/sycl/atomic_sum.cpp: the elements of odd work-groups are
// left out. Must be rejected even though the original's spread widens the tolerance.
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#ifndef WG_SIZE
#define WG_SIZE 64
#endif

// @kf in  x: float[n]
// @kf out sum: float[1] start 0
// @kf n = 1 << 20
// @kf global roundup(n, WG_SIZE)
// @kf local WG_SIZE
// @kf tune WG_SIZE = 16, 64, 256
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void atomic_sum(const float* x, float* sum, int n) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t i = it.get_global_id(0);
  float v = i < (size_t)n && it.get_group(0) % 2 == 0 ? x[i] : 0.0f;
  float part = sycl::reduce_over_group(it.get_group(), v, sycl::plus<float>());
  if (it.get_local_id(0) == 0) {
    sycl::atomic_ref<float, sycl::memory_order::relaxed, sycl::memory_scope::device,
                     sycl::access::address_space::global_space> total(*sum);
    total.fetch_add(part);
  }
}
