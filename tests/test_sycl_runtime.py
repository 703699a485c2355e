"""The SYCL backend on the real runtime (Intel's OpenCL CPU device through dpctl): no mocks."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("dpctl")

from backends.session import (  # noqa: E402
    BufferArg,
    CompileFailure,
    CompileUnit,
    DeviceSession,
    LaunchError,
    ScalarArg,
)
from backends.sycl import list_devices  # noqa: E402
from backends.sycl.session import SyclSession, line_map, parse_log  # noqa: E402

if not any(d.kind == "cpu" for d in list_devices()):
    pytest.skip("no SYCL CPU device", allow_module_level=True)

PRELUDE = (
    "#include <sycl/sycl.hpp>\n"
    "namespace syclext = sycl::ext::oneapi;\n"
    "namespace syclexp = sycl::ext::oneapi::experimental;\n"
)
USER_PATH = "/home/user/kernels/vadd.cpp"

VADD = textwrap.dedent("""\
    // @kf buffer a in f32 n
    extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
    void vadd(const float* a, const float* b, float* c, int n) {
      size_t i = syclext::this_work_item::get_nd_item<1>().get_global_id(0);
      if (i < n) c[i] = a[i] + b[i];
    }
""")

# 2-D, local memory via work_group_static, scalars of several types.
MIX = textwrap.dedent("""\
    extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<2>))
    void mix(float* c, sycl::half h, double d, long long q, unsigned char u) {
      syclexp::work_group_static<float[64]> tmp;
      auto it = syclext::this_work_item::get_nd_item<2>();
      size_t l = it.get_local_linear_id();
      tmp[l] = it.get_global_id(0) * 1000 + it.get_global_id(1);
      sycl::group_barrier(it.get_group());
      c[it.get_global_linear_id()] = tmp[l] + (float)h + d + q + u;
    }
