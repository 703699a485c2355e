"""The CUDA kernels of the real-code corpus (tests/corpus, issue 17), files unchanged.

Every CUDA kernel of the manifest is found, by the scanner and by the language server's
index, at the line the manifest names; with its hand-written spec inserted directly above
it, it compiles here as the project builds it (host code and all: nvcc where installed,
NVRTC where the file allows it) with the spec's flags; on a GPU it is verified correct by
`kf bench`. No file may fail because of its host code or a project flag."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from backends.cuda.compile_only import CompileOnlySession
from backends.cuda.nvcc import find_nvcc
from backends.judge.harness import evaluate
from backends.kernel.load import load_unit
from backends.kernel.scanner import find_kernels
from backends.model import EvalOptions, EvalRequest, Verdict
from kf_lsp.core.index import parse_entry

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "tests" / "corpus"
MANIFEST = json.loads((CORPUS / "manifest.json").read_text())
CUDA = [e for e in MANIFEST if e["language"] == "cuda"]
IDS = [f"{e['file']}:{e['kernel']}" for e in CUDA]


def _nvrtc() -> bool:
    try:
        from cuda.bindings import nvrtc

        return nvrtc.nvrtcVersion()[0] == nvrtc.nvrtcResult.NVRTC_SUCCESS
    except Exception:
        return False


def with_spec(entry: dict) -> tuple[str, str]:
    """(path, text): the file with the kernel's spec inserted above its declaration."""
    path = str(CORPUS / entry["file"])
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        text = f.read()
    k = next(k for k in find_kernels(text, path, "cuda") if k.name == entry["kernel"])
    spec = (CORPUS / entry["spec"]).read_text()
    lines = text.splitlines(keepends=True)
    at = k.definition.start.line
    eol = "\r\n" if lines[at].endswith("\r\n") else "\n"
    spec_lines = [ln.rstrip("\r\n") + eol for ln in spec.splitlines() if ln.strip()]
    return path, "".join(lines[:at] + spec_lines + lines[at:])


def test_the_corpus_has_cuda_kernels_from_several_projects():
    assert len(CUDA) >= 40 and len({e["project"] for e in CUDA}) >= 6


@pytest.mark.parametrize("entry", CUDA, ids=IDS)
def test_every_cuda_kernel_is_found_by_the_scanner_and_the_index(entry):
    path = str(CORPUS / entry["file"])
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        text = f.read()
    found = {k.name: k for k in find_kernels(text, path)}
    assert entry["kernel"] in found, f"kernels found: {sorted(found)}"
    assert found[entry["kernel"]].name_range.start.line + 1 == entry["line"]
    indexed = parse_entry(path, text)
    assert entry["kernel"] in {k.name for k in indexed.kernels}


@pytest.mark.parametrize("entry", CUDA, ids=IDS)
def test_every_cuda_kernel_has_a_clean_spec(entry):
    path, text = with_spec(entry)
    unit = load_unit(path, entry["kernel"], text=text)
    errors = [d.format() for d in unit.kernel.spec_errors if d.severity == "error"]
    assert not errors, errors
    assert unit.kernel.spec is not None


@pytest.mark.skipif(not _nvrtc(), reason="NVRTC not installed")
@pytest.mark.skipif(find_nvcc() is None, reason="nvcc not installed (files with host code need it)")
@pytest.mark.parametrize("entry", CUDA, ids=IDS)
def test_every_cuda_kernel_compiles_with_its_spec(entry):
    path, text = with_spec(entry)
    unit = load_unit(path, entry["kernel"], text=text)
    session = CompileOnlySession("cuda", "sm_90")
    result, _ = evaluate(session, EvalRequest(unit, None, "cuda", -1, EvalOptions(seeds=1)))
    missing = [d for d in result.diagnostics if "pip install nvidia-" in d.message]
    if result.verdict is Verdict.REFERENCE_FAILED and missing:  # e.g. llm.c's common.h includes cublas_v2.h
        pytest.skip(f"a CUDA library's headers are not installed here: {missing[0].message}")
    assert result.verdict is Verdict.COMPILED, result.message + "\n" + "\n".join(
        d.format() for d in result.diagnostics[:5])
    assert result.build is not None and result.build.compiler
    assert result.reference.profile.registers is not None


@pytest.mark.gpu
@pytest.mark.parametrize("entry", CUDA, ids=IDS)
def test_every_cuda_kernel_is_verified_on_the_gpu(entry, tmp_path):
    from backends.run.device_choice import devices

    if not devices("cuda"):
        pytest.skip("no CUDA GPU")
    path, text = with_spec(entry)
    # the file with its spec, beside the original (relative includes and -I flags keep working)
    copy = Path(path).with_name(f".kf-test-{os.getpid()}-{Path(path).name}")
    copy.write_text(text, newline="")
    try:
        proc = subprocess.run([sys.executable, "-m", "kf_lsp", "bench", f"{copy}:{entry['kernel']}", "--json",
                               "--time-budget", "0.2", "--seeds", "2"], capture_output=True, text=True,
                              timeout=600, cwd=ROOT)
    finally:
        copy.unlink()
    if proc.returncode == 2 and "pip install nvidia-" in proc.stderr:  # e.g. cuBLAS headers for llm.c's host code
        pytest.skip(f"a CUDA library's headers are not installed here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr
    result = json.loads(proc.stdout)
    assert result["verdict"] == "correct", result["message"]
