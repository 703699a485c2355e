// kf red-team candidate (SYCL) for examples/sycl/reduction.cpp: compensated (Kahan) summation
// per work-item, then the work-group reduction in double: more accurate than the original.
// Expected: correct (a verdict that rejects it is a bug).
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
  float s = 0.0f, c = 0.0f;
  for (size_t j = begin + lid; j < end; j += WG_SIZE) {
    float y = x[j] - c;
    float t = s + y;
    c = (t - s) - y;
    s = t;
  }
  double total = sycl::reduce_over_group(it.get_group(), (double)s - (double)c, sycl::plus<double>());
  if (lid == 0) partial[g] = (float)total;
}
