// A whole program as real .cu files are: host includes, a host helper, main, a launch.
#include <stdio.h>
#include <stdlib.h>
#include <cuda_runtime.h>

static void check(cudaError_t err, const char* what) {
    if (err != cudaSuccess) {
        fprintf(stderr, "%s: %s\n", what, cudaGetErrorString(err));
        exit(EXIT_FAILURE);
    }
}

// @kf in  a: float[n]
// @kf in  b: float[n]
// @kf out c: float[n]
// @kf n = 50000
// @kf grid cdiv(n, 256)
// @kf block 256
// @kf check n = 1000
__global__ void vectorAdd(const float* a, const float* b, float* c, int n) {
    int i = blockDim.x * blockIdx.x + threadIdx.x;
    if (i < n) c[i] = a[i] + b[i];
}

int main(void) {
    int n = 50000;
    size_t size = n * sizeof(float);
    float *h_a = (float*)malloc(size), *h_b = (float*)malloc(size), *h_c = (float*)malloc(size);
    for (int i = 0; i < n; ++i) { h_a[i] = rand() / (float)RAND_MAX; h_b[i] = rand() / (float)RAND_MAX; }
    float *d_a, *d_b, *d_c;
    check(cudaMalloc((void**)&d_a, size), "cudaMalloc a");
    check(cudaMalloc((void**)&d_b, size), "cudaMalloc b");
    check(cudaMalloc((void**)&d_c, size), "cudaMalloc c");
    cudaMemcpy(d_a, h_a, size, cudaMemcpyHostToDevice);
    cudaMemcpy(d_b, h_b, size, cudaMemcpyHostToDevice);
    vectorAdd<<<(n + 255) / 256, 256>>>(d_a, d_b, d_c, n);
    cudaMemcpy(h_c, d_c, size, cudaMemcpyDeviceToHost);
    printf("done\n");
    return 0;
}
