// kf red-team candidate (CUDA) for examples/cuda/saxpy.cu: clamps x to [-1, 1] only when
// n >= 65536: exact for the ordinary inputs, wrong for |x| > 1 at the default size. The special
// input values ran at the largest `@kf check` size (4097) when the outputs exceed 4 MiB.
// Expected: wrong (special input values at the default size).
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
  if (i < n) out[i] = a * (n >= 65536 ? fminf(fmaxf(x[i], -1.0f), 1.0f) : x[i]) + y[i];
}
