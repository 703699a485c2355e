// Buffers of vector and 16-bit float types: n float4, n half2, n bfloat16.
#include <cuda_fp16.h>
#include <cuda_bf16.h>

// @kf in  x: float4[n]
// @kf out y: float4[n]
// @kf n = 1 << 14
// @kf grid cdiv(n, 256)
// @kf block 256
// @kf check n = 1000
__global__ void scale4(const float4* x, float4* y, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) {
        float4 v = x[i];
        y[i] = make_float4(2.0f * v.x, 2.0f * v.y, 2.0f * v.z, 2.0f * v.w);
    }
}

// @kf in  x: half2[n]
// @kf out y: half2[n]
// @kf a = 0.5
// @kf n = 1 << 14
// @kf grid cdiv(n, 256)
// @kf block 256
// @kf check n = 999
__global__ void axpy_half2(const half2* x, half2* y, float a, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = __hmul2(x[i], __float2half2_rn(a));
}

// @kf in  x: bf16[n]
// @kf out y: bf16[n]
// @kf n = 1 << 14
// @kf grid cdiv(n, 256)
// @kf block 256
// @kf check n = 1001
__global__ void square_bf16(const __nv_bfloat16* x, __nv_bfloat16* y, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = __hmul(x[i], x[i]);
}
