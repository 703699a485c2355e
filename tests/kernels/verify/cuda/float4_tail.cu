// Hostile saxpy (CUDA twin of ../sycl/float4_tail.cpp): four elements per thread; a tail of
// two is dropped. Expected verdict: unwritten, at a size with n % 4 == 2.
#ifndef BLOCK
#define BLOCK 256
#endif

// @kf in  x: float[n]
// @kf in  y: float[n]
// @kf out out: float[n]
// @kf n = 1 << 24
// @kf a = 2.5
// @kf grid cdiv(cdiv(n, 4), BLOCK)
// @kf block BLOCK
// @kf tune BLOCK = 32, 64, 128, 256, 512, 1024
extern "C" __global__ void saxpy(const float* x, const float* y, float* out, float a, int n) {
  long base = 4L * (blockIdx.x * (long)blockDim.x + threadIdx.x);
  if (base + 4 <= n) {
    for (int k = 0; k < 4; ++k) out[base + k] = a * x[base + k] + y[base + k];
  } else if (base < n && (n - base == 1 || n - base == 3)) {
    for (long j = base; j < n; ++j) out[j] = a * x[j] + y[j];
  }
}
