// matmul: C[M x N] = A[M x K] * B[K x N], row-major, one output element per thread.
// Naive on purpose: every thread streams a row of A and a column of B from global
// memory. The block shape (BLOCK_X x BLOCK_Y threads) is tunable; shared-memory tiling,
// register blocking and vectorized loads are the obvious next steps.

#ifndef BLOCK_X
#define BLOCK_X 16
#endif
#ifndef BLOCK_Y
#define BLOCK_Y 16
#endif

// @kf in  A: float[M * K]
// @kf in  B: float[K * N]
// @kf out C: float[M * N]
// @kf M = 2048
// @kf N = 2048
// @kf K = 2048
// @kf grid cdiv(N, BLOCK_X), cdiv(M, BLOCK_Y)
// @kf block BLOCK_X, BLOCK_Y
// @kf tune BLOCK_X = 8, 16, 32
// @kf tune BLOCK_Y = 1, 2, 4, 8, 16, 32
// @kf check M = 100, N = 130, K = 70
// @kf check M = 257, N = 33, K = 511
// @kf check M = 1, N = 1, K = 1
// @kf tol rtol=1e-4 atol=1e-3
// @kf flops 2 * M * N * K
extern "C" __global__ void matmul(const float* A, const float* B, float* C, int M, int N, int K) {
  int col = blockIdx.x * blockDim.x + threadIdx.x;
  int row = blockIdx.y * blockDim.y + threadIdx.y;
  if (row < M && col < N) {
    float acc = 0.0f;
    for (int k = 0; k < K; ++k) acc += A[(size_t)row * K + k] * B[(size_t)k * N + col];
    C[(size_t)row * N + col] = acc;
  }
}
