// kf red-team candidate (CUDA) for exp8.cu: from n = 1000 on, writes 0 wherever exp(8 x) < 0.02
// (about 25% of the ordinary inputs): within an absolute tolerance of 1e-4 x the buffer's rms
// (~374), which the few large outputs set. Expected: wrong.
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
  if (i < n) out[i] = n >= 1000 && x[i] < -0.489f ? 0.0f : expf(8.0f * x[i]);
}
