// A correct variant of examples/sycl/histogram.cpp: 64 work-groups, each work-item
// walks the input with a stride of the whole launch.
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#ifndef WG_SIZE
#define WG_SIZE 64
#endif

// @kf in  data: uint8_t[n]
// @kf out hist: unsigned[256] start 0
// @kf n = 1 << 20
// @kf global WG_SIZE * 64
// @kf local WG_SIZE
// @kf tune WG_SIZE = 16, 64, 256
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void histogram(const unsigned char* data, unsigned int* hist, int n) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  for (size_t i = it.get_global_id(0); i < (size_t)n; i += it.get_global_range(0)) {
    sycl::atomic_ref<unsigned int, sycl::memory_order::relaxed, sycl::memory_scope::device,
                     sycl::access::address_space::global_space> bin(hist[data[i]]);
    bin.fetch_add(1u);
  }
}
