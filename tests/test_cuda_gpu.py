"""CudaSession on a real NVIDIA GPU. Skipped only where no CUDA device exists."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from backends.cuda.devices import list_devices, occupancy
from backends.session import BufferArg, CompileFailure, CompileUnit, DeviceFault, LaunchError, ScalarArg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not list_devices(), reason="no CUDA GPU"),
]

PRELUDE = "// kf prelude\n#define KF 1\n"


def unit(body: str, entry: str, options: list[str] | None = None) -> CompileUnit:
    return CompileUnit(path="user.cu", source=PRELUDE + '#line 1 "user.cu"\n' + body, entry=entry,
                       language="cuda", options=options or [])


VADD = """\
extern "C" __global__ void vadd(const float* a, const float* b, float* c, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) c[i] = a[i] + b[i];
}
"""


@pytest.fixture(scope="module")
def session():
    from backends.cuda.session import CudaSession

    s = CudaSession(0)
    yield s
    s.close()


@pytest.fixture(scope="module")
def vadd(session):
    k = session.compile(unit(VADD, "vadd"))
    assert not isinstance(k, CompileFailure), k
    return k


def _run_vadd(session, vadd, n=10_000, block=256):
    rng = np.random.default_rng(1)
    a = rng.standard_normal(n).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    guard = 4096
    bufs = [session.alloc(n * 4 + 2 * guard) for _ in range(3)]
    for buf in bufs:
        session.fill(buf, 0, n * 4 + 2 * guard, b"\xa5")
    session.write(bufs[0], guard, a)
    session.write(bufs[1], guard + 0, b)
    args = [BufferArg(bufs[0], guard), BufferArg(bufs[1], guard), BufferArg(bufs[2], guard), ScalarArg(n, "i32")]
    session.launch(vadd, ((n + block - 1) // block, 1, 1), (block, 1, 1), 0, args)
    c = session.read(bufs[2], guard, n * 4).view(np.float32)
    before = session.read(bufs[2], 0, guard)
    after = session.read(bufs[2], guard + n * 4, guard)
    for buf in bufs:
        session.free(buf)
    return a, b, c, before, after


def test_device_info(session):
    info = session.info
    assert info.backend == "cuda" and info.kind == "gpu" and info.arch.startswith("sm_")
    assert info.memory_bytes > 1 << 30 and info.compute_units > 0
    for key in ("l2_bytes", "max_threads_per_sm", "regs_per_sm", "smem_per_sm", "max_blocks_per_sm", "warp_size"):
        assert info.details[key] > 0, key
    print(f"\nKF-GPU device: {info.name} {info.arch} SMs={info.compute_units} details={info.details}")


def test_vadd_with_offsets(session, vadd):
    a, b, c, before, after = _run_vadd(session, vadd)
    np.testing.assert_array_equal(c, a + b)
    assert (before == 0xA5).all() and (after == 0xA5).all()
    assert vadd.resources.registers and vadd.resources.registers > 0
    assert vadd.resources.registers == vadd.kernel.attributes.num_regs


def test_fill_and_read(session):
    buf = session.alloc(4096 + 13)
    try:
        session.fill(buf, 0, 4096 + 13, b"\x11")
        assert (session.read(buf, 0, 4096 + 13) == 0x11).all()
        session.fill(buf, 16, 64, b"\x01\x02")
        assert session.read(buf, 16, 64).tobytes() == b"\x01\x02" * 32
        session.fill(buf, 128, 256, b"\x7f\xc0\xde\xad")
        assert session.read(buf, 128, 256).tobytes() == b"\x7f\xc0\xde\xad" * 64
        pat8 = np.array([0x7FF8DEADBEEFDEAD], dtype=np.uint64).tobytes()
        session.fill(buf, 1024, 8 * 300, pat8)  # distinct halves: the fill kernel
        got = session.read(buf, 1024, 8 * 300)
        assert got.tobytes() == pat8 * 300
        assert (session.read(buf, 1016, 8) == 0x11).all() and (session.read(buf, 1024 + 2400, 8) == 0x11).all()
        session.fill(buf, 3503, 4 * 10 + 2, b"\x01\x02\x03\x04")  # unaligned, with a tail
        assert session.read(buf, 3503, 42).tobytes() == (b"\x01\x02\x03\x04" * 11)[:42]
        assert session.read(buf, 3502, 1)[0] == 0x11 and session.read(buf, 3545, 1)[0] == 0x11
        session.fill(buf, 8, 64, b"\x00\x00\x80\x3f" * 2)  # equal halves: a 32-bit memset
        assert (session.read(buf, 8, 64).view(np.float32) == 1.0).all()
        with pytest.raises(ValueError):
            session.read(buf, 4096, 100)
    finally:
        session.free(buf)


def test_scalar_types_and_template_kernel(session):
    body = """\
