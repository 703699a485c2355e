// transpose: out[cols x rows] = in[rows x cols]^T, row-major, one element per work-item.
// SYCL order: dimension 0 is the row of `in` (slow), dimension 1 its column (fastest).
// Naive on purpose: reads are contiguous along a row of `in`, writes are strided by
// `rows`. The work-group shape is the only knob; blocking through local memory or
// per-work-item tiles is left to do.
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
// @kf check rows = 1000, cols = 37
// @kf check rows = 33, cols = 4097
// @kf check rows = 1, cols = 1
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<2>))
void transpose(const float* in, float* out, int rows, int cols) {
  auto it = syclext::this_work_item::get_nd_item<2>();
  size_t r = it.get_global_id(0);
  size_t c = it.get_global_id(1);
  if (r < rows && c < cols) out[c * rows + r] = in[r * cols + c];
}
