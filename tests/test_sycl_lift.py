"""SYCL lambdas and nd_item functions, lifted into free-function kernels, run on the real SYCL
runtime (CPU) and compute what the user's code computes (issue 17): the lifted kernel sees
the user's range (ids, items, linear ids) even where kf rounds the launch up to whole
work-groups, accessors keep their shape, local accessors get work-group local memory, and an
nd_item function is called with the work-item. The user's host code (main, queues, host-only
headers) never reaches the compiler. `kf bench` measures them; compile errors land on the
user's lines."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from backends.judge.launch import range_work_group
from backends.kernel.lift import LiftError, lift, plan
from backends.kernel.scanner import find_kernel

ROOT = Path(__file__).resolve().parent.parent

HOST = textwrap.dedent("""\
    #include <sycl/sycl.hpp>
    #include <iostream>
    #include <vector>
    #include "not_installed_here.hpp"

    constexpr int TILE = 8;

    static float twice(float x) { return 2.0f * x; }
    static void host_only() { std::vector<int> v(3); std::cout << v.size() << not_installed::x; }

    int main() {
      sycl::queue q;
      host_only();
      size_t rows = 5, cols = 7;
      float* out = sycl::malloc_device<float>(rows * cols, q);
      // @kf out out: float[rows * cols]
      // @kf rows = 5
      // @kf cols = 7
      // @kf global rows, cols
      q.parallel_for(sycl::range<2>(rows, cols), [=](sycl::item<2> it) {
        out[it.get_linear_id()] = twice(it[0] * 1000 + it[1]) + it.get_range(1);
      }).wait();

      sycl::buffer<float, 2> mbuf(sycl::range<2>(rows, cols));
      q.submit([&](sycl::handler& h) {
        sycl::accessor m(mbuf, h, sycl::write_only);
        sycl::local_accessor<float, 1> tile(sycl::range<1>(TILE), h);
        // @kf out m: float[rows * cols]
        // @kf rows = 5
        // @kf cols = 7
        // @kf global rows, cols
        h.parallel_for<class shape>(sycl::range<2>(rows, cols), [=](sycl::id<2> i) {
          m[i[0]][i[1]] = i[0] * 100 + i[1] + m.get_range()[1];
        });
      });

      int n = 1000, wg = 64;
      float* x = sycl::malloc_device<float>(n, q);
      float* sums = sycl::malloc_device<float>(n / wg + 1, q);
      q.submit([&](sycl::handler& h) {
        sycl::local_accessor<float, 1> scratch(wg, h);
        // @kf in  x: float[n]
        // @kf out sums: float[cdiv(n, wg)]
        // @kf n = 1000
        // @kf wg = 64
        // @kf fixed wg
        // @kf global roundup(n, wg)
        // @kf local wg
        h.parallel_for<class blocksum>(sycl::nd_range<1>((n + wg - 1) / wg * wg, wg), [=](sycl::nd_item<1> it) {
          size_t l = it.get_local_id(0), g = it.get_global_id(0);
          scratch[l] = g < n ? x[g] : 0.0f;
          sycl::group_barrier(it.get_group());
          if (l == 0) {
            float s = 0;
            for (int k = 0; k < wg; k++) s += scratch[k];
            sums[it.get_group(0)] = s;
          }
        });
      });
      return 0;
    }
    """)

DPCT = textwrap.dedent("""\
    #include <sycl/sycl.hpp>
    #include <dpct/dpct.hpp>

    // @kf in  a: float[n]
    // @kf out c: float[n]
    // @kf n = 1000
    // @kf global 1, 1, roundup(n, 256)
    // @kf local 1, 1, 256
    void reverse_blocks(const float* a, float* c, int n, const sycl::nd_item<3> &item_ct1, float *tile)
    {
      int l = item_ct1.get_local_id(2);
      int i = item_ct1.get_group(2) * item_ct1.get_local_range(2) + l;
      tile[l] = i < n ? a[i] : -1.0f;
      item_ct1.barrier(sycl::access::fence_space::local_space);
      if (i < n) c[i] = tile[item_ct1.get_local_range(2) - 1 - l];
    }

    int main() {
      dpct::device_ext &dev_ct1 = dpct::get_current_device();
      sycl::queue &q_ct1 = dev_ct1.in_order_queue();
      float *d_a, *d_c;
      int n = 1000;
      q_ct1.submit([&](sycl::handler &cgh) {
        sycl::local_accessor<float, 1> tile_acc_ct1(sycl::range<1>(256), cgh);
        cgh.parallel_for(
          sycl::nd_range<3>(sycl::range<3>(1, 1, 4) * sycl::range<3>(1, 1, 256), sycl::range<3>(1, 1, 256)),
          [=](sycl::nd_item<3> item_ct1) {
            reverse_blocks(d_a, d_c, n, item_ct1, tile_acc_ct1.get_multi_ptr<sycl::access::decorated::no>().get());
          });
      });
    }
    """)


@pytest.fixture(scope="module")
def session():
    from backends.sycl.session import SyclSession

    with SyclSession() as s:
        yield s


def _run(session, path: str, text: str, name: str, env: dict, inputs: dict, sizes: dict) -> dict:
    """Lift `name`, compile it, launch it as the harness does (kf's work-group for a range
    launch, hidden arguments after the parameters) and return its buffers."""
    from backends.kernel.expressions import evaluate
    from backends.session import BufferArg, CompileFailure, CompileUnit, ScalarArg

    k = find_kernel(text, path, name)
    assert not [d for d in k.spec_errors if d.severity == "error"], k.spec_errors
    lifted = lift(text, k, path)
    compiled = session.compile(CompileUnit(path, lifted.source, lifted.entry, "sycl"))
    assert not isinstance(compiled, CompileFailure), compiled.diagnostics
    bufs, args = {}, []
    for p in k.params:
        if p.is_pointer:
            host = inputs.get(p.name, np.full(sizes[p.name], np.nan, np.float32))
            bufs[p.name] = session.alloc(host.nbytes)
            session.write(bufs[p.name], 0, host)
            args.append(BufferArg(bufs[p.name], 0))
        else:
            args.append(ScalarArg(env[p.name], "i32"))
    args += [ScalarArg(int(evaluate(h.expr, env)), "u64") for h in lifted.plan.hidden]
    launch = k.spec.launch
    glob = [int(evaluate(x, env)) for x in launch.grid] + [1] * (3 - len(launch.grid))
    if lifted.plan.range_launch:
        local = range_work_group(tuple(glob), lifted.plan.dims)
        glob = [-(-g // b) * b for g, b in zip(glob, local)]
    else:
        local = [int(evaluate(x, env)) for x in launch.block] + [1] * (3 - len(launch.block))
    session.launch(compiled, tuple(glob), tuple(local), 0, args)
    return {n: session.read(b, 0, sizes[n] * 4).view(np.float32) for n, b in bufs.items()}


def test_a_range_launch_sees_the_users_range_not_the_rounded_one(session):
    got = _run(session, "host.cpp", HOST, "main#1", {"rows": 5, "cols": 7}, {}, {"out": 35})
    r, c = np.meshgrid(np.arange(5), np.arange(7), indexing="ij")
    np.testing.assert_array_equal(got["out"], (2 * (r * 1000 + c) + 7).ravel().astype(np.float32))


def test_a_two_dimensional_accessor_keeps_its_shape(session):
    got = _run(session, "host.cpp", HOST, "shape", {"rows": 5, "cols": 7}, {}, {"m": 35})
    r, c = np.meshgrid(np.arange(5), np.arange(7), indexing="ij")
    np.testing.assert_array_equal(got["m"], (r * 100 + c + 7).ravel().astype(np.float32))


def test_local_accessor_sized_by_a_captured_variable_is_work_group_memory(session):
    x = np.arange(1000, dtype=np.float32) % 13
    got = _run(session, "host.cpp", HOST, "blocksum", {"n": 1000, "wg": 64}, {"x": x}, {"x": 1000, "sums": 16})
    want = np.add.reduceat(np.concatenate([x, np.zeros(24, np.float32)]), np.arange(0, 1024, 64))
    np.testing.assert_array_equal(got["sums"], want)


def test_a_lifted_local_accessor_is_reported_as_the_kernels_local_memory(session):
    """kf bench's "shared mem" row once read 0 B for a lambda with a local_accessor: the
    static work-group memory the compiled kernel uses is the device's figure."""
    from backends.session import CompileUnit

    def static_local(name):
        k = find_kernel(HOST, "host.cpp", name)
        lifted = lift(HOST, k, "host.cpp")
        return session.compile(CompileUnit("host.cpp", lifted.source, lifted.entry, "sycl")).resources.static_shared

    assert static_local("blocksum") == 64 * 4  # local_accessor<float, 1> scratch(wg, h), wg = 64
    assert static_local("shape") == 0


