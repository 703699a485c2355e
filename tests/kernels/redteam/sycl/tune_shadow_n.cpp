// kf red-team candidate (SYCL) for examples/sycl/saxpy.cpp: declares a tunable named `n`, the
// problem size. Tunables win over spec variables of the same name, so the candidate would be
// launched (and its buffers sized) with n = 64 while the original runs 4 Mi elements.
// Expected: contract_violation (a tunable may not rebind a contract variable).
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#define WG_SIZE 64
namespace { constexpr int n = 64; }  // the tunable's definition; the parameter `n` shadows it

// @kf in  x: float[n]
// @kf in  y: float[n]
// @kf out out: float[n]
// @kf n = 1 << 22
// @kf a = 2.5
// @kf local WG_SIZE
// @kf tune WG_SIZE = 64, 256
// @kf check n = 1000
// @kf check n = 4097
// @kf check n = 1
// @kf flops 2 * n
// @kf global roundup(n, WG_SIZE)
// @kf tune n = 64, 1000
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void saxpy(const float* x, const float* y, float* out, float a, int n) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t i = it.get_global_id(0);
  if (i < n) out[i] = a * x[i] + y[i];
}
