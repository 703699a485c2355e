"""Issue 21's H200 case: a warp-shuffle reduction of 2^26 floats, far faster and more
accurate than the naive float-atomic original, was rejected in 1 of 3 `kf optimize` runs.
benchmarks/reduction_acceptance.py runs 10 fresh searches (each a new worker measuring the
original anew) with the scripted LLM double proposing that kernel; all 10 must accept it.
Here: the candidate compiles against the original's contract (NVRTC); on a GPU: 10 of 10."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from backends.kernel.load import load_unit
from backends.kernel.splice import splice
from backends.kernel.scanner import find_kernel
from backends.model import EvalOptions, EvalRequest, Unit, Verdict

ROOT = Path(__file__).resolve().parent.parent


def test_the_shuffle_reduction_compiles_against_the_atomic_original():
    from backends.cuda.compile_only import CompileOnlySession
    from backends.judge.harness import evaluate

    try:
        session = CompileOnlySession("cuda")
    except Exception as e:  # pragma: no cover
        pytest.skip(f"NVRTC not available: {e}")
    ref = load_unit(str(ROOT / "examples" / "cuda" / "atomic_sum.cu"))
    region = (ROOT / "benchmarks" / "kernels" / "reduction_shuffle.cu").read_text().replace(
        "@kf n = 1 << 26", "@kf n = 1 << 24")  # the example's size (the benchmark sets both to 2^26)
    text = splice(ref.text, ref.kernel, region)
    cand = Unit(ref.path, text, find_kernel(text, ref.path, "atomic_sum"))
    result, _ = evaluate(session, EvalRequest(ref, cand, "cuda", 0, EvalOptions(seeds=1)))
    assert result.verdict is Verdict.COMPILED, result.message


def _no_gpu() -> bool:
    from backends.cuda.devices import list_devices

    return not list_devices()


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.skipif(_no_gpu(), reason="no CUDA GPU")
@pytest.mark.timeout(3000)
def test_the_shuffle_reduction_is_accepted_in_10_of_10_searches():
    proc = subprocess.run([sys.executable, "benchmarks/reduction_acceptance.py", "--backend", "cuda", "--runs", "10"],
                          cwd=ROOT, capture_output=True, text=True, timeout=2900, env=dict(os.environ))
    print(proc.stdout)
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["n"] == 1 << 26 and summary["accepted"] == 10, proc.stdout + proc.stderr[-2000:]
