"""Issue 20.3: compiles cached on disk by normal form (backends/kernel/normal_form.py,
backends/judge/compile_cache.compile_unit). Real NVRTC, no GPU (the compile-only CUDA session:
what a machine without a GPU, or the language server, compiles); the GPU path is
tests/test_checks_hostile_cuda.py. SYCL is not cached this way: its runtime's own caches key
on the device code, so a whitespace-only change costs its front end (~0.8 s here) either way
(docs/evaluation.md)."""

from __future__ import annotations

import pytest

from backends.judge import compile_cache
from backends.judge.launch import compile_unit_for
from backends.kernel.load import load_unit
from backends.kernel.normal_form import normal_form
from backends.model import EvalOptions, EvalRequest, Verdict

from evalcases import EXAMPLES

SAXPY = EXAMPLES / "cuda" / "saxpy.cu"


def test_normal_form_drops_comments_and_the_amount_of_whitespace_only():
    a = '#include <cstdio>\n#define F(x)  ((x) + 1)\n// note\nint  f(int a) {   return a+ 1;  /* c */ }\nconst char* s = "a  b";\n'
    b = '#include   <cstdio>\n#define F(x) ((x) + 1)\nint f(int a)\n{\n  return a+ 1; // other\n}\nconst char* s = "a  b";'
    assert normal_form(a) == normal_form(b)
    assert normal_form(a) != normal_form(a.replace("F(x)", "F (x)"))  # a function-like macro or not
    assert normal_form(a) != normal_form(a.replace('"a  b"', '"a b"'))  # string contents are kept
    assert normal_form(a) != normal_form(a.replace("a+ 1", "a+1"))  # a space stays where there was one
    assert normal_form('#line 7 "x.cu"\nint a;\n') == normal_form('#line 1 "y.cu"\n\nint a;\n')
    assert normal_form("int line = __LINE__;") is None  # sees its own layout: compiled as it is


def _units(tmp_path):
    text = SAXPY.read_text()
    same = text.replace("  int i =", "  // the element\n  int   i =").replace("// saxpy:", "//   saxpy:")
    other = text.replace("a * x[i] + y[i]", "a * x[i] - y[i]")
    paths = []
    for name, t in (("a.cu", text), ("b.cu", same), ("c.cu", other)):
        (tmp_path / name).write_text(t)
        paths.append(tmp_path / name)
    return paths


def test_a_whitespace_only_change_is_loaded_from_the_disk_cache(tmp_path, monkeypatch):
    from backends.cuda.compile_only import CompileOnlySession

    monkeypatch.setenv("KF_CACHE_DIR", str(tmp_path / "cache"))
    session = CompileOnlySession("cuda")
    a, b, c = (compile_unit_for(load_unit(str(p)), "candidate")[0] for p in _units(tmp_path))
    before = compile_cache.stats()
    first = compile_cache.compile_unit(session, a)
    again = compile_cache.compile_unit(session, b)
    other = compile_cache.compile_unit(session, c)
    after = compile_cache.stats()
    assert after["disk_hits"] - before["disk_hits"] == 1  # b
    assert after["disk_misses"] - before["disk_misses"] == 2  # a, and c: another program
    assert again.cubin == first.cubin and other.cubin != first.cubin
    assert again.resources.registers == first.resources.registers and not again.warnings
    entries = [p for p in (tmp_path / "cache" / "compiled").rglob("*") if p.is_file()]
    assert len(entries) == 2 and not any(p.name.startswith(".") for p in entries)  # no temporary files left
    monkeypatch.setenv("KF_COMPILE_CACHE", "0")
    compile_cache.compile_unit(session, b)
    assert compile_cache.stats()["disk_hits"] == after["disk_hits"]  # turned off: compiled


def test_through_a_worker_the_second_evaluation_is_not_compiled_again(tmp_path, monkeypatch):
    from backends.run.local_pool import EvalPool

    monkeypatch.setenv("KF_CACHE_DIR", str(tmp_path / "cache"))
    a, b, _ = _units(tmp_path)
    ref = load_unit(str(SAXPY))
    with EvalPool("cuda", [-1]) as pool:
        hits = []
        for cand in (a, b):
            r = pool.evaluate_sync(EvalRequest(ref, load_unit(str(cand)), "cuda", -1, EvalOptions()))
            assert r.verdict is Verdict.COMPILED, r.message
            hits.append(pool.workers[0].cache_stats()["compile"]["disk_hits"])
    # the second candidate differs from the first in comments and spaces: loaded, not compiled
    # (the first is the original's text under another name: loaded too)
    assert hits[1] - hits[0] == 1, hits
