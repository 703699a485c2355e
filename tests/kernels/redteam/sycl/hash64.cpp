// hash64: out = splitmix64(x), 64-bit hashes: values far beyond 2^53, which float64 cannot hold
// exactly. The reference of hash64_low_bit (red team, device comparison round).
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
  out[i] = z ^ (z >> 31);
}
