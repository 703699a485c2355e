"""A variant of a SYCL lambda or nd_item function kernel is written in the user's form (the
`parallel_for` statement with its lambda, or the function), spliced back into the user's
file, and that file is still the user's program: the SYCL compiler builds it whole (host
code, the rewritten lambda as a device kernel), and kf verifies and times the variant
against the original through its lifted kernels (issue 17)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from backends.kernel.load import load_unit
from backends.kernel.scanner import find_kernel
from backends.kernel.splice import region_text, write_variant
from evolver.extract import extract_region, validate

ROOT = Path(__file__).resolve().parent.parent

PROGRAM = textwrap.dedent("""\
    #include <sycl/sycl.hpp>
    #include <cstdio>

    // @kf in  x: float[n]
    // @kf out y: float[n]
    // @kf n = 4096
    // @kf global roundup(n, 64)
    // @kf local 64
    // @kf check n = 1000
    void scale(const float* x, float* y, int n, const sycl::nd_item<1>& item) {
      int i = item.get_global_id(0);
      if (i < n) y[i] = 3.0f * x[i];
    }

    int main() {
      sycl::queue q;
      int n = 4096;
      float* x = sycl::malloc_shared<float>(n, q);
      float* y = sycl::malloc_shared<float>(n, q);
      float* z = sycl::malloc_shared<float>(n, q);
      for (int i = 0; i < n; i++) x[i] = i;
      q.parallel_for(sycl::nd_range<1>((n + 63) / 64 * 64, 64), [=](sycl::nd_item<1> it) {
        scale(x, y, n, it);
      }).wait();
      // @kf in  y: float[n]
      // @kf out z: float[n]
      // @kf n = 4096
      // @kf global n
      // @kf check n = 1000
      q.parallel_for(sycl::range<1>(n), [=](sycl::id<1> i) {
        z[i] = y[i] * y[i] + 1.0f;
      }).wait();
      std::printf("%f\\n", z[1]);
      sycl::free(x, q);
      sycl::free(y, q);
      sycl::free(z, q);
      return 0;
    }
    """)

LAMBDA_VARIANT = textwrap.dedent("""\
      // @kf in  y: float[n]
      // @kf out z: float[n]
      // @kf n = 4096
      // @kf global n
      // @kf check n = 1000
      q.parallel_for(sycl::range<1>(n), [=](sycl::id<1> i) {
        const float v = y[i];
        z[i] = sycl::fma(v, v, 1.0f);
      }).wait();""")

REPLY = textwrap.dedent("""\
    Idea: read x once into a register and multiply by a constant.

    ```cpp
    // @kf in  x: float[n]
    // @kf out y: float[n]
    // @kf n = 4096
    // @kf global roundup(n, 128)
    // @kf local 128
    // @kf check n = 1000
    void scale(const float* x, float* y, int n, const sycl::nd_item<1>& item) {
      const int i = item.get_global_id(0);
      if (i >= n) return;
      const float v = x[i];
      y[i] = v + v + v;
    }
    ```
    """)


def kf(*args, timeout=600):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "kf_lsp", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=timeout, env=env)


def compiles_as_the_users_program(text: str) -> None:
    """The whole file (main, queues, the lambdas as device kernels) through the SYCL compiler."""
    from backends.session import CompileFailure, CompileUnit
    from backends.sycl.session import SyclSession

    probe = text + ('\nextern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY(('
                    "sycl::ext::oneapi::experimental::nd_range_kernel<1>))\nvoid kf_probe(int* p) { p[0] = 0; }\n")
    with SyclSession() as s:
        out = s.compile(CompileUnit("program.cpp", '#line 1 "program.cpp"\n' + probe, "kf_probe", "sycl"))
    assert not isinstance(out, CompileFailure), [d.format() for d in out.diagnostics]


def test_a_lambda_variant_is_spliced_in_the_users_form_and_still_compiles(tmp_path):
    ref = find_kernel(PROGRAM, "p.cpp", "main#1")
    new = write_variant(PROGRAM, ref, LAMBDA_VARIANT, {})
    assert new.count("\n") == PROGRAM.count("\n") + 1  # the statement grew by one line, nothing else moved
    assert new.replace(LAMBDA_VARIANT, "") == PROGRAM.replace(region_text(PROGRAM, ref), "")
    again = find_kernel(new, "p.cpp", "main#1")
    assert again.form == "lambda" and [p.name for p in again.params] == [p.name for p in ref.params]
    compiles_as_the_users_program(new)
    (tmp_path / "p.cpp").write_text(PROGRAM)
    (tmp_path / "v.cpp").write_text(new)
    proc = kf("bench", f"{tmp_path / 'p.cpp'}:main#1", "--candidate", f"{tmp_path / 'v.cpp'}:main#1",
              "--time-budget", "0.2", "--seeds", "1", "--json")
    result = json.loads(proc.stdout)
    assert result["verdict"] == "correct", result["message"]
    assert result["speedup"] is not None


def test_an_llm_reply_rewriting_an_nd_item_function_is_verified_and_applied(tmp_path):
    path = tmp_path / "p.cpp"
    path.write_text(PROGRAM)
    unit = load_unit(str(path), "scale")
    region = extract_region(REPLY, unit.kernel, file_text=unit.text)
    assert isinstance(region, str) and region.startswith("// @kf in  x: float[n]")
    cand = validate(region, unit)
    assert not hasattr(cand, "reason"), cand
    assert cand.kernel.form == "nd_item_function" and cand.kernel.spec.launch.block == ["128"]
    compiles_as_the_users_program(cand.text)

    from backends.model import EvalOptions, EvalRequest, Verdict
    from backends.run.local_pool import EvalPool

    opts = EvalOptions(seeds=1, target_seconds=0.2, min_trials=3, max_trials=20, warmup_seconds=0.01)
    with EvalPool("sycl", [0]) as pool:
        result = pool.evaluate_sync(EvalRequest(unit, cand, "sycl", 0, opts))
    assert result.verdict is Verdict.CORRECT, result.message


def test_an_unnamed_lambda_in_a_reply_stands_for_its_kernel():
    unit = load_unit("p.cpp", "main#1", text=PROGRAM)
    reply = "```cpp\n" + textwrap.dedent(LAMBDA_VARIANT) + "\n```\n"
    region = extract_region(reply, unit.kernel, file_text=unit.text)
    assert isinstance(region, str) and "sycl::fma" in region
    cand = validate(region, unit)
    assert not hasattr(cand, "reason"), cand
    assert cand.kernel.name == "main#1" and "sycl::fma" in cand.text


@pytest.mark.parametrize("bad, kind", [
    ("z[i] = y[i] * y[i] + 1.0f + x[i];", "contract"),  # a capture the original does not have
])
def test_a_variant_that_changes_what_the_lambda_captures_breaks_the_contract(bad, kind):
    unit = load_unit("p.cpp", "main#1", text=PROGRAM)
    region = region_text(PROGRAM, unit.kernel).replace("z[i] = y[i] * y[i] + 1.0f;", bad)
    cand = validate(region, unit)
    assert getattr(cand, "kind", None) == kind and "parameter count changed" in cand.reason


@pytest.mark.parametrize("name, words", [
    ("main#1", ["a lambda passed to `parallel_for`", "no new captures"]),
    ("scale", ["a function taking the SYCL work-item", "keep the `@kf global` and `@kf local`"]),
])
def test_the_llm_is_asked_for_the_users_form(name, words):
    from evolver.operators import Context
    from evolver.prompts import build_messages, default_prompt

    unit = load_unit("p.cpp", name, text=PROGRAM)
    ctx = Context(reference=unit, reference_variant=None, elites=[], parents=[], recent_failures=[],
                  empty_cells=[], good_moves=[], axes=[], device="sycl cpu", prompts=[], generation=1)
    user = build_messages(ctx, None, default_prompt("sycl"))[1]["content"]
    assert all(w in user for w in words), user
