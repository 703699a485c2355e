// softmax: every row of x[rows x cols] to exp(x - max) / sum(exp(x - max)), one block per row,
// the shape of a language model's logits (8192 tokens x a 50257-word vocabulary, 1.6 GB per
// buffer). Naive on purpose: three passes over the row (max, sum, write), shared-memory trees
// for the reductions. An online softmax (max and sum in one pass), warp shuffles and vector
// loads are left to do.

#ifndef BLOCK
#define BLOCK 256
#endif

// @kf in  x: float[rows * cols]
// @kf out y: float[rows * cols]
// @kf rows = 8192
// @kf cols = 50257
// @kf grid rows
// @kf block BLOCK
// @kf tune BLOCK = 128, 256, 512, 1024
// @kf check rows = 3, cols = 1000
// @kf check rows = 17, cols = 4097
// @kf check rows = 1, cols = 1
// @kf tol rtol=1e-4 atol=1e-9
// @kf flops 5 * rows * cols
extern "C" __global__ void softmax_rows(const float* x, float* y, int rows, int cols) {
  __shared__ float red[BLOCK];  // BLOCK must be a power of two
  const float* xr = x + (size_t)blockIdx.x * cols;
  float* yr = y + (size_t)blockIdx.x * cols;
  float m = __int_as_float(0xff800000);  // -Inf
  for (int j = threadIdx.x; j < cols; j += BLOCK) m = fmaxf(m, xr[j]);
  red[threadIdx.x] = m;
  __syncthreads();
  for (int s = BLOCK / 2; s > 0; s /= 2) {
    if (threadIdx.x < s) red[threadIdx.x] = fmaxf(red[threadIdx.x], red[threadIdx.x + s]);
    __syncthreads();
  }
  m = red[0];
  __syncthreads();
  float sum = 0.0f;
  for (int j = threadIdx.x; j < cols; j += BLOCK) sum += expf(xr[j] - m);
  red[threadIdx.x] = sum;
  __syncthreads();
  for (int s = BLOCK / 2; s > 0; s /= 2) {
    if (threadIdx.x < s) red[threadIdx.x] += red[threadIdx.x + s];
    __syncthreads();
  }
  float inv = 1.0f / red[0];
  for (int j = threadIdx.x; j < cols; j += BLOCK) yr[j] = expf(xr[j] - m) * inv;
}
