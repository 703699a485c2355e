// kf red-team candidate (CUDA) for examples/cuda/reduction.cu: accumulates in double, then a
// shared-memory tree in double: more accurate than the original, NaN and Inf where it has them.
// It was `wrong` ("expected nan, got nan"). Expected: correct.
#ifndef BLOCK
#define BLOCK 256
#endif

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
  size_t begin = (size_t)blockIdx.x * chunk;
  size_t end = begin + chunk < (size_t)n ? begin + chunk : (size_t)n;
  __shared__ double s[BLOCK];  // BLOCK must be a power of two
  double v = 0.0;
  for (size_t j = begin + threadIdx.x; j < end; j += BLOCK) v += (double)x[j];
  s[threadIdx.x] = v;
  __syncthreads();
  for (int stride = BLOCK / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) s[threadIdx.x] += s[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[blockIdx.x] = (float)s[0];
}