def test_the_shared_mem_row_says_when_only_the_launchs_request_is_known():
    from backends.model import Profile
    from kf_lsp.core.tables import fmt_shared

    assert fmt_shared(Profile(static_shared=4080, dynamic_shared=0)) == "4080 B"
    assert fmt_shared(Profile(static_shared=16, dynamic_shared=1024)) == "1040 B"
    assert fmt_shared(Profile(dynamic_shared=4080)) == "4080 B (requested at launch; static not reported)"
    assert fmt_shared(Profile()) == "-"


def test_nd_item_function_gets_the_work_item_and_its_local_memory(session):
    a = np.arange(1000, dtype=np.float32)
    got = _run(session, "dpct.cpp", DPCT, "reverse_blocks", {"n": 1000}, {"a": a}, {"a": 1000, "c": 1000})
    padded = np.concatenate([a, np.full(24, -1.0, np.float32)])  # the last group reads past n
    want = np.concatenate([padded[i:i + 256][::-1] for i in range(0, 1024, 256)])[:1000]
    np.testing.assert_array_equal(got["c"], want)


def test_the_lifted_unit_leaves_host_code_out_and_keeps_the_users_lines():
    k = find_kernel(HOST, "host.cpp", "main#1")
    lifted = lift(HOST, k, "host.cpp")
    src = lifted.source
    assert lifted.entry == "kf_lifted_main_1" and lifted.plan.range_launch and lifted.plan.dims == 2
    assert [h.expr for h in lifted.plan.hidden] == ["rows", "cols"]
    assert "host_only() {" not in src and "int main()" not in src  # blanked, lines kept
    assert "static float twice(float x)" in src  # the kernel needs it
    assert '#if __has_include("not_installed_here.hpp")' in src
    body_line = next(i for i, ln in enumerate(HOST.splitlines()) if "out[it.get_linear_id()]" in ln)
    assert f'#line {body_line} "host.cpp"' in src  # the body sits under its own line numbers
    assert src.count("\n") > HOST.count("\n")


