// kf adversarial test case (CUDA) "input_modified": correct output, but overwrites the input y with the result (through a const_cast, so the signature is unchanged).
// Expected verdict: input_modified
// Reference: examples/cuda/saxpy.cu (same kernel name, parameters and spec buffers/variables).

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
// @kf check n = 1000
// @kf check n = 4097
// @kf check n = 1
// @kf flops 2 * n
extern "C" __global__ void saxpy(const float* x, const float* y, float* out, float a, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) {
    float v = a * x[i] + y[i];
    out[i] = v;
    const_cast<float*>(y)[i] = v;  // clobbers an input
  }
}
