#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#ifndef VARIANT
#define VARIANT 0
#endif

// KernelBench level 1, task 82 (depthwise conv2d, stride 1, no padding, no bias; tests/data/kernelbench)
// with its weight in buffer `w` (issue 21 findings, F5): `conv2d.weight` must take its values from a
// buffer, or the reference keeps random weights no kernel can know. VARIANT 1 flips the filter,
// VARIANT 2 uses channel 0's filter for every channel.
// @kf reference ../../data/kernelbench/82_conv_depthwise_2D_square_input_square_kernel.py
// @kf in  x: float[batch_size * in_channels * height * width]
// @kf in  w: float[in_channels * kernel_size * kernel_size]
// @kf out y: float[batch_size * in_channels * (height - kernel_size + 1) * (width - kernel_size + 1)]
// @kf batch_size = 2
// @kf in_channels = 4
// @kf kernel_size = 3
// @kf height = 16
// @kf width = 20
// @kf fixed kernel_size
// @kf global roundup(batch_size * in_channels * (height - kernel_size + 1) * (width - kernel_size + 1), 64)
// @kf local 64
// @kf tune VARIANT = 0, 1, 2
// @kf check batch_size = 1, in_channels = 3, height = 5, width = 7
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void dwconv(const float* x, const float* w, float* y, int batch_size, int in_channels,
            int kernel_size, int height, int width) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t i = it.get_global_id(0);
  int ho = height - kernel_size + 1, wo = width - kernel_size + 1;
  if (i >= (size_t)batch_size * in_channels * ho * wo) return;
  int ow = i % wo, oh = (i / wo) % ho, c = (i / wo / ho) % in_channels, b = i / wo / ho / in_channels;
  float s = 0.f;
  for (int kh = 0; kh < kernel_size; ++kh)
    for (int kw = 0; kw < kernel_size; ++kw) {
#if VARIANT == 1   // kernel flipped (true convolution instead of cross-correlation)
      float wv = w[(c * kernel_size + (kernel_size - 1 - kh)) * kernel_size + (kernel_size - 1 - kw)];
#elif VARIANT == 2 // weights of channel 0 for every channel
      float wv = w[(0 * kernel_size + kh) * kernel_size + kw];
#else
      float wv = w[(c * kernel_size + kh) * kernel_size + kw];
#endif
      s += x[((size_t)(b * in_channels + c) * height + oh + kh) * width + ow + kw] * wv;
    }
  y[i] = s;
}
