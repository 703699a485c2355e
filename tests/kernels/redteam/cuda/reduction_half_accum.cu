// kf red-team candidate (CUDA) for examples/cuda/reduction.cu: loads and accumulates in half
// precision (a "mixed precision" shortcut): sums lose about 1e-2 absolute. Expected: wrong.
#include <cuda_fp16.h>
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
  size_t begin = (size_t)blockIdx.x * chunk;
  size_t end = begin + chunk < (size_t)n ? begin + chunk : (size_t)n;
  __shared__ float s[BLOCK];  // BLOCK must be a power of two
  __half v = __float2half(0.0f);
  for (size_t j = begin + threadIdx.x; j < end; j += BLOCK) v = __hadd(v, __float2half(x[j]));
  s[threadIdx.x] = __half2float(v);
  __syncthreads();
  for (int stride = BLOCK / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) s[threadIdx.x] += s[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = s[0];
}
