"""The SYCL kernels of the real-code corpus (tests/corpus, issue 17's "Done when"): every
one is found where the manifest says, under the name it gives, by the scanner and by the
language server's index; and, with its hand-written spec inserted above it, runs correctly
under the harness `kf bench` uses, on the SYCL CPU device here.

Running all of them (about 50 compiles of a few seconds each) is marked `slow`; the default
run takes one kernel of each kind that matters (lambda over a range / an nd_range, USM /
buffer accessors, local memory, a stored lambda, a template, an nd_item function with and
without dpct) so that every lifting path is exercised on real code in a minute or two.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from backends.kernel.scanner import find_kernels, language_of
from kf_lsp.core.index import parse_entry

CORPUS = Path(__file__).resolve().parent / "corpus"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
SYCL = [e for e in MANIFEST if e["language"] == "sycl"]

# kernels that need a member of sycl::sub_group some runtimes no longer have (the same code
# fails in the user's own build with such a runtime): kernel -> the members it calls. Skipped,
# naming the runtime found, only where its sycl/sub_group.hpp lacks one; run where it has them.
NEEDS_SUB_GROUP = {
    "histogram_256_slm.cpp:main#1": ("load",),
    "sg_shuffle.cpp:main#1": ("load", "store"),
}


def _missing_sub_group_members(members: tuple[str, ...]) -> str | None:
    """Why the installed SYCL runtime cannot build a kernel calling sycl::sub_group::`members`
    (None when its header declares them all)."""
    from backends.sycl.build import prefix, sycl_rt_version

    header = prefix() / "include" / "sycl" / "sub_group.hpp"
    try:
        text = header.read_text(errors="replace")
    except OSError:
        return f"no {header}: cannot tell whether intel-sycl-rt {sycl_rt_version()} has sycl::sub_group::load"
    body = text[text.find("struct sub_group {"):] if "struct sub_group {" in text else text
    gone = [m for m in members if not re.search(rf"\b{m}\s*\(", body)]
    if not gone:
        return None
    return (f"intel-sycl-rt {sycl_rt_version()} (found here) has no sycl::sub_group::{'/'.join(gone)} "
            f"({header} declares none), which this kernel calls")

# the default run: one kernel of each lifting path (the rest run with -m slow)
REPRESENTATIVE = {
    "nstream-sycl-usm.cc:run#1",  # USM lambda in a function template, range + id
    "transpose-sycl-usm.cc:transpose",  # nd_range<2> lambda, class template kernel name
    "matrix_mul_sycl.cpp:main#3",  # 2-D buffer accessors, auto item over a 2-D range
    "stencil_1d.cpp:stencil1D",  # local accessor sized by macros, tuned #define
    "reduction_slm.cpp:main#1",  # local accessor sized by a captured variable
    "1d_HeatTransfer.cpp:ComputeHeatBuffer#1",  # stored lambda, accessors through a buffer pointer
    "main.cpp:ReluGrad_impl1",  # nd_item function (HeCBench relu), half buffers
    "vectoradd.dp.cpp:VectorAddKernel",  # dpct output, nd_item<3>, dpct header absent
    "simple-local-barrier.cpp:example_kernel",  # SYCL 1.2.1 accessors, cl::sycl, target::local
}


def _id(e: dict) -> str:
    return f"{Path(e['file']).name}:{e['kernel']}"


def _read(e: dict) -> str:
    with open(CORPUS / e["file"], encoding="utf-8", errors="surrogateescape", newline="") as f:
        return f.read()


def _find(e: dict, text: str):
    return next((k for k in find_kernels(text, e["file"], "sycl") if k.name == e["kernel"]), None)


@pytest.mark.parametrize("e", SYCL, ids=_id)
def test_every_sycl_kernel_is_found_where_the_manifest_says(e):
    text = _read(e)
    assert language_of(e["file"], text) == "sycl"
    k = _find(e, text)
    assert k is not None, f"{e['kernel']} not found"
    assert (k.name_range.start.line + 1, k.form) == (e["line"], e["form"])
    entry = parse_entry(str(CORPUS / e["file"]), text)  # the language server's index
    assert entry.kernel(e["kernel"]) is not None and entry.error is None


def with_spec(e: dict, text: str) -> str:
    """The file with the kernel's hand-written spec directly above it (above the lambda's
    statement, or the nd_item function's declaration and its template line)."""
    k = _find(e, text)
    nl = "\r\n" if "\r\n" in text else "\n"
    lines = text.split(nl)
    at = k.definition.start.line
    indent = re.match(r"[ \t]*", lines[at]).group()
    spec = [indent + ln for ln in (CORPUS / e["spec"]).read_text().strip("\n").split("\n")]
    return nl.join(lines[:at] + spec + lines[at:])


@pytest.fixture(scope="module")
def pool():
    from backends.run.local_pool import EvalPool

    with EvalPool("sycl", [0]) as p:
        yield p


def _bench(pool, e: dict, tmp_path: Path):
    from backends.kernel.load import load_unit
    from backends.model import EvalOptions, EvalRequest

    why = _missing_sub_group_members(NEEDS_SUB_GROUP[_id(e)]) if _id(e) in NEEDS_SUB_GROUP else None
    if why:
        pytest.skip(why)
    text = with_spec(e, _read(e))
    path = CORPUS / e["file"]
    unit = load_unit(str(path), e["kernel"], text=text)  # the file's own directory: its includes work
    errors = [d.format() for d in unit.kernel.spec_errors if d.severity == "error"]
    assert not errors, errors
    opts = EvalOptions(seeds=1, target_seconds=0.05, min_trials=2, max_trials=5, warmup_seconds=0.0,
                       profile=False, timeout_s=120)
    result = pool.evaluate_sync(EvalRequest(unit, None, "sycl", 0, opts))
    assert result.verdict.value == "correct", f"{_id(e)}: {result.verdict.value}: {result.message}"
    assert result.reference.timing.median > 0


@pytest.mark.parametrize("e", [e for e in SYCL if _id(e) in REPRESENTATIVE], ids=_id)
def test_representative_sycl_kernels_run_with_their_specs(pool, e, tmp_path):
    _bench(pool, e, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("e", [e for e in SYCL if _id(e) not in REPRESENTATIVE], ids=_id)
def test_every_other_sycl_kernel_runs_with_its_spec(pool, e, tmp_path):
    _bench(pool, e, tmp_path)


def test_the_representatives_are_in_the_manifest():
    assert REPRESENTATIVE <= {_id(e) for e in SYCL}