def test_a_lambda_that_cannot_be_lifted_is_a_spec_error_naming_the_line():
    text = HOST.replace("twice(it[0] * 1000 + it[1])", "twice(it[0] * 1000 + it[1]) + (float)q.get_device().is_cpu()")
    k = find_kernel(text, "host.cpp", "main#1")
    errors = [d for d in k.spec_errors if d.severity == "error"]
    assert errors and "'q'" in errors[0].message and "sycl::queue" in errors[0].message
    with pytest.raises(LiftError) as e:
        plan(text, k, "host.cpp")
    assert e.value.diagnostics[0].line == next(i for i, ln in enumerate(text.splitlines()) if "is_cpu" in ln)


def kf(*args, timeout=600):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "kf_lsp", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout, env=env)


def test_kf_bench_measures_a_lambda_and_an_nd_item_function(tmp_path):
    host, dpct = tmp_path / "host.cpp", tmp_path / "vadd.dp.cpp"
    host.write_text(HOST)
    dpct.write_text(DPCT)
    for target in (f"{host}:main#1", f"{dpct}:reverse_blocks"):
        proc = kf("bench", target, "--time-budget", "0.2", "--seeds", "1", "--json")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        result = json.loads(proc.stdout)
        assert result["verdict"] == "correct", result["message"]
        assert result["reference"]["timing"]["median"] > 0
        # work-group local memory as the device reports it: main#1 uses no local accessor (its
        # `tile` is declared but not captured); reverse_blocks gets 256 floats from its caller
        profile = result["reference"]["profile"]
        assert profile["static_shared"] == (0 if target.endswith("main#1") else 256 * 4), profile


