// A search space of 36 points (BLOCK x ITEMS) for benchmarks that need a budget of 32 or
// more evaluations on one kernel (benchmarks/remote_gpu.py).
#ifndef BLOCK
#define BLOCK 256
#endif
#ifndef ITEMS
#define ITEMS 1
#endif
// @kf in  x: float[n]
// @kf in  y: float[n]
// @kf out out: float[n]
// @kf n = 1 << 24
// @kf a = 2.5
// @kf grid cdiv(n, BLOCK * ITEMS)
// @kf block BLOCK
// @kf tune BLOCK = 32, 64, 128, 256, 512, 1024
// @kf tune ITEMS = 1, 2, 4, 8, 16, 32
// @kf check n = 1000
// @kf check n = 4097
// @kf check n = 1
// @kf bytes 12 * n
extern "C" __global__ void axpy_items(const float* x, const float* y, float* out, float a, int n) {
  int base = blockIdx.x * (BLOCK * ITEMS) + threadIdx.x;
#pragma unroll
  for (int k = 0; k < ITEMS; ++k) {
    int i = base + k * BLOCK;
    if (i < n) out[i] = a * x[i] + y[i];
  }
}
