// A correct reordering of examples/sycl/atomic_sum.cpp: a work-group reduction first,
// then one atomic per work-group. Its float sum differs from the original's by more
// than the default tolerance, but within the original's own spread.
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
  float v = i < (size_t)n ? x[i] : 0.0f;
  float part = sycl::reduce_over_group(it.get_group(), v, sycl::plus<float>());
  if (it.get_local_id(0) == 0) {
    sycl::atomic_ref<float, sycl::memory_order::relaxed, sycl::memory_scope::device,
                     sycl::access::address_space::global_space> total(*sum);
    total.fetch_add(part);
  }
}