#include <cuda_fp16.h>
template <typename T, int K>
__global__ void put(double* out, T x, long long y, unsigned z, __half h, float f, unsigned long long u) {
    out[0] = (double)x * K; out[1] = (double)y; out[2] = (double)z;
    out[3] = (double)__half2float(h); out[4] = (double)f; out[5] = (double)u;
}
"""
    k = session.compile(unit(body, "put<double, 3>"))
    assert not isinstance(k, CompileFailure), k
    assert k.symbol.startswith("_Z3putIdLi3EEv")
    out = session.alloc(6 * 8)
    args = [BufferArg(out, 0), ScalarArg(1.5, "f64"), ScalarArg(-(1 << 40), "i64"), ScalarArg(4_000_000_000, "u32"),
            ScalarArg(0.5, "f16"), ScalarArg(2.25, "f32"), ScalarArg(1 << 50, "u64")]
    session.launch(k, (1, 1, 1), (1, 1, 1), 0, args)
    got = session.read(out, 0, 48).view(np.float64)
    session.free(out)
    assert got.tolist() == [4.5, float(-(1 << 40)), 4e9, 0.5, 2.25, float(1 << 50)]


def test_launch_error_and_recovery(session, vadd):
    buf = session.alloc(4 * 4096)
    args = [BufferArg(buf, 0), BufferArg(buf, 0), BufferArg(buf, 0), ScalarArg(4096, "i32")]
    with pytest.raises(LaunchError):
        session.launch(vadd, (2, 1, 1), (2048, 1, 1), 0, args)
    with pytest.raises(LaunchError):
        session.launch(vadd, (1, 1, 1), (256, 1, 1), 400 * 1024, args)  # more shared memory than exists
    session.free(buf)
    a, b, c, _, _ = _run_vadd(session, vadd, n=1000)
    np.testing.assert_array_equal(c, a + b)


def test_large_dynamic_shared(session):
    body = """\
extern "C" __global__ void rev(float* x, int n) {
    extern __shared__ float s[];
    for (int i = threadIdx.x; i < n; i += blockDim.x) s[i] = x[i];
    __syncthreads();
    for (int i = threadIdx.x; i < n; i += blockDim.x) x[i] = s[n - 1 - i];
}
"""
    k = session.compile(unit(body, "rev"))
    n = 100 * 1024 // 4  # 100 KiB of dynamic shared memory: needs the opt-in attribute
    x = np.arange(n, dtype=np.float32)
    buf = session.alloc(n * 4)
    session.write(buf, 0, x)
    session.launch(k, (1, 1, 1), (512, 1, 1), n * 4, [BufferArg(buf, 0), ScalarArg(n, "i32")])
    got = session.read(buf, 0, n * 4).view(np.float32)
    session.free(buf)
    np.testing.assert_array_equal(got, x[::-1])


def test_timed_launch_and_flush(session, vadd):
    n = 1 << 24
    bufs = [session.alloc(n * 4) for _ in range(3)]
    args = [BufferArg(bufs[0], 0), BufferArg(bufs[1], 0), BufferArg(bufs[2], 0), ScalarArg(n, "i32")]
    times = []
    for _ in range(5):
        session.flush_caches()
        times.append(session.timed_launch(vadd, (n // 256, 1, 1), (256, 1, 1), 0, args))
    for b in bufs:
        session.free(b)
    assert session.timing_method == "cuda-events"
    assert all(t > 0 for t in times)
    med = sorted(times)[2]
    print(f"\nKF-GPU vadd 16M floats: median {med * 1e6:.1f} us = {3 * 4 * n / med / 1e9:.0f} GB/s")
    assert 1e-6 < med < 1e-2


def test_peak_bandwidth(session):
    bw = session.measure_peak_bandwidth()
    print(f"\nKF-GPU peak bandwidth: {bw / 1e12:.3f} TB/s")
    assert 1e12 < bw < 5e12


def test_occupancy_matches_the_driver(session):
    body = """\
