// atomic_sum: sum += x[i] for every element, one float atomic per work-item, into an
// output that starts at zero before every run (`start 0`). Float atomics make the
// result depend on the order the work-items happen to run in: kf measures the
// original's own spread (it runs it several times on the same inputs) and compares
// candidates within that spread (docs/evaluation.md).
// Naive on purpose: every work-item contends for one address; a work-group reduction
// first (sycl::reduce_over_group) and one atomic per work-group is left to do.
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
// @kf check n = 1000
// @kf check n = 4097
// @kf flops n
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void atomic_sum(const float* x, float* sum, int n) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t i = it.get_global_id(0);
  if (i < (size_t)n) {
    sycl::atomic_ref<float, sycl::memory_order::relaxed, sycl::memory_scope::device,
                     sycl::access::address_space::global_space> total(*sum);
    total.fetch_add(x[i]);
  }
}
