// matmul: C[M x N] = A[M x K] * B[K x N], row-major, one output element per work-item,
// judged against NumPy's float64 product: no hand-picked absolute tolerance is needed
// (compare ../sycl/matmul.cpp, which compares with the original's float32 sums).
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

#ifndef WG_Y
#define WG_Y 4
#endif
#ifndef WG_X
#define WG_X 16
#endif

// @kf reference ref.py:matmul
// @kf in  A: float[M * K]
// @kf in  B: float[K * N]
// @kf out C: float[M * N]
// @kf M = 256
// @kf N = 256
// @kf K = 256
// @kf global roundup(M, WG_Y), roundup(N, WG_X)
// @kf local WG_Y, WG_X
// @kf tune WG_Y = 1, 4, 16
// @kf tune WG_X = 4, 16, 64
// @kf check M = 57, N = 33, K = 211
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
