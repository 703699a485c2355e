"""Precompiled preambles for SYCL compiles (backends/kernel/preamble.py, backends/sycl/pch.py):
used in a search for the original and the candidates that share its preamble, never where a header it
includes could change under kf (the runtime would reuse a stale copy), and a kernel compiled
with one computes and reports errors exactly as without."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
import pytest

from backends.judge.launch import compile_unit_for
from backends.kernel.preamble import headers_fixed, preamble
from backends.kernel.scanner import find_kernels
from backends.model import Unit

ROOT = Path(__file__).resolve().parent.parent
REDUCTION = ROOT / "examples" / "sycl" / "reduction.cpp"


def _unit(text: str, path: str, name: str, **tunables) -> Unit:
    kernel = next(k for k in find_kernels(text, path) if k.name == name)
    return Unit(path=path, text=text, kernel=kernel, tunables=tunables)


# -- the preamble and when it may be precompiled (pure text) ---------------------------------


def test_preamble_is_the_leading_comments_and_directives():
    text = REDUCTION.read_text()
    head = preamble(text)
    assert head.rstrip().endswith("#include <sycl/sycl.hpp>")
    assert "namespace" not in head
    src = '#line 1 "k.cpp"\n/* a\n b */ #include <a.h>\n#define X \\\n  1\n// c\nint x;\n#include <b.h>\n'
    assert preamble(src) == src[: src.index("int x;")]


def test_only_toolchain_headers_are_precompiled(tmp_path):
    assert headers_fixed("#include <sycl/sycl.hpp>\n", [str(REDUCTION.parent)]) is None
    # a project header: the runtime would reuse the precompiled copy after the file changed
    assert "only <...>" in headers_fixed('#include <sycl/sycl.hpp>\n#include "common.h"\n', [])
    (tmp_path / "sycl").mkdir()
    (tmp_path / "sycl" / "sycl.hpp").write_text("// a project's own sycl.hpp\n")
    assert "found in" in headers_fixed("#include <sycl/sycl.hpp>\n", [str(tmp_path)])
    assert headers_fixed("#include <sycl/sycl.hpp>\n#if __has_include(<x.h>)\n#endif\n", []) is not None
    assert headers_fixed("#include KF_HEADER\n", []) is not None
    assert headers_fixed("// nothing included\n#define N 4\n", []) is not None


def test_a_searchs_original_and_candidates_sharing_its_preamble_are_marked():
    text, path = REDUCTION.read_text(), str(REDUCTION)
    # a single evaluation (kf bench) builds none: it would cost a compile and serve none
    assert not compile_unit_for(_unit(text, path, "reduce_sum"), "reference")[0].precompile
    ref, _ = compile_unit_for(_unit(text, path, "reduce_sum"), "reference", precompile=True)
    assert ref.precompile
    cand, _ = compile_unit_for(_unit(text, path, "reduce_sum", WG_SIZE=128), "candidate", like=ref)
    assert cand.precompile and cand.source != ref.source
    # an LLM's rewrite with another include would build a precompiled preamble used once
    other = text.replace("#include <sycl/sycl.hpp>", "#include <sycl/sycl.hpp>\n#include <cmath>")
    assert not compile_unit_for(_unit(other, path, "reduce_sum"), "candidate", like=ref)[0].precompile
    # a candidate with no original to share with (a stub's search) is not marked
    assert not compile_unit_for(_unit(text, path, "reduce_sum", WG_SIZE=8), "candidate")[0].precompile


def test_tunable_defines_in_the_preamble_are_not_precompiled():
    """A tunable kf #defines after the last #include lies in the preamble: every candidate's
    differs, so precompiling the original's would only cost a compile."""
    text = textwrap.dedent("""\
        #include <sycl/sycl.hpp>
        // @kf in  x: float[n]
        // @kf out y: float[n]
        // @kf n = 1024
        // @kf global n
        // @kf local BS
        // @kf tune BS = 32, 64
        extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((sycl::ext::oneapi::experimental::nd_range_kernel<1>))
        void copy(const float* x, float* y, int n) {
          size_t i = sycl::ext::oneapi::this_work_item::get_nd_item<1>().get_global_id(0);
          if (i < n) y[i] = x[i] * BS;
        }
    """)
    cu, _ = compile_unit_for(_unit(text, "/tmp/kf-pch-prelude.cpp", "copy"), "reference", precompile=True)
    assert "#define BS" in preamble(cu.source)
    assert not cu.precompile