""")


def unit(user_text: str, entry: str, path: str = USER_PATH) -> CompileUnit:
    return CompileUnit(path=path, source=PRELUDE + f'#line 1 "{path}"\n' + user_text,
                       entry=entry, language="sycl")


@pytest.fixture(scope="module")
def session():
    s = SyclSession()
    yield s
    s.close()


@pytest.fixture(scope="module")
def vadd(session):
    k = session.compile(unit(VADD, "vadd"))
    assert not isinstance(k, CompileFailure), k
    return k


def vadd_args(session, n, offsets=(16, 32, 64)):
    bufs = [session.alloc(4 * n + 128) for _ in range(3)]
    return bufs, [BufferArg(bufs[0], offsets[0]), BufferArg(bufs[1], offsets[1]),
                  BufferArg(bufs[2], offsets[2]), ScalarArg(n, "i32")]


def test_session_is_a_device_session(session):
    assert isinstance(session, DeviceSession)
    assert session.info.backend == "sycl" and session.info.kind == "cpu"
    assert session.timing_method in ("sycl-events", "host-clock")


def test_vadd_with_offsets(session, vadd):
    assert vadd.entry == "vadd" and vadd.dims == 1
    assert vadd.resources.notes  # kernel queries came back
    n = 1000
    (a_buf, b_buf, c_buf), args = vadd_args(session, n)
    a = np.arange(n, dtype=np.float32)
    b = np.full(n, 2.5, dtype=np.float32)
    session.write(a_buf, 16, a)
    session.write(b_buf, 32, b)
    session.fill(c_buf, 0, c_buf.nbytes, np.array([0x7FC0DEAD], np.uint32).tobytes())
    session.launch(vadd, (1024, 1, 1), (64, 1, 1), 0, args)
    c = session.read(c_buf, 64, 4 * n).view(np.float32)
    np.testing.assert_array_equal(c, a + b)
    # guards before and after the output range are untouched
    guard = np.array([0x7FC0DEAD], np.uint32)
    assert (session.read(c_buf, 0, 64).view(np.uint32) == guard).all()
    assert (session.read(c_buf, 64 + 4 * n, 64).view(np.uint32) == guard).all()
    for buf in (a_buf, b_buf, c_buf):
        session.free(buf)


def test_two_dims_local_memory_and_scalars(session):
    k = session.compile(unit(MIX, "mix"))
    assert not isinstance(k, CompileFailure), k
    assert k.dims == 2
    c_buf = session.alloc(4 * 32)
    args = [BufferArg(c_buf, 0), ScalarArg(0.5, "f16"), ScalarArg(0.25, "f64"),
            ScalarArg(-3, "i64"), ScalarArg(7, "u8")]
    session.launch(k, (4, 8, 1), (2, 4, 1), 0, args)
    got = session.read(c_buf, 0, 128).view(np.float32).reshape(4, 8)
    i, j = np.meshgrid(np.arange(4), np.arange(8), indexing="ij")
    np.testing.assert_allclose(got, i * 1000 + j + 0.5 + 0.25 - 3 + 7)
    session.free(c_buf)


def test_compile_error_maps_to_user_file_and_line(session):
    bad = VADD.replace("c[i] = a[i] + b[i];", "c[i] = a[i] + undefined_thing;")
    res = session.compile(unit(bad, "vadd"))
    assert isinstance(res, CompileFailure)
    err = res.diagnostics[0]
    assert err.severity == "error" and err.source == "sycl-rtc"
    assert err.file == USER_PATH
    assert err.line == 4  # 0-based: the fifth line of the user's file
    assert err.column == bad.splitlines()[4].index("undefined_thing")
    assert "undefined_thing" in err.message
    assert "undefined_thing" in res.log


def test_missing_entry_is_a_clear_failure(session):
    res = session.compile(unit(VADD, "no_such_kernel"))
    assert isinstance(res, CompileFailure)
    assert len(res.diagnostics) == 1
    assert "no_such_kernel" in res.diagnostics[0].message
    assert "not found" in res.diagnostics[0].message
    assert res.diagnostics[0].file == USER_PATH
    # a name that is in the source but is not a kernel
    res = session.compile(unit(VADD, "a"))
    assert isinstance(res, CompileFailure) and "not found" in res.diagnostics[0].message


def test_compile_never_raises(session):
    res = session.compile(CompileUnit(path="x.cpp", source="\x00garbage {", entry="k",
                                      language="sycl"))
    assert isinstance(res, CompileFailure) and res.diagnostics[0].severity == "error"


def test_compiler_crashers_are_refused(session):
    text = VADD.replace("if (i < n)", "float* s = (float*)syclexp::get_work_group_scratch_memory();\n  if (i < n)")
    res = session.compile(unit(text, "vadd"))
    assert isinstance(res, CompileFailure)
    assert res.diagnostics[0].line == 4 and "work_group_static" in res.diagnostics[0].message


def test_second_compile_of_same_source(session, vadd):
    again = session.compile(unit(VADD, "vadd"))
    assert not isinstance(again, CompileFailure)
    assert again.entry == "vadd"


@pytest.mark.parametrize("pattern", [b"\xa5", b"\x01\x02", b"\xde\xad\xbe\xef",
                                     bytes(range(1, 9))])
@pytest.mark.parametrize("offset,nbytes", [(0, 64), (8, 40), (3, 21)])
def test_fill_and_read(session, pattern, offset, nbytes):
    buf = session.alloc(128)
    session.write(buf, 0, np.zeros(128, np.uint8))
    session.fill(buf, offset, nbytes, pattern)
    got = session.read(buf, 0, 128)
    expect = np.zeros(128, np.uint8)
    expect[offset:offset + nbytes] = np.frombuffer(pattern * (nbytes // len(pattern) + 1),
                                                   np.uint8)[:nbytes]
    np.testing.assert_array_equal(got, expect)
    session.free(buf)


def test_out_of_range_access_is_refused(session):
    buf = session.alloc(16)
    with pytest.raises(ValueError):
        session.read(buf, 8, 16)
    session.free(buf)


def test_launch_errors(session, vadd):
    n = 1000
    bufs, args = vadd_args(session, n)
    with pytest.raises(LaunchError, match="multiple"):
        session.launch(vadd, (1000, 1, 1), (64, 1, 1), 0, args)
    with pytest.raises(LaunchError):  # the runtime's own refusal: local size too big
        session.launch(vadd, (1 << 16, 1, 1), (1 << 15, 1, 1), 0, args)
    with pytest.raises(LaunchError):  # 1-D kernel, 2-D shape
        session.launch(vadd, (64, 64, 1), (8, 8, 1), 0, args)
    for b in bufs:
        session.free(b)


def test_timed_launch(session, vadd):
    n = 1 << 16
    bufs, args = vadd_args(session, n, offsets=(0, 0, 0))
    times = [session.timed_launch(vadd, (n, 1, 1), (128, 1, 1), 0, args) for _ in range(3)]
    assert all(t > 0 for t in times)
    assert all(t < 5 for t in times)
    for b in bufs:
        session.free(b)


def test_flush_and_peak_bandwidth(session):
    session.flush_caches()
    session.flush_caches()
    bw = session.measure_peak_bandwidth()
    assert bw > 1e8  # bytes/s; any real machine is far above this
    assert session.info.peak_bandwidth == bw


def test_list_devices_finds_the_cpu():
    devs = list_devices()
    cpu = next(d for d in devs if d.kind == "cpu")
    assert cpu.backend == "sycl" and cpu.arch.endswith(":cpu")
    assert cpu.compute_units >= 1 and cpu.memory_bytes > 0
    assert cpu.details["max_work_group_size"] >= 1
    assert cpu.tag == "sycl-cpu"


def test_parse_log_and_line_map():
    src = "prelude\n#line 1 \"/p/k.cpp\"\nfirst\nsecond\n"
    assert line_map(src)[:4] == [(None, 0), (None, 1), ("/p/k.cpp", 0), ("/p/k.cpp", 1)]
    log = ("rtc_7.cpp:4:5: error: boom\n"
           "rtc_7.cpp:3:1: warning: meh\n"
           "rtc_7.cpp:1:1: error: in prelude\n"
           "/inc/h.hpp:10:2: error: header trouble\n"
           "rtc_7.cpp:4:5: note: a note\n")
    diags = parse_log(log, "/p/k.cpp", src)
    assert [(d.file, d.line, d.column, d.severity) for d in diags] == [
        ("/p/k.cpp", 1, 4, "error"), ("/p/k.cpp", 0, 0, "error"),
        ("/inc/h.hpp", 9, 1, "error"), ("/p/k.cpp", 0, 0, "warning")]


def test_parallel_shim_builds(tmp_path: Path):
    """Two processes building the shim into an empty cache at once both succeed."""
    env = {**os.environ, "KF_CACHE_DIR": str(tmp_path)}
    code = "from backends.sycl.build import ensure_shim; print(ensure_shim())"
    root = Path(__file__).resolve().parents[1]
    procs = [subprocess.Popen([sys.executable, "-c", code], cwd=root, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), outs
    paths = {o[0].strip() for o in outs}
    assert len(paths) == 1
    lib = Path(paths.pop())
    assert lib.is_file() and str(lib).startswith(str(tmp_path))
    assert [f.name for f in lib.parent.iterdir()] == [lib.name]  # no temp files left
