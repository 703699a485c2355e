// 1-D SYCL kernel with a buffer of another length: out[i] = max(in[i] + bias[i % channels], 0).
// `kf spec` must draft bias as float[channels], not float[n].
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#ifndef WG_SIZE
#define WG_SIZE 128
#endif

extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void bias_relu(const float* in, const float* bias, float* out, int n, int channels) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t i = it.get_global_id(0);
  if (i < (size_t)n) {
    float v = in[i] + bias[i % channels];
    out[i] = v > 0.0f ? v : 0.0f;
  }
}
