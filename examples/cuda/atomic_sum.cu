// atomic_sum: *sum += x[i] for every element, one float atomicAdd per thread, into an
// output that starts at zero before every run (`start 0`). Float atomics make the
// result depend on the order the threads happen to run in: kf measures the original's
// own spread (it runs it several times on the same inputs) and compares candidates
// within that spread (docs/evaluation.md).
// Naive on purpose: every thread contends for one address; a block reduction (warp
// shuffles, shared memory) and one atomic per block is left to do.

#ifndef BLOCK
#define BLOCK 256
#endif

// @kf in  x: float[n]
// @kf out sum: float[1] start 0
// @kf n = 1 << 24
// @kf grid cdiv(n, BLOCK)
// @kf block BLOCK
// @kf tune BLOCK = 64, 128, 256, 512, 1024
// @kf check n = 1000
// @kf check n = 4097
// @kf flops n
extern "C" __global__ void atomic_sum(const float* x, float* sum, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) atomicAdd(sum, x[i]);
}