extern "C" __global__ void work(float* x, int n) {
    extern __shared__ float s[];
    float acc[24];
#pragma unroll
    for (int j = 0; j < 24; j++) acc[j] = x[threadIdx.x + j * n];
#pragma unroll
    for (int k = 0; k < 4; k++)
#pragma unroll
        for (int j = 0; j < 24; j++) acc[j] = acc[j] * acc[(j + 5) % 24] + 1.0f;
    float t = 0;
#pragma unroll
    for (int j = 0; j < 24; j++) t += acc[j];
    if (n < 0) s[threadIdx.x] = t;
    x[threadIdx.x] = t;
}
"""
    checked = []
    for maxreg in (32, 40, 64, 128):
        k = session.compile(unit(body, "work", options=[f"-maxrregcount={maxreg}"]))
        assert not isinstance(k, CompileFailure), k
        regs = k.kernel.attributes.num_regs
        for threads in (64, 96, 256, 512, 1024):
            for smem in (0, 20 * 1024, 40 * 1024):
                blocks = k.kernel.occupancy.max_active_blocks_per_multiprocessor(threads, smem)
                max_warps = session.info.details["max_threads_per_sm"] // 32
                driver = blocks * ((threads + 31) // 32) / max_warps
                ours = occupancy(regs, smem + (k.resources.static_shared or 0), threads, session.info.details)
                checked.append((regs, threads, smem, driver, ours))
    bad = [c for c in checked if abs(c[3] - c[4]) > 1e-9]
    assert not bad, bad


FAULT_CHILD = textwrap.dedent("""
    import json, sys
    from backends.cuda.session import CudaSession
    from backends.session import BufferArg, CompileUnit, DeviceFault, LaunchError
    kind = sys.argv[1]
    body = {
        "illegal": 'extern "C" __global__ void bad(int* p) { *(volatile int*)((char*)p + (1ull << 46)) = 1; }',
        "trap": 'extern "C" __global__ void bad(int* p) { if (threadIdx.x == 0) __trap(); p[threadIdx.x] = 1; }',
    }[kind]
    s = CudaSession(0)
    k = s.compile(CompileUnit(path="f.cu", source=body, entry="bad", language="cuda"))
    buf = s.alloc(1024)
    out = {}
    try:
        s.launch(k, (1, 1, 1), (32, 1, 1), 0, [BufferArg(buf, 0)])
        out["raised"] = None
    except DeviceFault as e:
        out.update(raised="DeviceFault", sticky=e.sticky, message=str(e))
    except Exception as e:
        out.update(raised=type(e).__name__, message=str(e))
    try:
        s.read(buf, 0, 16)
        out["after"] = None
    except DeviceFault as e:
        out["after"] = "DeviceFault"
    s.close()
    print("RESULT " + json.dumps(out))
""")


@pytest.mark.parametrize("kind", ["illegal", "trap"])
def test_device_fault_in_a_subprocess(kind):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([ROOT] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    proc = subprocess.run([sys.executable, "-c", FAULT_CHILD, kind], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
    assert line, (proc.returncode, proc.stdout, proc.stderr)
    out = json.loads(line[len("RESULT "):])
    print(f"\nKF-GPU fault {kind}: {out}")
    assert out["raised"] == "DeviceFault" and out["sticky"] is True, out
    assert out["after"] == "DeviceFault"
