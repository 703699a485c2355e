"""Behavioural features from what the compiler produced (backends/kernel/features.py) and the
cells they give (evolver/descriptors.py).

CUDA: real NVRTC compiles (no GPU needed) of a naive matmul, a shared-memory tiled
matmul, a warp-shuffle reduction, a float4 saxpy, a register-blocked matmul, a WMMA
kernel and a cp.async kernel. The key property: renaming every variable and adding
comments (or dead declarations) that mention __shared__, float4, __syncthreads does not
change the features or the cell. SYCL: the masked-source fallback, same property,
without the SYCL runtime; one test goes through the real harness (CPU device).
"""

from __future__ import annotations

import re

import pytest

from backends.session import CompileFailure, CompileUnit
from backends.kernel.features import extract, parse_ptx, ptx_features, sycl_source_features
from backends.model import Profile
from evolver.descriptors import cell_of, describe_cell


def _nvrtc_available() -> bool:
    try:
        from cuda.bindings import nvrtc

        return nvrtc.nvrtcVersion()[0] == nvrtc.nvrtcResult.NVRTC_SUCCESS
    except Exception:
        return False


needs_nvrtc = pytest.mark.skipif(not _nvrtc_available(), reason="NVRTC (cuda-bindings) not installed")

COMPUTE, PARALLELISM = 1, 2

# ---------------------------------------------------------------------------
# CUDA kernels
# ---------------------------------------------------------------------------

NAIVE_MM = """\
extern "C" __global__ void matmul(const float* A, const float* B, float* C, int N) {
    int row = blockIdx.y * blockDim.y + threadIdx.y;
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    if (row < N && col < N) {
        float acc = 0.0f;
        for (int k = 0; k < N; ++k) acc += A[row * N + k] * B[k * N + col];
        C[row * N + col] = acc;
    }
}
"""

TILED_MM = """\
#define TILE 16
extern "C" __global__ void matmul(const float* A, const float* B, float* C, int N) {
    __shared__ float As[TILE][TILE];
    __shared__ float Bs[TILE][TILE];
    int row = blockIdx.y * TILE + threadIdx.y;
    int col = blockIdx.x * TILE + threadIdx.x;
    float acc = 0.0f;
    for (int t = 0; t < N / TILE; ++t) {
        As[threadIdx.y][threadIdx.x] = A[row * N + t * TILE + threadIdx.x];
        Bs[threadIdx.y][threadIdx.x] = B[(t * TILE + threadIdx.y) * N + col];
        __syncthreads();
        for (int k = 0; k < TILE; ++k) acc += As[threadIdx.y][k] * Bs[k][threadIdx.x];
        __syncthreads();
    }
    C[row * N + col] = acc;
}
"""

REG_BLOCKED_MM = """\
#define TM 4
#define TN 4
extern "C" __global__ void matmul(const float* A, const float* B, float* C, int N) {
    int row = (blockIdx.y * blockDim.y + threadIdx.y) * TM;
    int col = (blockIdx.x * blockDim.x + threadIdx.x) * TN;
    float acc[TM][TN] = {};
    for (int k = 0; k < N; ++k) {
        float a[TM], b[TN];
        #pragma unroll
        for (int i = 0; i < TM; ++i) a[i] = A[(row + i) * N + k];
        #pragma unroll
        for (int j = 0; j < TN; ++j) b[j] = B[k * N + col + j];
        #pragma unroll
        for (int i = 0; i < TM; ++i)
            #pragma unroll
            for (int j = 0; j < TN; ++j) acc[i][j] += a[i] * b[j];
    }
    for (int i = 0; i < TM; ++i)
        for (int j = 0; j < TN; ++j) C[(row + i) * N + col + j] = acc[i][j];
}
"""

WARP_REDUCE = """\
extern "C" __global__ void reduce(const float* x, float* out, int n) {
    float v = 0.0f;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) v += x[i];
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
    if ((threadIdx.x & 31) == 0) out[(blockIdx.x * blockDim.x + threadIdx.x) / 32] = v;
}
"""

