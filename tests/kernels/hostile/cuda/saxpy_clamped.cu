// kf hostile candidate (CUDA) "saxpy_clamped", for examples/cuda/saxpy.cu: clamps x to [-1, 1]
// before using it, exact for the ordinary inputs and wrong for any |x| > 1 (issue 19).
// Expected: wrong (special input values).

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
  if (i < n) out[i] = a * fminf(fmaxf(x[i], -1.0f), 1.0f) + y[i];
}
