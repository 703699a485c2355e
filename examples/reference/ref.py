"""Python references for the kernels in this folder (`// @kf reference ref.py:NAME`).

kf calls each function with the kernel's buffers as 1-D NumPy arrays, in float64 (the
buffers' floats upcast), and the spec's variables by name; it returns the expected outputs.
kf compares the original and every candidate with them (docs/evaluation.md, "The oracle").
"""

import numpy as np


def total(x):
    """sum = x[0] + ... + x[n-1]: float64 is exact enough to judge a float32 sum's rounding."""
    return x.sum()


def softmax(x, rows, cols):
    """Row-wise softmax of a rows x cols matrix (row-major)."""
    x = x.reshape(rows, cols)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def layernorm(x, gamma, beta, rows, cols, eps):
    """Each row normalized to mean 0 and variance 1 (biased variance), then scaled and shifted."""
    x = x.reshape(rows, cols)
    mean = x.mean(axis=1, keepdims=True)
    var = x.var(axis=1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def matmul(A, B, M, N, K):
    """C[M x N] = A[M x K] @ B[K x N], row-major."""
    return A.reshape(M, K) @ B.reshape(K, N)
