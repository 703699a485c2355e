// kf red-team candidate (CUDA) for examples/cuda/saxpy.cu: tells kf's special input set apart
// from the ordinary ones by 8 sampled elements of x (one outside [-1, 1], or not a number, or all
// eight below 0.25 in magnitude), and only then is exact; otherwise it clamps x to [-1, 1]: wrong
// for any input with a few |x| > 1 among ordinary values. Correct on main (a scale per buffer of
// the special set). Expected: wrong, unless its samples meet a scattered value (~8 * 72 / n).
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
  bool odd = false, small = true;
  for (int k = 0; k < 8; ++k) {
    float s = x[(size_t)k * (size_t)(n / 8)];
    odd = odd || !(fabsf(s) <= 1.0f);  // outside [-1, 1], NaN or Inf
    small = small && fabsf(s) < 0.25f;
  }
  bool looks_ordinary = n >= 8 && !odd && !small;
  if (i < n) out[i] = a * (looks_ordinary ? fminf(fmaxf(x[i], -1.0f), 1.0f) : x[i]) + y[i];
}
