// kf red-team reference (CUDA): out = log|x| (NaN stays NaN, 0 gives -Inf, Inf gives Inf).
#ifndef BLOCK
#define BLOCK 256
#endif
// @kf in  x: float[n]
// @kf out out: float[n]
// @kf n = 1 << 16
// @kf grid cdiv(n, BLOCK)
// @kf block BLOCK
// @kf tune BLOCK = 256
// @kf check n = 1000
extern "C" __global__ void log_abs(const float* x, float* out, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = logf(fabsf(x[i]));
}
