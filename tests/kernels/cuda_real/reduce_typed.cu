// A reduction written for any element type, as CUDA samples write it.
#include <cuda_runtime.h>

// @kf T = float
// @kf in  g_idata: float[n]
// @kf out g_odata: float[cdiv(n, 256)]
// @kf n = 1 << 16
// @kf grid cdiv(n, 256)
// @kf block 256
// @kf shared 256 * 4
// @kf check n = 1000
template <class T>
__global__ void reduce0(const T* g_idata, T* g_odata, unsigned int n) {
    extern __shared__ unsigned char smem_raw[];
    T* sdata = reinterpret_cast<T*>(smem_raw);
    unsigned int tid = threadIdx.x;
    unsigned int i = blockIdx.x * blockDim.x + threadIdx.x;
    sdata[tid] = (i < n) ? g_idata[i] : (T)0;
    __syncthreads();
    for (unsigned int s = 1; s < blockDim.x; s *= 2) {
        if (tid % (2 * s) == 0) sdata[tid] += sdata[tid + s];
        __syncthreads();
    }
    if (tid == 0) g_odata[blockIdx.x] = sdata[0];
}

// @kf tune Acc = float, double
// @kf in  x: float[n]
// @kf out sum: float[cdiv(n, 256)]
// @kf n = 1 << 16
// @kf grid cdiv(n, 256)
// @kf block 256
// @kf check n = 1000
template <class Acc>
__global__ void block_sum(const float* x, float* sum, int n) {
    __shared__ Acc part[256];
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    part[threadIdx.x] = i < n ? (Acc)x[i] : (Acc)0;
    __syncthreads();
    for (int s = 128; s > 0; s >>= 1) {
        if (threadIdx.x < s) part[threadIdx.x] += part[threadIdx.x + s];
        __syncthreads();
    }
    if (threadIdx.x == 0) sum[blockIdx.x] = (float)part[0];
}