BLOCK_REDUCE = """\
extern "C" __global__ void reduce(const float* x, float* out, int n) {
    __shared__ float partial[32];
    float v = 0.0f;
    for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) v += x[i];
    for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
    if ((threadIdx.x & 31) == 0) partial[threadIdx.x / 32] = v;
    __syncthreads();
    if (threadIdx.x < 32) {
        v = threadIdx.x < blockDim.x / 32 ? partial[threadIdx.x] : 0.0f;
        for (int offset = 16; offset > 0; offset >>= 1) v += __shfl_down_sync(0xffffffffu, v, offset);
        if (threadIdx.x == 0) atomicAdd(out, v);
    }
}
"""

SAXPY = """\
extern "C" __global__ void saxpy(const float* x, const float* y, float* out, float a, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = a * x[i] + y[i];
}
"""

SAXPY4 = """\
extern "C" __global__ void saxpy(const float* x, const float* y, float* out, float a, int n) {
    int i = (blockIdx.x * blockDim.x + threadIdx.x) * 4;
    if (i + 3 < n) {
        float4 xv = *reinterpret_cast<const float4*>(x + i);
        float4 yv = *reinterpret_cast<const float4*>(y + i);
        *reinterpret_cast<float4*>(out + i) =
            make_float4(a * xv.x + yv.x, a * xv.y + yv.y, a * xv.z + yv.z, a * xv.w + yv.w);
    } else {
        for (; i < n; ++i) out[i] = a * x[i] + y[i];
    }
}
"""

WMMA = """\
#include <mma.h>
using namespace nvcuda;
extern "C" __global__ void gemm16(const half* a, const half* b, float* c) {
    wmma::fragment<wmma::matrix_a, 16, 16, 16, half, wmma::row_major> fa;
    wmma::fragment<wmma::matrix_b, 16, 16, 16, half, wmma::col_major> fb;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> fc;
    wmma::fill_fragment(fc, 0.0f);
    wmma::load_matrix_sync(fa, a, 16);
    wmma::load_matrix_sync(fb, b, 16);
    wmma::mma_sync(fc, fa, fb, fc);
    wmma::store_matrix_sync(c, fc, 16, wmma::mem_row_major);
}
"""

CP_ASYNC = """\
#include <cuda_pipeline.h>
extern "C" __global__ void stage(const float* x, float* y) {
    __shared__ float s[256];
    __pipeline_memcpy_async(&s[threadIdx.x], &x[blockIdx.x * 256 + threadIdx.x], 4);
    __pipeline_commit();
    __pipeline_wait_prior(0);
    __syncthreads();
    y[blockIdx.x * 256 + threadIdx.x] = s[255 - threadIdx.x] * 2.0f;
}
"""

NOINLINE_HELPER = """\
__device__ __noinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}
extern "C" __global__ void total(const float* x, float* out) {
    float v = warp_sum(x[threadIdx.x]);
    if (threadIdx.x == 0) out[blockIdx.x] = v;
}
"""

TEMPLATE = """\
template <int BLOCK>
__global__ void scale(float* x, float a, int n) {
    int i = blockIdx.x * BLOCK + threadIdx.x;
    if (i < n) x[i] *= a;
}
"""


def compiled(src: str, entry: str):
    from backends.cuda.compiler import compile_cuda

    out = compile_cuda(CompileUnit(path="k.cu", source=src, entry=entry, language="cuda"), "sm_90", want_ptx=True)
    assert not isinstance(out, CompileFailure), out.diagnostics
    assert out.ptx
    return out


def features(src: str, entry: str) -> dict[str, float]:
    feats, source = extract("cuda", compiled(src, entry), src)
    assert source == "ptx" and feats
    return feats


def cell(src: str, entry: str) -> list[int]:
    return cell_of(features(src, entry), "cuda")


