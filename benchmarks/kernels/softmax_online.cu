// A candidate for examples/cuda/softmax.cu (benchmarks/eval_speed.py): an online softmax. Each
// thread keeps a running (max, sum) over its columns in one pass, the pairs are merged with
// warp shuffles and across warps in shared memory, then one pass writes the row: two reads of
// x instead of three. Sums in another order than the original: not bit for bit its output.

#ifndef BLOCK
#define BLOCK 256
#endif

__device__ __forceinline__ void kf_merge(float& m, float& s, float m2, float s2) {
  float mm = fmaxf(m, m2);
  if (mm == __int_as_float(0xff800000)) return;  // both empty
  s = (m == mm ? s : s * expf(m - mm)) + (m2 == mm ? s2 : s2 * expf(m2 - mm));
  m = mm;
}

// @kf in  x: float[rows * cols]
// @kf out y: float[rows * cols]
// @kf rows = 8192
// @kf cols = 50257
// @kf grid rows
// @kf block BLOCK
// @kf tune BLOCK = 128, 256, 512, 1024
// @kf check rows = 3, cols = 1000
// @kf check rows = 17, cols = 4097
// @kf check rows = 1, cols = 1
// @kf tol rtol=1e-4 atol=1e-9
// @kf flops 5 * rows * cols
extern "C" __global__ void softmax_rows(const float* x, float* y, int rows, int cols) {
  __shared__ float wm[32], ws[32];
  const float* xr = x + (size_t)blockIdx.x * cols;
  float* yr = y + (size_t)blockIdx.x * cols;
  float m = __int_as_float(0xff800000), s = 0.0f;
  for (int j = threadIdx.x; j < cols; j += BLOCK) kf_merge(m, s, xr[j], 1.0f);
  for (int o = 16; o > 0; o >>= 1) kf_merge(m, s, __shfl_xor_sync(0xffffffffu, m, o), __shfl_xor_sync(0xffffffffu, s, o));
  int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) { wm[warp] = m; ws[warp] = s; }
  __syncthreads();
  if (warp == 0) {
    m = lane < BLOCK / 32 ? wm[lane] : __int_as_float(0xff800000);
    s = lane < BLOCK / 32 ? ws[lane] : 0.0f;
    for (int o = 16; o > 0; o >>= 1) kf_merge(m, s, __shfl_xor_sync(0xffffffffu, m, o), __shfl_xor_sync(0xffffffffu, s, o));
    if (lane == 0) { wm[0] = m; ws[0] = s; }
  }
  __syncthreads();
  m = wm[0];
  float inv = 1.0f / ws[0];
  for (int j = threadIdx.x; j < cols; j += BLOCK) yr[j] = expf(xr[j] - m) * inv;
}
