// kf red-team candidate (CUDA) for log_abs.cu (here): holds its argument at 2^-24 for normal |x|
// below it (zeros and subnormals take the exact path): right on every ordinary input, on NaN, Inf
// and subnormals; wrong only for tiny normal magnitudes. Correct on main whenever the special set
// scaled x up (3 evaluations in 4). Expected: wrong in every evaluation.
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
  if (i < n) {
    float a = fabsf(x[i]);
    bool tiny_normal = a >= 1.17549435e-38f && a < 5.9604645e-8f;
    out[i] = logf(tiny_normal ? 5.9604645e-8f : a);
  }
}
