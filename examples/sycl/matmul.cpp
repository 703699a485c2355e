// matmul: C[M x N] = A[M x K] * B[K x N], row-major, one output element per work-item.
// SYCL order: dimension 0 is the row (slow), dimension 1 the column (fastest-varying).
// Naive on purpose: the work-group shape (WG_Y x WG_X) is the only knob; local-memory
// tiling and register blocking are left to do.
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#ifndef WG_Y
#define WG_Y 4
#endif
#ifndef WG_X
#define WG_X 16
#endif

// @kf in  A: float[M * K]
// @kf in  B: float[K * N]
// @kf out C: float[M * N]
// @kf M = 384
// @kf N = 384
// @kf K = 384
// @kf global roundup(M, WG_Y), roundup(N, WG_X)
// @kf local WG_Y, WG_X
// @kf tune WG_Y = 1, 2, 4, 8, 16
// @kf tune WG_X = 4, 8, 16, 32, 64
// @kf check M = 100, N = 130, K = 70
// @kf check M = 57, N = 33, K = 211
// @kf check M = 1, N = 1, K = 1
// @kf tol rtol=1e-4 atol=1e-3
// @kf flops 2 * M * N * K
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<2>))
void matmul(const float* A, const float* B, float* C, int M, int N, int K) {
  auto it = syclext::this_work_item::get_nd_item<2>();
  size_t row = it.get_global_id(0);
  size_t col = it.get_global_id(1);
  if (row < M && col < N) {
    float acc = 0.0f;
    for (int k = 0; k < K; ++k) acc += A[row * K + k] * B[(size_t)k * N + col];
    C[row * N + col] = acc;
  }
}
