// A candidate for a saxpy whose spec has only its default size n = 1 << 20: it ignores
// n and hard-codes the default. Must be rejected by the sizes kf derives itself.
// @kf in  x: float[n]
// @kf in  y: float[n]
// @kf out out: float[n]
// @kf n = 1 << 20
// @kf a = 2.5
// @kf grid 4096
// @kf block 256
extern "C" __global__ void saxpy(const float* x, const float* y, float* out, float a, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < (1 << 20)) out[i] = a * x[i] + y[i];
}
