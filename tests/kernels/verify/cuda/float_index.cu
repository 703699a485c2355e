// Hostile saxpy (CUDA twin of ../sycl/float_index.cpp): the index goes through a float.
// Expected verdict: unwritten (or wrong) at the size above the default (2^24 + 3).
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
  float fi = (float)(blockIdx.x * blockDim.x + threadIdx.x);
  long i = (long)fi;
  if (i < n) out[i] = a * x[i] + y[i];
}
