// The element type is chosen by the build: -DENABLE_BF16 makes floatX a bfloat16.
#include <stdio.h>
#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <math.h>

#if defined(ENABLE_BF16)
typedef __nv_bfloat16 floatX;
#else
typedef float floatX;
#endif

// @kf out out: bf16[n]
// @kf in  inp: bf16[n]
// @kf n = 4096
// @kf grid cdiv(n, 128)
// @kf block 128
// @kf check n = 1001
__global__ void gelu_forward(floatX* out, const floatX* inp, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        float x = (float)inp[i];
        float cube = 0.044715f * x * x * x;
        out[i] = (floatX)(0.5f * x * (1.0f + tanhf(sqrtf(2.0f / (float)M_PI) * (x + cube))));
    }
}

int main() {
    printf("gelu\n");
    return 0;
}