# Rename every identifier the user chose (variables, parameters, macros) and add comments
# naming the constructs the grid looks for: nothing the compiler produces changes.
DECOY = ("// __shared__ float tile[32][32]; float4 v; __syncthreads(); __shfl_down_sync(); wmma::mma_sync\n"
         "/* cp.async ldmatrix atomicAdd __shared__ float4 #pragma unroll */\n")


def obfuscate(src: str, entry: str) -> str:
    words = set(re.findall(r"\b[A-Za-z_]\w*\b", src))
    keep = {entry, "extern", "__global__", "__device__", "__noinline__", "__shared__", "void", "float", "int",
            "const", "if", "else", "for", "return", "define", "include", "pragma", "unroll", "threadIdx",
            "blockIdx", "blockDim", "gridDim", "x", "y", "z", "w", "__syncthreads", "__shfl_down_sync",
            "__shfl_xor_sync", "atomicAdd", "float4", "make_float4", "reinterpret_cast", "0xffffffffu", "C",
            "half", "wmma", "nvcuda", "using", "namespace", "mma", "h", "fragment", "matrix_a", "matrix_b",
            "accumulator", "row_major", "col_major", "fill_fragment", "load_matrix_sync", "mma_sync",
            "store_matrix_sync", "mem_row_major", "template", "cuda_pipeline", "__pipeline_memcpy_async",
            "__pipeline_commit", "__pipeline_wait_prior", "f", "u"}
    mapping = {w: f"q{i}_float4_shared" for i, w in enumerate(sorted(words - keep))}
    out = re.sub(r"\b[A-Za-z_]\w*\b", lambda m: mapping.get(m.group(), m.group()), src)
    lines = out.splitlines(keepends=True)
    # a comment after every line, and a block of decoys on top (line numbers all change)
    out = "".join(
        ln.rstrip("\n") + ("  // __syncthreads(); float4 __shared__\n" if not ln.lstrip().startswith("#") else "\n")
        for ln in lines)
    return DECOY + out


# ---------------------------------------------------------------------------
# CUDA tests
# ---------------------------------------------------------------------------


@needs_nvrtc
def test_naive_and_tiled_matmul_differ():
    naive, tiled = features(NAIVE_MM, "matmul"), features(TILED_MM, "matmul")
    assert naive["ld_shared"] == naive["st_shared"] == naive["bar_sync"] == 0
    assert tiled["ld_shared"] >= 16 and tiled["st_shared"] == 2 and tiled["bar_sync"] == 2
    assert tiled["unroll"] >= 16 and tiled["accumulators"] == 1  # inner loop unrolled, one accumulator
    # NVVM runtime-unrolls the naive loop by 4 on its own: below the grid's threshold of 8
    assert naive["unroll"] <= 4 and naive["loops"] >= 1
    assert cell_of(naive, "cuda") == [0, 0, 0]
    assert cell_of(tiled, "cuda") == [2, 1, 1]
    assert describe_cell([2, 1, 1]) == ("memory: shared-memory tiling, compute: unrolled / ILP, "
                                        "parallelism: block barriers / atomics")


@needs_nvrtc
def test_register_blocking_has_many_accumulators():
    f = features(REG_BLOCKED_MM, "matmul")
    assert f["accumulators"] == 16
    assert cell_of(f, "cuda")[COMPUTE] == 2


@needs_nvrtc
def test_warp_shuffle_reduction():
    f = features(WARP_REDUCE, "reduce")
    assert f["shfl"] == 5 and f["warp_ops"] == 5 and f["bar_sync"] == 0
    assert cell_of(f, "cuda") == [0, 0, 2]
    g = features(BLOCK_REDUCE, "reduce")  # warp shuffles + shared staging + barrier + atomic
    assert g["shfl"] == 10 and g["bar_sync"] >= 1 and g["atom_global"] + g["atom_generic"] == 1
    assert cell_of(g, "cuda") == [2, 0, 3]


