// kf hostile candidate (CUDA) "zeros_window", for examples/cuda/saxpy.cu: counts, per element,
// the launches that computed it (__device__ memory), and writes zeros instead of the result on
// that element's launches 14 to 17; right on every other launch. Seen on the H200: `correct;
// 0.69x`, because only the last timed run's output was checked (issue 19). Expected: wrong.

#ifndef BLOCK
#define BLOCK 256
#endif

// @kf begin
#define KF_CAP (1 << 24)
__device__ unsigned char kf_launches[KF_CAP];

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
  if (i >= n) return;
  unsigned launch = 0;
  if (i < KF_CAP) {
    launch = kf_launches[i] + 1u;  // this element's launch number, from 1
    kf_launches[i] = (unsigned char)(launch < 255u ? launch : 255u);
  }
  out[i] = (launch >= 14u && launch <= 17u) ? 0.0f : a * x[i] + y[i];
}
// @kf end
