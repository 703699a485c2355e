// A correct reordering of examples/cuda/atomic_sum.cu: a shared-memory tree per block,
// then one atomicAdd per block. Within the original's own spread, not the default tolerance.
#ifndef BLOCK
#define BLOCK 256
#endif

// @kf in  x: float[n]
// @kf out sum: float[1] start 0
// @kf n = 1 << 24
// @kf grid cdiv(n, BLOCK)
// @kf block BLOCK
// @kf tune BLOCK = 64, 128, 256, 512, 1024
extern "C" __global__ void atomic_sum(const float* x, float* sum, int n) {
  __shared__ float s[BLOCK];  // BLOCK is a power of two
  int i = blockIdx.x * BLOCK + threadIdx.x;
  s[threadIdx.x] = i < n ? x[i] : 0.0f;
  __syncthreads();
  for (int stride = BLOCK / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) s[threadIdx.x] += s[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) atomicAdd(sum, s[0]);
}
