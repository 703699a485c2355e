// kf adversarial test case (CUDA) "hang": never terminates: each thread spins over x through volatile reads looking for a value no input holds (inputs are finite, so x[j] <= 3e38 always).
// Expected verdict: timeout
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
    const volatile float* vx = x;
    int j = i;
    while (vx[j] <= 3.0e38f) j = (j + 1) % n;  // volatile loads: cannot be removed
    out[i] = a * x[i] + y[i];
  }
}
