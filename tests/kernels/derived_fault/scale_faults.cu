// The original: y = 2 x in float, but at sizes n % 8 == 3 (none of the spec's own: kf derives
// n = 67) thread 0 also stores through a wild pointer (address 0x10, kept by a volatile): an
// illegal-address fault, a sticky CUDA error that leaves the context unusable. kf must skip
// that size, go on in a fresh worker and still judge the candidate on the other sizes.
// @kf in  x: float[n]
// @kf out y: float[n]
// @kf n = 4096
// @kf grid cdiv(n, 64)
// @kf block 64
// @kf check n = 1000
extern "C" __global__ void scale(const float* x, float* y, int n) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  volatile unsigned long long wild = 0x10;
  if (i < n) y[i] = 2.0f * x[i];
  if (i == 0 && n % 8 == 3) *(volatile float*)(wild + 4ull * (unsigned long long)i) = 1.0f;
}
