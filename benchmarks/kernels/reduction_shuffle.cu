// The fast candidate of issue 21's H200 case: a grid-stride sum per thread, a warp-shuffle
// reduction, one atomicAdd per warp into `sum` (about 1900x faster than the naive
// one-atomic-per-element original at 2^26 floats, and more accurate). Region only: the
// benchmark splices it over examples/cuda/atomic_sum.cu's kernel.
// @kf in  x: float[n]
// @kf out sum: float[1] start 0
// @kf n = 1 << 26
// @kf grid min(cdiv(n, 256 * 16), 8192)
// @kf block 256
extern "C" __global__ void atomic_sum(const float* x, float* sum, int n) {
  float acc = 0.0f;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) acc += x[i];
  for (int o = 16; o > 0; o /= 2) acc += __shfl_down_sync(0xffffffffu, acc, o);
  if (threadIdx.x % 32 == 0) atomicAdd(sum, acc);
}
