// reduction: partial sums. Work-group g sums the chunk x[g*chunk, min((g+1)*chunk, n))
// into partial[g]; the chunk length is part of the problem (not of the launch), so
// every variant must produce the same partial sums whatever its work-group size.
// (A single atomically accumulated total, with an output that starts at zero, is
// sycl/atomic_sum.cpp.)
// The work-group size WG_SIZE must equal the `local` size (the loop strides by it).
// Naive on purpose: a strided per-work-item sum, then a work-group reduction
// (sycl::reduce_over_group). Sub-group reductions, vector loads and fewer, larger
// work-groups are left to do.
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#ifndef WG_SIZE
#define WG_SIZE 32
#endif

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
  float v = 0.0f;
  for (size_t j = begin + lid; j < end; j += WG_SIZE) v += x[j];
  float total = sycl::reduce_over_group(it.get_group(), v, sycl::plus<float>());
  if (lid == 0) partial[g] = total;
}
