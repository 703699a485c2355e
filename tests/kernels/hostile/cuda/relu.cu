// relu: y = x > 0 ? x : 0. The reference of the special-values tests: on NaN it gives 0
// (NaN > 0 is false), on -Inf 0, on +Inf +Inf.

#ifndef BLOCK
#define BLOCK 256
#endif

// @kf in  x: float[n]
// @kf out y: float[n]
// @kf n = 1 << 20
// @kf grid cdiv(n, BLOCK)
// @kf block BLOCK
// @kf tune BLOCK = 128, 256
// @kf check n = 1000
extern "C" __global__ void relu(const float* x, float* y, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}
