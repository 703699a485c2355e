// A candidate for accumulate.cu whose body is empty: it must never be correct.
#ifndef BLOCK
#define BLOCK 256
#endif

// @kf in  x: float[n]
// @kf out y: float[n]
// @kf n = 1 << 20
// @kf grid cdiv(n, BLOCK)
// @kf block BLOCK
// @kf tune BLOCK = 64, 128, 256
extern "C" __global__ void accumulate(const float* x, float* y, int n) {
}
