// kf red-team candidate (CUDA) for examples/cuda/saxpy.cu: computes in half precision (11-bit
// significand): about 1e-3 relative error, ten times the float tolerance. Expected: wrong.
#include <cuda_fp16.h>
#ifndef BLOCK
#define BLOCK 256
#endif

// @kf in  x: float[n]
// @kf in  y: float[n]
// @kf out out: float[n]
// @kf n = 1 << 24
// @kf a = 2.5
// @kf grid cdiv(n, BLOCK)
// @kf block BLOCK
// @kf tune BLOCK = 32, 64, 128, 256, 512, 1024
// @kf check n = 1000
// @kf check n = 4097
// @kf check n = 1
// @kf flops 2 * n
extern "C" __global__ void saxpy(const float* x, const float* y, float* out, float a, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = __half2float(__hadd(__hmul(__float2half(a), __float2half(x[i])), __float2half(y[i])));
}