def test_a_compile_error_in_a_lambda_points_at_the_users_line(tmp_path):
    bad = tmp_path / "bad.cpp"
    bad.write_text(HOST.replace("twice(it[0] * 1000 + it[1])", "twice(it[0] * 1000 + it[1] + undeclared_thing)"))
    proc = kf("bench", f"{bad}:main#1", "--seeds", "1")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = next(i for i, ln in enumerate(bad.read_text().splitlines()) if "undeclared_thing" in ln) + 1
    col = bad.read_text().splitlines()[line - 1].index("undeclared_thing") + 1
    assert f"bad.cpp:{line}:{col}: error: use of undeclared identifier 'undeclared_thing'" in proc.stderr + proc.stdout


TEMPLATE = textwrap.dedent("""\
    #include <sycl/sycl.hpp>

    template <typename T>
    void axpy(sycl::queue& q, size_t n, T alpha, const T* x, T* y) {
      // @kf in    x: float[n]
      // @kf inout y: float[n]
      // @kf n = 3000
      // @kf alpha = 0.5
      // @kf global n
      q.parallel_for(sycl::range<1>(n), [=](sycl::id<1> i) { y[i] += alpha * x[i]; }).wait();
    }

    int main() {
      sycl::queue q;
      float* x = sycl::malloc_device<float>(8, q);
      float* y = sycl::malloc_device<float>(8, q);
      axpy(q, 8, 2.0f, x, y);
    }
    """)


def test_a_lambda_in_a_function_template_takes_its_types_from_the_spec(session):
    """`T alpha` and `T* x` inside `template <typename T>`: T is the buffers' type."""
    from backends.judge import harness
    from backends.kernel.load import load_unit
    from backends.model import EvalOptions, EvalRequest

    unit = load_unit("axpy.cpp", "axpy#1", text=TEMPLATE)
    assert [(p.name, p.type) for p in unit.kernel.params] == [("alpha", "T"), ("x", "const T*"), ("y", "T*")]
    lifted = lift(TEMPLATE, unit.kernel, "axpy.cpp")
    assert lifted.entry == "kf_lifted_axpy_1<float>" and lifted.plan.types == {"T": "float"}
    opts = EvalOptions(seeds=1, target_seconds=0.05, min_trials=2, max_trials=3, warmup_seconds=0.0, profile=False)
    result, _ = harness.evaluate(session, EvalRequest(unit, None, "sycl", 0, opts))
    assert result.verdict.value == "correct", result.message


