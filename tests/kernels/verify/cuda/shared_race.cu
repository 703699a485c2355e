// Hostile saxpy: reverses x through shared memory twice with a __syncthreads missing between
// the write and the read (a race between the threads of a block). On most runs the warps
// happen to be in step and the result is right. Expected verdict under compute-sanitizer
// racecheck: nondeterministic.
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
  int r = blockDim.x - 1 - threadIdx.x;
  tile[threadIdx.x] = i < n ? x[i] : 0.0f;
  // missing: __syncthreads();
  float mirrored = tile[r];
  __syncthreads();
  tile[r] = mirrored;
  __syncthreads();
  if (i < n) out[i] = a * tile[threadIdx.x] + y[i];
}
