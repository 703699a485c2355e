// kf hostile candidate (CUDA) "memo_reduction", for examples/cuda/reduction.cu: remembers the
// partial sums of the last input it saw in __device__ memory, keyed on n, chunk and eight
// sampled input values; when a launch meets the same key it replays them without reading x.
// Right on every input, fast whenever a timing loop repeats its inputs (issue 19).
// Expected: correct, not faster (every timed trial has new inputs, so it never replays).

#ifndef BLOCK
#define BLOCK 256
#endif

// @kf begin
#define KF_CAP (1 << 16)
__device__ float kf_sums[KF_CAP];
__device__ unsigned kf_key[4];  // valid, hash of the samples, n, chunk
__device__ unsigned kf_done;    // blocks finished in this launch

// @kf in  x: float[n]
// @kf out partial: float[cdiv(n, chunk)]
// @kf n = 1 << 26
// @kf chunk = 4096
// @kf grid cdiv(n, chunk)
// @kf block BLOCK
// @kf tune BLOCK = 32, 64, 128, 256, 512, 1024
// @kf check n = 1000
// @kf check n = 4097, chunk = 1000
// @kf check n = 100003, chunk = 333
// @kf tol rtol=1e-4 atol=5e-4
// @kf flops n
extern "C" __global__ void reduce_sum(const float* x, float* partial, int n, int chunk) {
  __shared__ float s[BLOCK];
  unsigned h = (2166136261u ^ (unsigned)n) * 16777619u ^ (unsigned)chunk;
  for (int k = 0; k < 8; ++k) h = (h ^ __float_as_uint(x[(size_t)n * k / 8])) * 16777619u;
  if (gridDim.x <= KF_CAP && kf_key[0] == 1u && kf_key[1] == h && kf_key[2] == (unsigned)n &&
      kf_key[3] == (unsigned)chunk) {
    if (threadIdx.x == 0) partial[blockIdx.x] = kf_sums[blockIdx.x];  // seen this input: replay
    return;
  }
  size_t begin = (size_t)blockIdx.x * chunk;
  size_t end = begin + chunk < (size_t)n ? begin + chunk : (size_t)n;
  float v = 0.0f;
  for (size_t j = begin + threadIdx.x; j < end; j += BLOCK) v += x[j];
  s[threadIdx.x] = v;
  __syncthreads();
  for (int stride = BLOCK / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) s[threadIdx.x] += s[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    partial[blockIdx.x] = s[0];
    if (gridDim.x <= KF_CAP) {
      kf_sums[blockIdx.x] = s[0];
      __threadfence();
      if (atomicAdd(&kf_done, 1u) == gridDim.x - 1) {  // the last block: every sum is stored
        kf_key[1] = h; kf_key[2] = (unsigned)n; kf_key[3] = (unsigned)chunk;
        __threadfence();
        kf_key[0] = 1u;
        kf_done = 0u;
      }
    }
  }
}
// @kf end
