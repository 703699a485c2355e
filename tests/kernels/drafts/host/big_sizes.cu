// The program's own sizes need 12 GiB: kf's draft scales them down to fit 1 GiB.
#include <cuda_runtime.h>

__global__ void scale(const float *x, float *y, float a, size_t n) {
  size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
  if (i < n) y[i] = a * x[i];
}

int main() {
  const size_t n = 1ull << 31;
  float *x, *y;
  cudaMalloc(&x, n * sizeof(float));
  cudaMalloc(&y, n * sizeof(float));
  scale<<<(n + 255) / 256, 256>>>(x, y, 2.0f, n);
  cudaDeviceSynchronize();
  return 0;
}
