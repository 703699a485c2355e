// histogram: 256 bins of a byte array, one atomic increment per work-item, into bins
// that start at zero before every run (`start 0`). `uint8_t` inputs take all 256
// values by default, so every bin is exercised.
// Naive on purpose: every work-item updates global memory; a per-work-group histogram
// in local memory (syclexp::work_group_static) merged at the end is left to do.
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#ifndef WG_SIZE
#define WG_SIZE 64
#endif

// @kf in  data: uint8_t[n]
// @kf out hist: unsigned[256] start 0
// @kf n = 1 << 20
// @kf global roundup(n, WG_SIZE)
// @kf local WG_SIZE
// @kf tune WG_SIZE = 16, 64, 256
// @kf check n = 1000
// @kf check n = 4097
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void histogram(const unsigned char* data, unsigned int* hist, int n) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t i = it.get_global_id(0);
  if (i < (size_t)n) {
    sycl::atomic_ref<unsigned int, sycl::memory_order::relaxed, sycl::memory_scope::device,
                     sycl::access::address_space::global_space> bin(hist[data[i]]);
    bin.fetch_add(1u);
  }
}
