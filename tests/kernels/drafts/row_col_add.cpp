// 2-D nd_range SYCL kernel: out[r][c] = a[r][c] + rowv[r] * colv[c], row-major rows x cols,
// with a per-row and a per-column vector. Two kernels in one file: `kf spec FILE`
// drafts both.
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

constexpr int TILE_X = 16;
constexpr int TILE_Y = 4;

extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<2>))
void row_col_add(const float* a, const float* rowv, const float* colv, float* out, int rows, int cols) {
  auto it = syclext::this_work_item::get_nd_item<2>();
  size_t r = it.get_global_id(0);
  size_t c = it.get_global_id(1);
  if (r < (size_t)rows && c < (size_t)cols) out[r * cols + c] = a[r * cols + c] + rowv[r] * colv[c] + TILE_X * 0 + TILE_Y * 0;
}

extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void square(const float* x, float* y, int n) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t i = it.get_global_id(0);
  if (i < (size_t)n) y[i] = x[i] * x[i];
}
