// kf adversarial test case (CUDA) "good": a correct, different implementation: a grid-stride loop over a capped grid.
// Expected verdict: correct
// Reference: examples/cuda/saxpy.cu (same kernel name, parameters and spec buffers/variables).

#ifndef BLOCK
#define BLOCK 256
#endif

// @kf in  x: float[n]
// @kf in  y: float[n]
// @kf out out: float[n]
// @kf n = 1 << 24
// @kf a = 2.5
// @kf grid min(cdiv(n, BLOCK), 1024)
// @kf block BLOCK
// @kf tune BLOCK = 32, 64, 128, 256, 512, 1024
// @kf check n = 1000
// @kf check n = 4097
// @kf check n = 1
// @kf flops 2 * n
extern "C" __global__ void saxpy(const float* x, const float* y, float* out, float a, int n) {
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x)
    out[i] = fmaf(a, x[i], y[i]);
}
