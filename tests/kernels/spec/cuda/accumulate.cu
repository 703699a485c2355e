// Issue 9's first case in CUDA: the kernel adds into y, but the spec says out.
#ifndef BLOCK
#define BLOCK 256
#endif

// @kf in  x: float[n]
// @kf out y: float[n]
// @kf n = 1 << 20
// @kf grid cdiv(n, BLOCK)
// @kf block BLOCK
// @kf tune BLOCK = 64, 128, 256
// @kf check n = 1000
extern "C" __global__ void accumulate(const float* x, float* y, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) y[i] += x[i];
}