# -- on the real runtime -----------------------------------------------------------------------

# light toolchain headers (as intel/llvm's own run-time compilation tests use), so building the
# precompiled preamble takes about a second
LIGHT = textwrap.dedent("""\
    #include <sycl/ext/oneapi/free_function_queries.hpp>
    #include <sycl/ext/oneapi/kernel_properties/properties.hpp>
    namespace syclext = sycl::ext::oneapi;
    namespace syclexp = sycl::ext::oneapi::experimental;
    extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
    void fill(float* y, int n) {
      size_t i = syclext::this_work_item::get_nd_item<1>().get_global_id(0);
      if (i < n) y[i] = VALUE;
    }
""")


@pytest.fixture(scope="module")
def session():
    pytest.importorskip("dpctl")
    from backends.sycl import list_devices
    from backends.sycl.session import SyclSession

    if not any(d.kind == "cpu" for d in list_devices()):
        pytest.skip("no SYCL CPU device")
    s = SyclSession(kind="cpu")
    yield s
    s.close()


def _run(session, kernel, n: int = 8) -> np.ndarray:
    from backends.session import BufferArg, ScalarArg

    buf = session.alloc(4 * n)
    try:
        session.launch(kernel, (n, 1, 1), (n, 1, 1), 0, [BufferArg(buf, 0), ScalarArg(n, "i32")])
        return session.read(buf, 0, 4 * n).view(np.float32)
    finally:
        session.free(buf)


def test_a_precompiled_preamble_compiles_runs_and_reports_as_without(session, tmp_path, monkeypatch):
    from backends.session import CompileFailure, CompileUnit
    from backends.sycl import pch

    monkeypatch.setenv("SYCL_CACHE_PERSISTENT", "1")
    monkeypatch.setenv("SYCL_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("KF_SYCL_PCH", raising=False)
    path = "/home/user/fill.cpp"

    def unit(value: str, body_extra: str = "") -> CompileUnit:
        text = f'#line 1 "{path}"\n' + LIGHT.replace("VALUE", value).replace("  if (i < n)", body_extra + "  if (i < n)")
        return CompileUnit(path, text, "fill", "sycl", [], [], precompile=True)

    first = session.compile(unit("1.5f"))
    assert not isinstance(first, CompileFailure), first
    stored = [p for p in (tmp_path / "kf-pch").rglob("*") if p.is_file()]
    assert len(stored) == 1  # the preamble, precompiled on disk
    second = session.compile(unit("2.5f"))  # another kernel body: compiled over the stored preamble
    assert not isinstance(second, CompileFailure), second
    assert np.all(_run(session, first) == 1.5) and np.all(_run(session, second) == 2.5)
    # an error after the precompiled preamble is on the user's line (the body's 'if' is line 8)
    bad = session.compile(unit("3.5f", "  undefined_name = 1;\n"))
    assert isinstance(bad, CompileFailure)
    err = next(d for d in bad.diagnostics if d.severity == "error")
    assert (err.file, err.line, "undefined_name" in err.message) == (path, 7, True)
    assert pch.options(unit("1.0f").source, []) == [pch.OPTION + str(stored[0].parent)]
    monkeypatch.setenv("KF_SYCL_PCH", "0")
    assert pch.options(unit("1.0f").source, []) == []


def test_a_search_asks_for_precompiled_preambles():
    from backends.model import EvalOptions
    from evolver.engine import search_options
    from evolver.records import SearchConfig

    assert not EvalOptions().precompile  # kf bench, the language server's runs
    mine = search_options(EvalOptions(seeds=2), SearchConfig())
    assert mine.precompile and mine.seeds == 2
    assert search_options(None, SearchConfig(eval_seconds=0.3)) == EvalOptions(target_seconds=0.3, precompile=True)