@needs_nvrtc
def test_float4_saxpy_is_vectorized():
    plain, vec = features(SAXPY, "saxpy"), features(SAXPY4, "saxpy")
    assert plain["ld_global_vec"] == 0 and plain["st_global_vec"] == 0
    assert vec["ld_global_v4"] == 2 and vec["st_global_vec"] == 1
    assert cell_of(plain, "cuda") == [0, 0, 0]
    assert cell_of(vec, "cuda") == [1, 0, 0]


@needs_nvrtc
def test_tensor_cores_and_async_copies():
    w = features(WMMA, "gemm16")
    assert w["mma"] == 1 and w["tensor_ops"] == 1 and w["wmma_ldst"] == 3
    assert cell_of(w, "cuda")[COMPUTE] == 3
    c = features(CP_ASYNC, "stage")
    assert c["cp_async"] == 1 and c["bar_sync"] == 1
    assert cell_of(c, "cuda") == [3, 0, 1]


@needs_nvrtc
@pytest.mark.parametrize("src, entry", [
    (NAIVE_MM, "matmul"), (TILED_MM, "matmul"), (REG_BLOCKED_MM, "matmul"), (WARP_REDUCE, "reduce"),
    (BLOCK_REDUCE, "reduce"), (SAXPY, "saxpy"), (SAXPY4, "saxpy"),
])
def test_names_and_comments_do_not_move_a_kernel(src, entry):
    """The key property: every user identifier renamed (to names containing 'float4' and
    'shared'), comments naming __shared__/float4/__syncthreads on every line: the same
    features and the same cell."""
    other = obfuscate(src, entry)
    assert other != src and "__syncthreads(); float4 __shared__" in other
    assert features(other, entry) == features(src, entry)
    assert cell(other, entry) == cell(src, entry)


@needs_nvrtc
def test_dead_code_does_not_move_a_kernel():
    """Unused shared arrays, float4 temporaries and typedefs are removed by the compiler."""
    decoyed = NAIVE_MM.replace(
        "    int row =",
        "    __shared__ float unused_tile[16][16];\n    typedef float4 vec_t;\n    vec_t never;\n"
        "    (void)never; (void)unused_tile;\n    int row =")
    assert features(decoyed, "matmul") == features(NAIVE_MM, "matmul")


@needs_nvrtc
def test_only_the_entry_and_its_callees_count():
    both = NAIVE_MM + TILED_MM.replace("void matmul(", "void tiled(")
    assert features(both, "matmul") == features(NAIVE_MM, "matmul")
    assert features(both, "tiled")["bar_sync"] == 2
    # a __noinline__ device function is a separate .func in the PTX: counted through the call
    f = features(NOINLINE_HELPER, "total")
    assert f["calls"] == 1 and f["shfl"] == 5
    assert len(parse_ptx(compiled(NOINLINE_HELPER, "total").ptx)) == 2


@needs_nvrtc
def test_template_instance_is_found_by_its_lowered_name():
    m = compiled(TEMPLATE, "scale<256>")
    assert m.symbol.startswith("_Z")
    f, source = extract("cuda", m, TEMPLATE)
    assert source == "ptx" and f["fmul"] == 1 and f["st_global"] == 1


@needs_nvrtc
def test_profile_values_become_features():
    m = compiled(SAXPY, "saxpy")
    prof = Profile(registers=m.resources.registers, occupancy=0.5, spill_stores=0, spill_loads=8, block_threads=256)
    f, _ = extract("cuda", m, SAXPY, prof)
    assert f["registers"] == m.resources.registers and f["occupancy"] == 0.5
    assert f["spill_bytes"] == 8 and f["block_threads"] == 256


@needs_nvrtc
def test_compile_only_session_carries_features():
    from backends.cuda.compile_only import CompileOnlySession

    s = CompileOnlySession("cuda", "sm_90")
    out = s.compile(CompileUnit(path="k.cu", source=TILED_MM, entry="matmul", language="cuda"))
    assert out.resources.feature_source == "ptx"
    assert out.resources.features["bar_sync"] == 2 and out.resources.features["registers"] > 0


