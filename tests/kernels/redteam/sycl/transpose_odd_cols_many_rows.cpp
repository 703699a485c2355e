// kf red-team candidate for transpose_unchecked.cpp: wrong (0) past row 64 where cols is odd: a
// tail bug that needs one dimension large and the other with a partial group. kf's derived sizes
// hold the other variables small (about 64) and the sizes larger than that have even cols.
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#ifndef WG_Y
#define WG_Y 4
#endif
#ifndef WG_X
#define WG_X 16
#endif

// @kf in  in: float[rows * cols]
// @kf out out: float[cols * rows]
// @kf rows = 2048
// @kf cols = 2048
// @kf global roundup(rows, WG_Y), roundup(cols, WG_X)
// @kf local WG_Y, WG_X
// @kf tune WG_Y = 1, 2, 4, 8, 16
// @kf tune WG_X = 4, 8, 16, 32, 64
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<2>))
void transpose(const float* in, float* out, int rows, int cols) {
  auto it = syclext::this_work_item::get_nd_item<2>();
  size_t r = it.get_global_id(0);
  size_t c = it.get_global_id(1);
  if (r < rows && c < cols) out[c * rows + r] = (r >= 64 && cols % 2 == 1) ? 0.0f : in[r * cols + c];
}
