// two_outputs: a large output and a small one, as a layer norm's `y` beside its per-row `s`
// (red team, device comparison round): the reference of two_outputs_window.
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

// @kf in  x: float[r * d]
// @kf out y: float[r * d]
// @kf out s: float[r]
// @kf r = 256
// @kf d = 4096
// @kf global roundup(r * d, 64)
// @kf local 64
// @kf check r = 3, d = 100
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void two_outputs(const float* x, float* y, float* s, int r, int d) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t i = it.get_global_id(0);
  if (i >= (size_t)r * d) return;
  y[i] = x[i] * 2.0f + 1.0f;
  if (i % d == 0) s[i / d] = x[i] * 3.0f;
}
