// kf hostile candidate (CUDA) "relu_branchless", for relu.cu: 0.5 * (x + |x|), the same as the
// original for every finite input, but NaN where the original gives 0 (x = -Inf, x = NaN)
// (issue 19). Expected: wrong.

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
  if (i < n) y[i] = 0.5f * (x[i] + fabsf(x[i]));
}
