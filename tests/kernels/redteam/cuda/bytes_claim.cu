// kf red-team candidate (CUDA) for examples/cuda/saxpy.cu: correct, but its spec claims the kernel
// moves 4 bytes, so a bandwidth above the device's peak would never be flagged.
// Expected: the problem's bytes are the original's.
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
// @kf bytes 4
extern "C" __global__ void saxpy(const float* x, const float* y, float* out, float a, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = a * x[i] + y[i];
}
