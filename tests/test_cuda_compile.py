"""CUDA compilation through NVRTC, ptxas/NVRTC log parsing and the occupancy estimate.
No GPU needed (NVRTC runs without one); compile tests skip where NVRTC is not installed."""

from __future__ import annotations

import pytest

from backends.cuda.compiler import (
    CompiledModule,
    compile_cuda,
    compile_ptx,
    parse_nvrtc_log,
    parse_ptxas_log,
)
from backends.cuda.devices import H100_DETAILS, list_devices, occupancy
from backends.session import CompileFailure, CompileUnit


def _nvrtc_available() -> bool:
    try:
        from cuda.bindings import nvrtc

        return nvrtc.nvrtcVersion()[0] == nvrtc.nvrtcResult.NVRTC_SUCCESS
    except Exception:
        return False


needs_nvrtc = pytest.mark.skipif(not _nvrtc_available(), reason="NVRTC (cuda-bindings) not installed")

PRELUDE = "// kf prelude\n#define KF_PRELUDE 1\n"


def unit(body: str, entry: str, path: str = "user.cu", options: list[str] | None = None) -> CompileUnit:
    """What the harness builds: a 2-line prelude, then `#line 1 "path"`, then the file."""
    return CompileUnit(
        path=path, source=PRELUDE + f'#line 1 "{path}"\n' + body, entry=entry, language="cuda",
        options=options or [],
    )


VADD = """\
extern "C" __global__ void vadd(const float* a, const float* b, float* c, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) c[i] = a[i] + b[i];
}
"""


@needs_nvrtc
def test_compiles_and_reports_registers():
    out = compile_cuda(unit(VADD, "vadd"))
    assert isinstance(out, CompiledModule), out
    assert out.symbol == "vadd"
    assert out.arch == "sm_90"
    assert len(out.cubin) > 100 and out.cubin[:4] == b"\x7fELF"
    assert out.resources.registers and out.resources.registers > 0
    assert out.resources.spill_stores == 0 and out.resources.spill_loads == 0
    assert out.resources.stack_bytes == 0 and out.resources.static_shared == 0
    assert "Used" in out.log and out.ptx is None


@needs_nvrtc
def test_syntax_error_maps_to_user_file_and_line():
    body = (
        "__global__ void k(float* a) {\n"  # line 0
        "    int i = threadIdx.x;\n"  # line 1
        "    a[i] = b;\n"  # line 2: b is undefined
        "}\n"
    )
    out = compile_cuda(unit(body, "k"))
    assert isinstance(out, CompileFailure)
    err = out.diagnostics[0]
    assert err.severity == "error"
    assert err.file == "user.cu"
    assert err.line == 2
    assert err.column == body.splitlines()[2].index("b;")
    assert '"b"' in err.message and err.source == "nvrtc"
    assert "user.cu(3): error" in out.log


@needs_nvrtc
def test_errors_come_first_and_warnings_are_kept():
    body = (
        "__global__ void k(float* a) {\n"
        "    int unused = 3;\n"  # warning, line 1
        "    a[0] = undefined_thing;\n"  # error, line 2
        "}\n"
    )
    out = compile_cuda(unit(body, "k"))
    assert isinstance(out, CompileFailure)
    assert [d.severity for d in out.diagnostics] == ["error", "warning"]
    assert out.diagnostics[0].line == 2 and out.diagnostics[1].line == 1
    ok = compile_cuda(unit(body.replace("undefined_thing", "1.0f"), "k"))
    assert isinstance(ok, CompiledModule)
    assert [(w.line, w.severity) for w in ok.warnings] == [(1, "warning")]
    assert "unused" in ok.warnings[0].message


@needs_nvrtc
def test_template_kernel_through_name_expression():
    body = """\
template <int BLOCK, typename T>
__global__ void scale(T* x, T s, int n) {
    int i = blockIdx.x * BLOCK + threadIdx.x;
    if (i < n) x[i] *= s;
}
"""
    out = compile_cuda(unit(body, "scale<128, float>"))
    assert isinstance(out, CompiledModule), out
    assert out.symbol.startswith("_Z5scaleILi128EfEv"), out.symbol
    assert out.symbol in parse_ptxas_log(out.log)
    assert out.resources.registers and out.resources.registers > 0
    assert out.entry == "scale<128, float>"


@needs_nvrtc
def test_cpp_kernel_is_found_by_its_mangled_name_and_picks_its_own_profile():
    body = """\
__global__ void small(float* a) { a[threadIdx.x] = 1.0f; }
__global__ void tiled(float* a) {
    __shared__ float tile[512];
    tile[threadIdx.x] = a[threadIdx.x];
    __syncthreads();
    a[threadIdx.x] = tile[511 - threadIdx.x];
}
"""
    out = compile_cuda(unit(body, "tiled"))
    assert isinstance(out, CompiledModule), out
    assert out.symbol == "_Z5tiledPf"
    assert out.resources.static_shared == 2048
    small = compile_cuda(unit(body, "small"))
    assert small.symbol == "_Z5smallPf" and small.resources.static_shared == 0


