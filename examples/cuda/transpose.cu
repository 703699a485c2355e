// transpose: out[cols x rows] = in[rows x cols]^T, row-major, one element per thread.
// Naive on purpose: reads are coalesced along a row of `in`, writes are strided by
// `rows`. The block shape is tunable; a shared-memory tile (with padding against bank
// conflicts) makes both sides coalesced.

#ifndef BLOCK_X
#define BLOCK_X 32
#endif
#ifndef BLOCK_Y
#define BLOCK_Y 8
#endif

// @kf in  in: float[rows * cols]
// @kf out out: float[cols * rows]
// @kf rows = 8192
// @kf cols = 8192
// @kf grid cdiv(cols, BLOCK_X), cdiv(rows, BLOCK_Y)
// @kf block BLOCK_X, BLOCK_Y
// @kf tune BLOCK_X = 8, 16, 32
// @kf tune BLOCK_Y = 1, 2, 4, 8, 16, 32
// @kf check rows = 1000, cols = 37
// @kf check rows = 33, cols = 4097
// @kf check rows = 1, cols = 1
extern "C" __global__ void transpose(const float* in, float* out, int rows, int cols) {
  int c = blockIdx.x * blockDim.x + threadIdx.x;
  int r = blockIdx.y * blockDim.y + threadIdx.y;
  if (r < rows && c < cols) out[(size_t)c * rows + r] = in[(size_t)r * cols + c];
}
