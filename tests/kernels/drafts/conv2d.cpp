// A 2-D nd_range SYCL convolution: out[(H-K+1) x (W-K+1)] = in[H x W] (valid) * w[K x K].
// The filter width K bounds the inner loops: a draft must keep it small, or the original
// runs for minutes (the old drafts gave K the image's size).
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<2>))
void conv2d(const float* in, const float* w, float* out, int H, int W, int K) {
  auto it = syclext::this_work_item::get_nd_item<2>();
  size_t r = it.get_global_id(0);
  size_t c = it.get_global_id(1);
  int outH = H - K + 1;
  int outW = W - K + 1;
  if (r < (size_t)outH && c < (size_t)outW) {
    float acc = 0.0f;
    for (int i = 0; i < K; ++i)
      for (int j = 0; j < K; ++j)
        acc += in[(r + i) * W + (c + j)] * w[i * K + j];
    out[r * outW + c] = acc;
  }
}
