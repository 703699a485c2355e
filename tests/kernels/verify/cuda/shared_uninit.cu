// Hostile saxpy: stages x through shared memory, but the last thread of each block never
// writes its slot and the block reads it anyway (a read of uninitialised shared memory).
// What it reads is what an earlier kernel left there, often the right value when the same
// kernel ran just before. kf fills shared memory with NaN before the repeated runs.
// Expected verdict: nondeterministic (or wrong).
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
  __shared__ float tile[1024];
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (threadIdx.x != blockDim.x - 1) tile[threadIdx.x] = i < n ? x[i] : 0.0f;
  __syncthreads();
  if (i < n) out[i] = a * tile[threadIdx.x] + y[i];
}
