// A correct variant of examples/cuda/histogram.cu: 64 blocks walk the input with a grid stride.
#ifndef BLOCK
#define BLOCK 256
#endif

// @kf in  data: uint8_t[n]
// @kf out hist: unsigned[256] start 0
// @kf n = 1 << 24
// @kf block BLOCK
// @kf tune BLOCK = 64, 128, 256, 512, 1024
// @kf grid 64
extern "C" __global__ void histogram(const unsigned char* data, unsigned int* hist, int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
    atomicAdd(&hist[data[i]], 1u);
}
