// Device code only (NVRTC's), using what nvcc users have without asking: M_PI, INFINITY.
#include <math.h>
#include <stdint.h>

// @kf in  x: float[n]
// @kf out y: float[n]
// @kf n = 1 << 16
// @kf grid cdiv(n, 256)
// @kf block 256
// @kf check n = 1000
__global__ void clamp_angle(const float* x, float* y, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        float v = x[i] * (float)M_PI;
        y[i] = isinf(v) ? INFINITY : fmaxf(-(float)M_PI, fminf((float)M_PI, v));
    }
}