@needs_nvrtc
def test_missing_entry_is_a_diagnostic_in_the_user_file():
    out = compile_cuda(unit(VADD, "nope"))
    assert isinstance(out, CompileFailure)
    assert out.diagnostics[0].file == "user.cu"
    assert "nope" in out.diagnostics[0].message


@needs_nvrtc
def test_spills_and_stack_are_parsed():
    body = """\
extern "C" __global__ void heavy(float* out, const float* in, int n) {
    float acc[64];
#pragma unroll
    for (int j = 0; j < 64; j++) acc[j] = in[threadIdx.x + j * n];
#pragma unroll
    for (int k = 0; k < 8; k++) {
#pragma unroll
        for (int j = 0; j < 64; j++) acc[j] = acc[j] * acc[(j + 1) & 63] + 1.0f;
    }
    float s = 0;
#pragma unroll
    for (int j = 0; j < 64; j++) s += acc[j];
    out[threadIdx.x] = s;
}
extern "C" __global__ void local_array(float* out, const int* idx) {
    float a[256];
    for (int i = 0; i < 256; i++) a[i] = out[i] * i;
    out[threadIdx.x] = a[idx[threadIdx.x] & 255];
}
"""
    heavy = compile_cuda(unit(body, "heavy", options=["-maxrregcount=32"]))
    assert isinstance(heavy, CompiledModule), heavy
    r = heavy.resources
    assert r.registers is not None and r.registers <= 32
    assert r.spill_stores > 0 and r.spill_loads > 0 and r.stack_bytes > 0
    local = compile_cuda(unit(body, "local_array"))
    assert local.resources.stack_bytes >= 1024  # the dynamically indexed array lives on the stack


@needs_nvrtc
def test_cuda_headers_resolve():
    body = """\
#include <cuda_fp16.h>
#include <cooperative_groups.h>
namespace cg = cooperative_groups;
extern "C" __global__ void h(__half* x, int n) {
    cg::thread_block block = cg::this_thread_block();
    int i = blockIdx.x * blockDim.x + block.thread_rank();
    if (i < n) x[i] = __hadd(x[i], __float2half(1.0f));
}
"""
    out = compile_cuda(unit(body, "h"))
    assert isinstance(out, CompiledModule), getattr(out, "log", out)


@needs_nvrtc
def test_user_options_pass_through():
    body = """\
extern "C" __global__ void k(float* a) {
#if TILE != 64
#error TILE must be 64
#endif
    a[threadIdx.x] = TILE;
}
"""
    assert isinstance(compile_cuda(unit(body, "k", options=["-DTILE=64", "--use_fast_math"])), CompiledModule)
    bad = compile_cuda(unit(body, "k", options=["-DTILE=32"]))
    assert isinstance(bad, CompileFailure) and bad.diagnostics[0].line == 2
    weird = compile_cuda(unit(body, "k", options=["--no-such-option"]))
    assert isinstance(weird, CompileFailure)
    assert weird.diagnostics[0].severity == "error" and "no-such-option" in weird.diagnostics[0].message


@needs_nvrtc
def test_ptx():
    ptx = compile_ptx(unit(VADD, "vadd"))
    assert isinstance(ptx, str)
    assert ".entry vadd" in ptx and ".target sm_90" in ptx
    both = compile_cuda(unit(VADD, "vadd"), want_ptx=True)
    assert ".entry vadd" in both.ptx
    assert isinstance(compile_ptx(unit("garbage here", "vadd")), CompileFailure)


def test_never_raises_on_bad_input():
    out = compile_cuda(CompileUnit(path="x.cu", source="\x00\x01", entry="", language="cuda"))
    assert isinstance(out, CompileFailure)
    assert out.diagnostics and out.diagnostics[0].severity == "error"


# -- recorded logs (no compiler) --------------------------------------------------------

NVRTC_PTXAS_LOG = """\
ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function '_Z1kILi128EEvPfi' for 'sm_90'
ptxas info    : Function properties for _Z1kILi128EEvPfi
ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 8 registers, used 0 barriers
ptxas info    : Compile time = 33.128 ms
ptxas info    : Compiling entry function 'heavy' for 'sm_90'
ptxas info    : Function properties for heavy
ptxas         .     1208 bytes stack frame, 2324 bytes spill stores, 2316 bytes spill loads
ptxas info    : Used 32 registers, used 0 barriers, 1208 bytes cumulative stack size
ptxas info    : Compile time = 72.896 ms
ptxas info    : Compiling entry function '_Z5cpp_kPf' for 'sm_90'
ptxas info    : Function properties for _Z5cpp_kPf
ptxas         .     0 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 10 registers, used 1 barriers, 1024 bytes smem
"""

NVCC_PTXAS_LOG = """\
ptxas info    : 0 bytes gmem
ptxas info    : Function properties for _Z6helperf
    16 bytes stack frame, 4 bytes spill stores, 4 bytes spill loads
ptxas info    : Compiling entry function '_Z4mainPfS_' for 'sm_90'
ptxas info    : Function properties for _Z4mainPfS_
    8 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 24 registers, 4096 bytes smem, 368 bytes cmem[0]
"""


