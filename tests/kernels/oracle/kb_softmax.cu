// KernelBench level 1, task 23 (tests/data/kernelbench/23_Softmax.py) as the reference for
// a hand-written CUDA kernel: one block per row, block-wide max and sum by warp shuffles.
// The module's sizes `batch_size` and `dim` are replaced by the spec's variables.

#ifndef BLOCK
#define BLOCK 256
#endif

// @kf reference ../../data/kernelbench/23_Softmax.py
// @kf in  x: float[batch_size * dim]
// @kf out y: float[batch_size * dim]
// @kf batch_size = 4096
// @kf dim = 8192
// @kf grid batch_size
// @kf block BLOCK
// @kf tune BLOCK = 128, 256, 512
// @kf check batch_size = 3, dim = 1000
// @kf check batch_size = 5, dim = 50000
extern "C" __global__ void softmax(const float* x, float* y, int batch_size, int dim) {
  __shared__ float part[32];
  const float* row = x + (size_t)blockIdx.x * dim;
  float* out = y + (size_t)blockIdx.x * dim;
  int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = blockDim.x / 32;

  float m = -3.402823466e38f;
  for (int c = threadIdx.x; c < dim; c += blockDim.x) m = fmaxf(m, row[c]);
  for (int o = 16; o > 0; o /= 2) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
  if (lane == 0) part[warp] = m;
  __syncthreads();
  m = lane < warps ? part[lane] : -3.402823466e38f;
  for (int o = 16; o > 0; o /= 2) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
  __syncthreads();

  float s = 0.0f;
  for (int c = threadIdx.x; c < dim; c += blockDim.x) s += __expf(row[c] - m);
  for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);
  if (lane == 0) part[warp] = s;
  __syncthreads();
  s = lane < warps ? part[lane] : 0.0f;
  for (int o = 16; o > 0; o /= 2) s += __shfl_xor_sync(0xffffffffu, s, o);

  float inv = 1.0f / s;
  for (int c = threadIdx.x; c < dim; c += blockDim.x) out[c] = __expf(row[c] - m) * inv;
}
