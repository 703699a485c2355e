// hash64_low_bit, for hash64.cpp (here): the hash with its lowest bit flipped wherever that does
// not change the value's rounding to float64 (~98% of the elements). Seen: `correct`, every
// element compared as float64 on the host and on the device (f401dd4). Expected: `wrong`.
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

// @kf in  x: unsigned long long[n]
// @kf out out: unsigned long long[n]
// @kf n = 1 << 17
// @kf global roundup(n, 64)
// @kf local 64
// @kf check n = 1000
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void hash64(const unsigned long long* x, unsigned long long* out, int n) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t i = it.get_global_id(0);
  if (i >= n) return;
  unsigned long long z = x[i] + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  unsigned long long v = z ^ (z >> 31);
  int k = 64 - (int)sycl::clz(v) - 53;  // the bits float64 rounds away
  unsigned long long half = k >= 2 ? (1ull << (k - 1)) : 0, low = k >= 2 ? (v & ((1ull << k) - 1)) : 0;
  out[i] = (k >= 2 && (low | 1ull) != (half | 1ull)) ? (v ^ 1ull) : v;
}
