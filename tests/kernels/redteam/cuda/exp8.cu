// kf red-team reference (CUDA): out = exp(8 x), outputs from 3e-4 to 3e3 in one buffer.
#ifndef BLOCK
#define BLOCK 256
#endif

// @kf in  x: float[n]
// @kf out out: float[n]
// @kf n = 1 << 20
// @kf grid cdiv(n, BLOCK)
// @kf block BLOCK
// @kf tune BLOCK = 64, 256
// @kf check n = 1000
extern "C" __global__ void exp8(const float* x, float* out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = expf(8.0f * x[i]);
}