def test_extract_never_raises():
    assert extract("cuda", object(), "") == ({}, "")
    assert extract("cuda", "not ptx at all {", "") == ({}, "")
    assert extract("cuda", None, "") == ({}, "")
    assert extract("opencl", object(), "") == ({}, "")
    assert extract("sycl", object(), None) == ({}, "")  # type: ignore[arg-type]


def test_ptx_tokenizer_on_text():
    ptx = """
.version 8.0
.target sm_90
.address_size 64
.visible .entry k(.param .u64 k_param_0)
{
    .reg .f32 %f<9>;  // declarations are not instructions
    .loc 1 2 3
    ld.global.nc.v4.f32 {%f1, %f2, %f3, %f4}, [%rd1];
$L__BB0_1:
    @%p1 bra $L__BB0_2;
    { .reg .b32 t; shfl.sync.bfly.b32 %r1|%p2, %r2, 1, 31, -1; }
    /* a comment: ld.shared.f32 %f1, [%r1]; */
    fma.rn.f32 %f5, %f1, %f2, %f5;
    atom.shared.add.u32 %r3, [%r4], 1;
    red.global.add.f32 [%rd2], %f5;
    cp.async.bulk.tensor.2d.shared::cluster.global.mbarrier::complete_tx::bytes [%r5], [%rd3, {%r6, %r7}], [%r8];
    cp.async.commit_group;
    bra.uni $L__BB0_1;
$L__BB0_2:
    ret;
}
"""
    f = ptx_features(ptx, "k")
    assert f["ld_global_v4"] == 1 and f["ld_global_nc"] == 1 and f["ld_shared"] == 0
    assert f["shfl"] == 1 and f["fma"] == 1 and f["atom_shared"] == 1 and f["atom_global"] == 1
    assert f["cp_async_bulk"] == 1 and f["cp_async"] == 0 and f["loops"] == 1 and f["branches"] == 2
    assert f["accumulators"] == 1 and f["instructions"] == 10
    assert ptx_features(ptx, "missing") == f  # the only entry
    assert cell_of(f, "cuda") == [3, 0, 3]


# ---------------------------------------------------------------------------
# SYCL: the masked-source fallback (no SYCL runtime needed)
# ---------------------------------------------------------------------------

SYCL_HEAD = """\
#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;
"""

SYCL_NAIVE = SYCL_HEAD + """\
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<2>))
void matmul(const float* A, const float* B, float* C, int N) {
  auto it = syclext::this_work_item::get_nd_item<2>();
  size_t row = it.get_global_id(0);
  size_t col = it.get_global_id(1);
  float acc = 0.0f;
  for (int k = 0; k < N; ++k) acc += A[row * N + k] * B[k * N + col];
  C[row * N + col] = acc;
}
"""

SYCL_TILED = SYCL_HEAD + """\
#define TILE 16
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<2>))
void matmul(const float* A, const float* B, float* C, int N) {
  auto it = syclext::this_work_item::get_nd_item<2>();
  syclexp::work_group_static<float[TILE][TILE]> As;
  syclexp::work_group_static<float[TILE][TILE]> Bs;
  size_t ly = it.get_local_id(0), lx = it.get_local_id(1);
  size_t row = it.get_global_id(0), col = it.get_global_id(1);
  float acc = 0.0f;
  for (int t = 0; t < N / TILE; ++t) {
    As[ly][lx] = A[row * N + t * TILE + lx];
    Bs[ly][lx] = B[(t * TILE + ly) * N + col];
    sycl::group_barrier(it.get_group());
#pragma unroll
    for (int k = 0; k < TILE; ++k) acc = sycl::fma(As[ly][k], Bs[k][lx], acc);
    sycl::group_barrier(it.get_group());
  }
  C[row * N + col] = acc;
}
"""

