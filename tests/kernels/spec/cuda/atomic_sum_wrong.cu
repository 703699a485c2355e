// A wrong sum for examples/cuda/atomic_sum.cu: the elements of odd blocks are left out.
#ifndef BLOCK
#define BLOCK 256
#endif

// @kf in  x: float[n]
// @kf out sum: float[1] start 0
// @kf n = 1 << 24
// @kf grid cdiv(n, BLOCK)
// @kf block BLOCK
// @kf tune BLOCK = 64, 128, 256, 512, 1024
extern "C" __global__ void atomic_sum(const float* x, float* sum, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n && blockIdx.x % 2 == 0) atomicAdd(sum, x[i]);
}
