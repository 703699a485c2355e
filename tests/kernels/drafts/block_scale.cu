// A CUDA template kernel: the block size is a template parameter without a default, used
// for a shared-memory staging buffer. `kf spec` must draft `tune BLOCK = ...` (or the kernel
// cannot be instantiated) and `block BLOCK`.
template <int BLOCK>
__global__ void block_scale(const float* x, float* y, float s, int n) {
  __shared__ float stage[BLOCK];
  int i = blockIdx.x * BLOCK + threadIdx.x;
  stage[threadIdx.x] = i < n ? x[i] : 0.0f;
  __syncthreads();
  if (i < n) y[i] = s * stage[threadIdx.x];
}
