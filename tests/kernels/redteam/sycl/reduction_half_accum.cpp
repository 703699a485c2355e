// kf red-team candidate (SYCL) for examples/sycl/reduction.cpp: loads and accumulates in half
// precision (a "mixed precision" shortcut): sums of ~128 terms of magnitude ~0.5 lose about
// 1e-2 absolute. Expected: wrong.
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#define WG_SIZE 32
// @kf in  x: float[n]
// @kf out partial: float[cdiv(n, chunk)]
// @kf n = 1 << 22
// @kf chunk = 4096
// @kf global cdiv(n, chunk) * WG_SIZE
// @kf local WG_SIZE
// @kf tune WG_SIZE = 8, 32, 128, 512
// @kf check n = 1000
// @kf check n = 4097, chunk = 1000
// @kf check n = 100003, chunk = 333
// @kf tol rtol=1e-4 atol=5e-4
// @kf flops n
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void reduce_sum(const float* x, float* partial, int n, int chunk) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t g = it.get_group(0);
  size_t lid = it.get_local_id(0);
  size_t begin = g * chunk;
  size_t end = begin + chunk < (size_t)n ? begin + chunk : (size_t)n;
  sycl::half v = 0;
  for (size_t j = begin + lid; j < end; j += WG_SIZE) v += (sycl::half)x[j];
  float total = sycl::reduce_over_group(it.get_group(), (float)v, sycl::plus<float>());
  if (lid == 0) partial[g] = total;
}