def test_a_lambda_is_compiled_with_the_projects_macros(session, tmp_path):
    """`@kf flags -DSCALE=3` (or compile_commands.json, kf.sycl.flags): the lifted kernel's
    unit is built with the project's macros and include directories."""
    from backends.judge import harness
    from backends.kernel.load import load_unit
    from backends.model import EvalOptions, EvalRequest

    (tmp_path / "inc").mkdir()
    (tmp_path / "inc" / "scale.hpp").write_text("inline float scaled(float v) { return SCALE * v; }\n")
    text = TEMPLATE.replace("#include <sycl/sycl.hpp>\n", '#include <sycl/sycl.hpp>\n#include "scale.hpp"\n')
    text = text.replace("y[i] += alpha * x[i];", "y[i] += scaled(alpha * x[i]);")
    text = text.replace("  // @kf in    x: float[n]", "  // @kf flags -DSCALE=3 -Iinc\n  // @kf in    x: float[n]")
    assert "-DSCALE=3" in text
    path = tmp_path / "axpy.cpp"
    path.write_text(text)
    unit = load_unit(str(path), "axpy#1")
    opts = EvalOptions(seeds=1, target_seconds=0.05, min_trials=2, max_trials=3, warmup_seconds=0.0, profile=False)
    result, _ = harness.evaluate(session, EvalRequest(unit, None, "sycl", 0, opts))
    assert result.verdict.value == "correct", result.message


HALO = textwrap.dedent("""\
    #include <sycl/sycl.hpp>
    #include <vector>
    using namespace sycl;

    int main() {
      queue q;
      const size_t N = 8;
      const size_t M = 12;
      range<2> inner(N, M);
      range<2> padded(N + 2, M + 2);
      std::vector<float> in(padded.size()), out(padded.size());
      buffer<float, 2> in_buf(in.data(), padded);
      buffer<float, 2> out_buf(out.data(), padded);
      q.submit([&](handler &h) {
        accessor input{in_buf, h};
        accessor output{out_buf, h};
        constexpr size_t B = 4;
        range<2> local_range(B, B);
        range<2> tile_size = local_range + range<2>(2, 2);  // the work-group's tile and its halo
        auto tile = local_accessor<float, 2>(tile_size, h);
        h.parallel_for(nd_range<2>(inner, local_range), [=](nd_item<2> it) {
          for (size_t ti = it.get_local_id(0); ti < B + 2; ti += B)
            for (size_t tj = it.get_local_id(1); tj < B + 2; tj += B)
              tile[ti][tj] = input[ti + B * it.get_group(0)][tj + B * it.get_group(1)];
          group_barrier(it.get_group());
          size_t ti = it.get_local_id(0) + 1, tj = it.get_local_id(1) + 1;
          output[it.get_global_id(0) + 1][it.get_global_id(1) + 1] =
              tile[ti][tj] + tile[ti - 1][tj] + tile[ti + 1][tj] + tile[ti][tj - 1] + tile[ti][tj + 1];
        });
      });
    }
    """)


def test_an_auto_local_accessor_sized_by_range_arithmetic_is_work_group_memory(session):
    """A real stencil (kazukiminemura/sycl_101's sycl_stencil.cpp) declares its tile as
    `auto tile = local_accessor<float, 2>(tile_size, h)` with `tile_size = local_range +
    range<2>(2, 2)`: kf drafted `@kf tile = ?` (a scalar to write, which no value satisfied)
    and could not size it. It is local memory of (B + 2) x (B + 2) floats."""
    from backends.kernel.spec import draft_spec

    k = find_kernel(HALO, "halo.cpp", "main#1")
    assert [p.name for p in k.params] == ["input", "output"]  # the tile is no parameter
    draft = draft_spec(k, text=HALO, path="halo.cpp")
    assert "tile" not in draft and "?" not in draft, draft
    spec = "\n".join("    " + line for line in draft.splitlines() if "@kf" in line) + "\n"
    text = HALO.replace("    h.parallel_for(", spec + "    h.parallel_for(")
    assert text != HALO
    x = (np.arange(10 * 14, dtype=np.float32) % 7).reshape(10, 14)
    got = _run(session, "halo.cpp", text, "main#1", {"N": 8, "M": 12}, {"input": x.ravel()},
               {"input": 140, "output": 140})["output"].reshape(10, 14)
    want = x[1:-1, 1:-1] + x[:-2, 1:-1] + x[2:, 1:-1] + x[1:-1, :-2] + x[1:-1, 2:]
    np.testing.assert_array_equal(got[1:-1, 1:-1], want)
