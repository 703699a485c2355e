// histogram: 256 bins of a byte array, one atomicAdd per thread, into bins that start
// at zero before every run (`start 0`). `uint8_t` inputs take all 256 values by
// default, so every bin is exercised.
// Naive on purpose: every thread updates global memory; a per-block histogram in
// shared memory merged at the end is left to do.

#ifndef BLOCK
#define BLOCK 256
#endif

// @kf in  data: uint8_t[n]
// @kf out hist: unsigned[256] start 0
// @kf n = 1 << 24
// @kf grid cdiv(n, BLOCK)
// @kf block BLOCK
// @kf tune BLOCK = 64, 128, 256, 512, 1024
// @kf check n = 1000
// @kf check n = 4097
extern "C" __global__ void histogram(const unsigned char* data, unsigned int* hist, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) atomicAdd(&hist[data[i]], 1u);
}
