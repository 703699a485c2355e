// The candidate: y = 2 x in float, right at every size.
// @kf in  x: float[n]
// @kf out y: float[n]
// @kf n = 4096
// @kf grid cdiv(n, 64)
// @kf block 64
// @kf check n = 1000
extern "C" __global__ void scale(const float* x, float* y, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] = x[i] + x[i];
}
