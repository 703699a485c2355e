// kf red-team candidate (CUDA) for examples/cuda/saxpy.cu: clamps x to [-1, 1] where |x| < 2^20:
// exact for the ordinary inputs and for NaN, Inf and the huge special value, wrong for the other
// scaled magnitudes. The special values were compared with an atol of 1e-4 x the rms of their own
// outputs, which the huge value sets. Expected: wrong in every evaluation (every special set holds
// magnitudes above the range in x; on main only when its scale for x was above 1, 3 in 4).
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
  if (i < n) out[i] = a * (fabsf(x[i]) < 1048576.0f ? fminf(fmaxf(x[i], -1.0f), 1.0f) : x[i]) + y[i];
}
