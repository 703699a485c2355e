// Hostile saxpy (CUDA twin of ../sycl/branch_guard_read.cpp): x[n] > 1 decides the output.
// Expected verdict: out_of_bounds, from the run with the guards' second pattern.
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
extern "C" __global__ void saxpy(const float* x, const float* y, float* out, float a, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) out[i] = x[n] > 1.0f ? 0.0f : a * x[i] + y[i];
}
