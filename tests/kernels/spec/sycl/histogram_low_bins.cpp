// A wrong variant of examples/sycl/histogram.cpp: values of 64 and above are dropped.
// Inputs limited to 0..63 (kf's old default for integers) would never show it.
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
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void histogram(const unsigned char* data, unsigned int* hist, int n) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t i = it.get_global_id(0);
  if (i < (size_t)n && data[i] < 64) {
    sycl::atomic_ref<unsigned int, sycl::memory_order::relaxed, sycl::memory_scope::device,
                     sycl::access::address_space::global_space> bin(hist[data[i]]);
    bin.fetch_add(1u);
  }
}
