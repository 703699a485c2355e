// reduction: partial sums. Block b sums the chunk x[b*chunk, min((b+1)*chunk, n))
// into partial[b]; the chunk length is part of the problem (not of the launch), so
// every variant must produce the same partial sums whatever its block size.
// (A single atomically accumulated total, with an output that starts at zero, is
// cuda/atomic_sum.cu.)
// Naive on purpose: a strided per-thread sum, then a shared-memory tree with a
// __syncthreads() per level. Warp shuffles, vector loads and unrolling are left to do.

#ifndef BLOCK
#define BLOCK 256
#endif

// @kf in  x: float[n]
// @kf out partial: float[cdiv(n, chunk)]
// @kf n = 1 << 26
// @kf chunk = 4096
// @kf grid cdiv(n, chunk)
// @kf block BLOCK
// @kf tune BLOCK = 32, 64, 128, 256, 512, 1024
// @kf check n = 1000
// @kf check n = 4097, chunk = 1000
// @kf check n = 100003, chunk = 333
// @kf tol rtol=1e-4 atol=5e-4
// @kf flops n
extern "C" __global__ void reduce_sum(const float* x, float* partial, int n, int chunk) {
  __shared__ float s[BLOCK];  // BLOCK must be a power of two
  size_t begin = (size_t)blockIdx.x * chunk;
  size_t end = begin + chunk < (size_t)n ? begin + chunk : (size_t)n;
  float v = 0.0f;
  for (size_t j = begin + threadIdx.x; j < end; j += BLOCK) v += x[j];
  s[threadIdx.x] = v;
  __syncthreads();
  for (int stride = BLOCK / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) s[threadIdx.x] += s[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}
