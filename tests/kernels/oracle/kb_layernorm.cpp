// KernelBench level 1, task 40 (tests/data/kernelbench/40_LayerNorm.py): nn.LayerNorm over
// the last three dimensions. The model's `ln.weight` and `ln.bias` take the values of the
// buffers `weight` and `bias` (matched by their last name); one work-item per batch entry.
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

// @kf reference ../../data/kernelbench/40_LayerNorm.py
// @kf in  x: float[batch_size * features * dim1 * dim2]
// @kf in  weight: float[features * dim1 * dim2]
// @kf in  bias: float[features * dim1 * dim2]
// @kf out y: float[batch_size * features * dim1 * dim2]
// @kf batch_size = 4
// @kf features = 8
// @kf dim1 = 32
// @kf dim2 = 32
// @kf eps = 1e-5
// @kf global roundup(batch_size, 4)
// @kf local 4
// @kf fixed features, dim1, dim2
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void layernorm(const float* x, const float* weight, const float* bias, float* y, int batch_size, int features,
               int dim1, int dim2, float eps) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t b = it.get_global_id(0);
  if (b >= (size_t)batch_size) return;
  size_t n = (size_t)features * dim1 * dim2;
  const float* row = x + b * n;
  float mean = 0.0f;
  for (size_t i = 0; i < n; ++i) mean += row[i];
  mean /= n;
  float var = 0.0f;
  for (size_t i = 0; i < n; ++i) var += (row[i] - mean) * (row[i] - mean);
  var /= n;
  float inv = 1.0f / sycl::sqrt(var + eps);
  for (size_t i = 0; i < n; ++i) y[b * n + i] = (row[i] - mean) * inv * weight[i] + bias[i];
}