SYCL_SUBGROUP_REDUCE = SYCL_HEAD + """\
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void reduce(const float* x, float* out, int n) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  auto sg = it.get_sub_group();
  float v = 0.0f;
  for (size_t i = it.get_global_id(0); i < (size_t)n; i += it.get_global_range(0)) v += x[i];
  v = sycl::reduce_over_group(sg, v, sycl::plus<float>());
  if (sg.get_local_linear_id() == 0) {
    sycl::atomic_ref<float, sycl::memory_order::relaxed, sycl::memory_scope::device> total(*out);
    total.fetch_add(v);
  }
}
"""

SYCL_VEC = SYCL_HEAD + """\
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void saxpy(const float* x, const float* y, float* out, float a, int n) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t i = it.get_global_id(0) * 4;
  if (i + 3 < (size_t)n) {
    sycl::float4 xv = *reinterpret_cast<const sycl::float4*>(x + i);
    sycl::float4 yv = *reinterpret_cast<const sycl::float4*>(y + i);
    *reinterpret_cast<sycl::float4*>(out + i) = a * xv + yv;
  }
}
"""

SYCL_DECOY = ("// work_group_static<float[16]> tile; sycl::group_barrier(g); sycl::float4 v; "
              "reduce_over_group(sg, v); atomic_ref<float> r; joint_matrix\n"
              "/* #pragma unroll  sycl::vec<float, 4> local_accessor shift_group_left( */\n")


def sycl_obfuscate(src: str) -> str:
    """Rename the user's identifiers (to decoy-like names) and comment every line."""
    body_start = src.index("extern")
    head, body = src[:body_start], src[body_start:]
    users = {"A", "B", "N", "it", "row", "col", "acc", "k", "t", "As", "Bs", "ly", "lx", "x", "y", "out",
             "n", "sg", "v", "i", "total", "xv", "yv", "a"}
    names = {w: f"vec4_{j}_local_barrier" for j, w in enumerate(sorted(users))}
    body = re.sub(r"(?<![.:])\b[A-Za-z_]\w*\b", lambda m: names.get(m.group(), m.group()), body)
    body = "".join(ln + ("  // sycl::group_barrier(it.get_group()); sycl::float4\n"
                         if not ln.lstrip().startswith("#") else "\n") for ln in body.splitlines())
    return SYCL_DECOY + head + body


def sycl_features(src: str, name: str) -> dict[str, float]:
    class K:
        entry = name

    f, source = extract("sycl", K(), src)
    assert source == "sycl-source" and f
    return f


def test_sycl_kernels_differ():
    naive = sycl_features(SYCL_NAIVE, "matmul")
    tiled = sycl_features(SYCL_TILED, "matmul")
    red = sycl_features(SYCL_SUBGROUP_REDUCE, "reduce")
    vec = sycl_features(SYCL_VEC, "saxpy")
    assert naive["local_mem"] == naive["group_barrier"] == 0 and naive["loops"] == 1
    assert tiled["local_mem"] == 2 and tiled["group_barrier"] == 2 and tiled["pragma_unroll"] == 1
    assert tiled["fma"] == 1 and tiled["max_loop_depth"] == 2
    assert red["sub_group_collectives"] == 1 and red["group_collectives"] == 0
    assert red["atomic_global"] == 1 and red["grid_stride"] == 1
    assert vec["vec_types"] == 5  # two declarations, three casts
    assert cell_of(naive, "sycl") == [0, 0, 0]
    assert cell_of(tiled, "sycl") == [2, 1, 1]
    assert cell_of(red, "sycl") == [0, 0, 3]
    assert cell_of(vec, "sycl") == [1, 0, 0]


