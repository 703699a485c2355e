// Hostile saxpy (CUDA twin of ../sycl/third_run_wrong.cpp): one block; wrong on the third
// launch in a row at one small size. Expected verdict: nondeterministic.
#ifndef BLOCK
#define BLOCK 256
#endif

// @kf begin
__device__ int kf_streak[2];  // the last n, launches in a row with it
// @kf in  x: float[n]
// @kf in  y: float[n]
// @kf out out: float[n]
// @kf n = 1 << 24
// @kf a = 2.5
// @kf grid 1
// @kf block BLOCK
// @kf tune BLOCK = 32, 64, 128, 256, 512, 1024
extern "C" __global__ void saxpy(const float* x, const float* y, float* out, float a, int n) {
  __shared__ int bad;
  if (threadIdx.x == 0) {
    if (kf_streak[0] == n) kf_streak[1] += 1; else { kf_streak[0] = n; kf_streak[1] = 1; }
    bad = kf_streak[1] >= 3 && n < 2000;
  }
  __syncthreads();
  for (int i = threadIdx.x; i < n; i += blockDim.x) out[i] = a * x[i] + y[i] + (bad && i == 0 ? 1.0f : 0.0f);
}
// @kf end