def test_parse_ptxas_multi_function_log():
    p = parse_ptxas_log(NVRTC_PTXAS_LOG)
    assert list(p) == ["_Z1kILi128EEvPfi", "heavy", "_Z5cpp_kPf"]
    assert p["_Z1kILi128EEvPfi"].registers == 8 and p["_Z1kILi128EEvPfi"].static_shared == 0
    h = p["heavy"]
    assert (h.registers, h.spill_stores, h.spill_loads, h.stack_bytes) == (32, 2324, 2316, 1208)
    assert (p["_Z5cpp_kPf"].registers, p["_Z5cpp_kPf"].static_shared) == (10, 1024)
    q = parse_ptxas_log(NVCC_PTXAS_LOG)
    assert list(q) == ["_Z4mainPfS_"]  # device function frames are not entries
    m = q["_Z4mainPfS_"]
    assert (m.registers, m.static_shared, m.stack_bytes, m.spill_stores) == (24, 4096, 8, 0)


NVRTC_ERROR_LOG = """\
dir/user (1).cu(3): error: identifier "b" is undefined
    a[0] = b;
           ^

dir/user (1).cu(2): warning #177-D: variable "unused" was declared but never referenced
    int unused = 3;
        ^

Remark: The warnings can be suppressed with "-diag-suppress <warning-number>"

dir/user (1).cu(5): error: expression must have class type but it has type "float"
  template<typename T> __device__ T f(T x){ return x.foo; }
                                                   ^
          detected during instantiation of "T f(T) [with T=float]" at line 6

kf_prelude.cu(1): catastrophic error: cannot open source file "missing.h"
  #include "missing.h"
                      ^

ptxas error   : Entry function 'k' uses too much shared data (0x30000 bytes, 0xc000 max)
2 errors detected in the compilation of "kf_prelude.cu".
"""


def test_parse_nvrtc_log():
    d = parse_nvrtc_log(NVRTC_ERROR_LOG, "dir/user (1).cu")
    assert [x.severity for x in d] == ["error", "error", "error", "error", "warning"]
    e0, e1, e2, e3, w = d
    assert (e0.file, e0.line, e0.column) == ("dir/user (1).cu", 2, 9)
    assert (e1.line, e1.column) == (4, 49) and "detected during instantiation" in e1.message
    assert (e2.file, e2.line) == ("kf_prelude.cu", 0) and "missing.h" in e2.message
    assert e3.source == "ptxas" and "too much shared data" in e3.message
    assert (w.line, w.column) == (1, 6) and "#177-D" in w.message
    assert parse_nvrtc_log("nvrtc: error: unrecognized option -Wall found\n", "u.cu")[0].message.startswith(
        "unrecognized option"
    )


# -- occupancy (H100: 64 warps, 64K registers, 228 KiB shared memory, 32 blocks per SM) --


@pytest.mark.parametrize(
    "regs, smem, threads, expected",
    [
        (32, 0, 256, 1.0),  # 8 blocks of 8 warps, registers exactly enough
        (64, 0, 256, 0.5),  # 2048 regs/warp: 8 warps per sub-partition -> 32 warps
        (128, 0, 256, 0.25),  # 4 warps per sub-partition -> 16 warps = 2 blocks
        (64, 0, 1024, 0.5),  # one block of 32 warps fits (64K regs per block exactly)
        (128, 0, 1024, 0.0),  # 128K registers for one block: cannot launch
        (255, 0, 128, 0.125),  # 255 regs round up to 8192 per warp: 2 warps per partition
        (40, 0, 256, 0.75),  # 1280 regs/warp: 12 per partition -> 48 warps = 6 blocks
        (32, 48 * 1024, 128, 0.25),  # 49 KiB per block (1 KiB reserved) -> 4 blocks of 4 warps
        (32, 100 * 1024, 256, 0.25),  # 101 KiB per block -> 2 blocks of 8 warps
        (16, 0, 32, 0.5),  # 32 blocks per SM cap: 32 one-warp blocks = 32 warps
        (0, 0, 1024, 1.0),
        (32, 0, 2048, 0.0),  # more threads than a block may have
        (32, 228 * 1024, 128, 0.0),  # more shared memory than a block may have
        (32, 0, 96, 63 / 64),  # 3-warp blocks: 21 blocks fit in 64 warps -> 63/64 warps
    ],
)
def test_occupancy_h100(regs, smem, threads, expected):
    assert occupancy(regs, smem, threads, H100_DETAILS) == pytest.approx(expected)
    assert occupancy(regs, smem, threads, None) == pytest.approx(expected)


def test_list_devices_never_raises():
    devs = list_devices()
    assert isinstance(devs, list)
    for d in devs:
        assert d.backend == "cuda" and d.arch.startswith("sm_") and d.details["warp_size"] == 32
