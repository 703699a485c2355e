// two_outputs_window, for two_outputs.cpp (here): right everywhere except y[7] at the default
// size on its launches 5 and 6 (a device_global counter): timed trials, after verification and
// the warm-up. Seen (f401dd4): `correct`, even at 64 MiB (r = 4096): with `s` not large enough
// for the device comparison, every output of a timed trial was compared on a secret sample of
// 64 blocks, y's too. Expected: `wrong` at a timed trial.
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

// @kf begin
syclexp::device_global<unsigned> kf_launches;
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
  float v = x[i] * 2.0f + 1.0f;
  if (i == 7 && r * d >= (1 << 20)) {  // the default size only
    unsigned launch = kf_launches + 1u;
    kf_launches = launch;
    if (launch >= 5u && launch <= 6u) v = -12345.0f;
  }
  y[i] = v;
  if (i % d == 0) s[i / d] = x[i] * 3.0f;
}
// @kf end
