// kf adversarial test case (CUDA) "cache_attack": computes correctly the first time it sees an element index and stores the result in a __device__ global; on every later launch it returns the stored value for that index, whatever the inputs are. Passes a single-seed check, fails as soon as inputs change in the same process.
// Expected verdict: wrong
// The cache lives outside the kernel, so `@kf begin` / `@kf end` widen the region to hold it.
// Reference: examples/cuda/saxpy.cu (same kernel name, parameters and spec buffers/variables).

#ifndef BLOCK
#define BLOCK 256
#endif

// @kf begin
#define KF_CACHE_CAP (1 << 24)
__device__ float kf_cache[KF_CACHE_CAP];          // survives between launches
__device__ unsigned char kf_have[KF_CACHE_CAP];   // zero when the module is loaded

// @kf in  x: float[n]
// @kf in  y: float[n]
// @kf out out: float[n]
// @kf n = 1 << 24
// @kf a = 2.5
// @kf grid cdiv(n, BLOCK)
// @kf block BLOCK
// @kf tune BLOCK = 32, 64, 128, 256, 512, 1024
// @kf check n = 1000
// @kf check n = 4097
// @kf check n = 1
// @kf flops 2 * n
extern "C" __global__ void saxpy(const float* x, const float* y, float* out, float a, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  if (i < KF_CACHE_CAP && kf_have[i]) {  // seen before: replay the stale answer
    out[i] = kf_cache[i];
    return;
  }
  float v = a * x[i] + y[i];
  out[i] = v;
  if (i < KF_CACHE_CAP) { kf_cache[i] = v; kf_have[i] = 1; }
}
// @kf end