@pytest.mark.parametrize("src, name", [
    (SYCL_NAIVE, "matmul"), (SYCL_TILED, "matmul"), (SYCL_SUBGROUP_REDUCE, "reduce"), (SYCL_VEC, "saxpy"),
])
def test_sycl_names_and_comments_do_not_move_a_kernel(src, name):
    other = sycl_obfuscate(src)
    assert "vec4_" in other and other != src
    assert sycl_features(other, name) == sycl_features(src, name)
    assert cell_of(sycl_features(other, name), "sycl") == cell_of(sycl_features(src, name), "sycl")


def test_sycl_sub_group_vs_work_group_collective_follows_the_value_not_the_name():
    """What decides is what the group value was initialised from, not its name."""
    no_atomic = SYCL_SUBGROUP_REDUCE.replace(
        "sycl::atomic_ref<float, sycl::memory_order::relaxed, sycl::memory_scope::device> total(*out);\n"
        "    total.fetch_add(v);", "out[it.get_group(0)] = v;")
    sub = sycl_features(no_atomic, "reduce")
    assert sub["sub_group_collectives"] == 1 and sub["atomic_global"] == 0
    assert cell_of(sub, "sycl")[PARALLELISM] == 2  # sub-group intrinsics
    # the same call over the work-group, through a variable still named `sg`
    wg = no_atomic.replace("auto sg = it.get_sub_group();", "auto sg = it.get_group();")
    f = sycl_features(wg, "reduce")
    assert f["sub_group_collectives"] == 0 and f["group_collectives"] == 1
    assert cell_of(f, "sycl")[PARALLELISM] == 1  # a work-group collective
    # and renaming the sub-group variable to `wg` keeps it a sub-group
    renamed = re.sub(r"\bsg\b", "wg", no_atomic)
    assert sycl_features(renamed, "reduce") == sub


def test_sycl_helper_functions_are_followed():
    src = SYCL_HEAD + """\
static inline float warp_total(sycl::sub_group g, float v) {
  return sycl::reduce_over_group(g, v, sycl::plus<float>());
}
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void reduce(const float* x, float* out, int n) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  float v = warp_total(it.get_sub_group(), x[it.get_global_id(0)]);
  if (it.get_local_id(0) == 0) out[it.get_group(0)] = v;
}
"""
    f = sycl_features(src, "reduce")
    assert f["helpers"] == 1 and f["sub_group_collectives"] == 1


def test_sycl_other_kernels_in_the_file_do_not_count():
    both = SYCL_TILED + SYCL_NAIVE.replace(SYCL_HEAD, "").replace("void matmul(", "void plain(")
    assert sycl_features(both, "plain") == sycl_features(SYCL_NAIVE, "matmul")
    assert sycl_features(both, "matmul") == sycl_features(SYCL_TILED, "matmul")


def test_sycl_pragma_unroll_1_is_not_unrolling():
    src = SYCL_NAIVE.replace("  for (int k", "#pragma unroll 1\n  for (int k")
    assert sycl_source_features(src, "matmul")["pragma_unroll"] == 0
    src = SYCL_NAIVE.replace("  for (int k", "#pragma unroll 8\n  for (int k")
    assert sycl_source_features(src, "matmul")["pragma_unroll"] == 1
    src = SYCL_NAIVE.replace("  for (int k", "// #pragma unroll 8\n  for (int k")
    assert sycl_source_features(src, "matmul")["pragma_unroll"] == 0


def test_sycl_through_the_harness():
    """One real evaluation on the SYCL CPU device: the profile carries the features."""
    pytest.importorskip("dpctl")
    from evalcases import request

    from backends.run.local_pool import EvalPool
    from backends.model import Verdict

    with EvalPool("sycl", [0]) as pool:
        result = pool.evaluate_sync(request("sycl", None, "sycl", reference="reduction"))
    assert result.verdict is Verdict.CORRECT, result.message
    p = result.reference.profile
    assert p.feature_source == "sycl-source"
    assert p.features["group_collectives"] == 1 and p.features["loops"] == 1
    assert cell_of(p.features, "sycl") == [0, 0, 1]
    assert describe_cell(cell_of(p.features, "sycl")).endswith("parallelism: block barriers / atomics")
