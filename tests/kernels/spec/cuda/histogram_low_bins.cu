// A wrong variant of examples/cuda/histogram.cu: values of 64 and above are dropped.
#ifndef BLOCK
#define BLOCK 256
#endif

// @kf in  data: uint8_t[n]
// @kf out hist: unsigned[256] start 0
// @kf n = 1 << 24
// @kf block BLOCK
// @kf tune BLOCK = 64, 128, 256, 512, 1024
// @kf grid cdiv(n, BLOCK)
extern "C" __global__ void histogram(const unsigned char* data, unsigned int* hist, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n && data[i] < 64) atomicAdd(&hist[data[i]], 1u);
}
