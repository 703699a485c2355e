// A 256-bin histogram in the style of the CUDA samples: per-block partial histograms in
// shared memory (one warp-private copy per warp, tagged with the thread's lane), merged by a
// second kernel. The block size is THREADBLOCK_SIZE (192), not a power of two; TAG_MASK is a
// mask, not a size.
#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>

#define THREADBLOCK_SIZE 192
#define WARP_COUNT (THREADBLOCK_SIZE / 32)
#define BIN_COUNT 256
#define PARTIAL_COUNT 240
#define TAG_MASK 0xFFFFFFFFU

__device__ inline void addByte(unsigned int *s_WarpHist, unsigned int data) {
  atomicAdd(s_WarpHist + data, 1);
}

__global__ void histogramPartial(unsigned int *d_PartialHistograms, const unsigned int *d_Data, unsigned int dataCount) {
  __shared__ unsigned int s_Hist[WARP_COUNT * BIN_COUNT];
  unsigned int *s_WarpHist = s_Hist + (threadIdx.x >> 5) * BIN_COUNT;
  for (unsigned int i = threadIdx.x; i < WARP_COUNT * BIN_COUNT; i += THREADBLOCK_SIZE) s_Hist[i] = 0;
  __syncthreads();
  for (unsigned int pos = blockIdx.x * blockDim.x + threadIdx.x; pos < dataCount; pos += blockDim.x * gridDim.x) {
    unsigned int data = d_Data[pos] & TAG_MASK;
    addByte(s_WarpHist, (data >> 0) & 0xFFU);
    addByte(s_WarpHist, (data >> 8) & 0xFFU);
    addByte(s_WarpHist, (data >> 16) & 0xFFU);
    addByte(s_WarpHist, (data >> 24) & 0xFFU);
  }
  __syncthreads();
  for (unsigned int bin = threadIdx.x; bin < BIN_COUNT; bin += THREADBLOCK_SIZE) {
    unsigned int sum = 0;
    for (unsigned int i = 0; i < WARP_COUNT; i++) sum += s_Hist[bin + i * BIN_COUNT];
    d_PartialHistograms[blockIdx.x * BIN_COUNT + bin] = sum;
  }
}

int main(int argc, char **argv) {
  const unsigned int byteCount = 16 * 1048576;
  unsigned int *d_Data, *d_PartialHistograms;
  cudaMalloc((void **)&d_Data, byteCount);
  cudaMalloc((void **)&d_PartialHistograms, PARTIAL_COUNT * BIN_COUNT * sizeof(unsigned int));
  histogramPartial<<<PARTIAL_COUNT, THREADBLOCK_SIZE>>>(d_PartialHistograms, d_Data, byteCount / sizeof(unsigned int));
  cudaDeviceSynchronize();
  cudaFree(d_Data);
  cudaFree(d_PartialHistograms);
  return 0;
}
