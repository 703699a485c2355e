"""Compile time per candidate on the nvcc and NVRTC paths (docs/BENCHMARKS.md, issue 17).

What a search pays per CUDA candidate before anything runs: the compile unit as the
harness builds it (compile_unit_for: tunables bound, the project's flags) through
compile_cuda with PTX (features), as CompileOnlySession and CudaSession do. Needs no
GPU. Device-only files are compiled both ways (KF_CUDA_COMPILER forces the path); files
with host code (the corpus's) by nvcc, the only compiler that takes them. Each target is
compiled once cold (first use of the compiler in this process) and then `--repeat` times;
median and p10-p90 of the warm ones.

    .venv/bin/python benchmarks/compile_time.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from backends.cuda.compiler import compile_cuda
from backends.judge.launch import compile_unit_for
from backends.kernel.load import load_unit
from backends.session import CompileFailure

ROOT = Path(__file__).resolve().parent.parent
DEVICE_ONLY = ["examples/cuda/saxpy.cu", "examples/cuda/matmul.cu", "examples/cuda/transpose.cu",
               "tests/kernels/cuda_real/vector_types.cu:square_bf16"]
HOST_CODE = ["tests/corpus/cuda-samples/Samples/0_Introduction/vectorAdd/vectorAdd.cu",
             "tests/corpus/cuda-samples/Samples/6_Performance/transpose/transpose.cu:transposeCoalesced",
             "tests/corpus/hecbench/src/relu-cuda/main.cu:Relu_impl1",
             "tests/kernels/cuda_real/floatx.cu"]


def _target(t: str):
    """The unit, with the flags the corpus manifest gives the file (its build's -I...)."""
    path, _, name = t.partition(":")
    full = ROOT / path
    flags: list[str] = []
    manifest = ROOT / "tests" / "corpus" / "manifest.json"
    if manifest.exists() and "tests/corpus/" in path:
        rel = path.split("tests/corpus/", 1)[1]
        flags = next((e["flags"] for e in json.loads(manifest.read_text()) if e["file"] == rel), [])
    return load_unit(str(full), name or None, flags=flags, flags_source="manifest", workspace=str(full.parent))


def measure(target: str, compiler: str, repeat: int) -> tuple[float, list[float], str]:
    os.environ["KF_CUDA_COMPILER"] = compiler
    unit = _target(target)
    cu, _ = compile_unit_for(unit, "reference")
    times, used = [], ""
    for _ in range(repeat + 1):
        t = time.perf_counter()
        out = compile_cuda(cu, "sm_90", want_ptx=True)
        times.append(time.perf_counter() - t)
        if isinstance(out, CompileFailure):
            return float("nan"), [], "fails: " + out.diagnostics[0].message[:80]
        used = out.compiler
    return times[0], times[1:], used


def _q(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, max(0, round(q * (len(xs) - 1))))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print("| file:kernel | compiler | first (s) | median (s) | p10-p90 (s) |")
    print("| --- | --- | ---: | ---: | ---: |")
    rows = [(t, c) for t in DEVICE_ONLY for c in ("nvrtc", "nvcc")] + [(t, "nvcc") for t in HOST_CODE]
    for target, compiler in rows:
        first, warm, used = measure(target, compiler, args.repeat)
        name = target.split("/")[-1]
        if not warm:
            print(f"| {name} | {compiler} | {used} | | |")
            continue
        print(f"| {name} | {used} | {first:.2f} | {statistics.median(warm):.2f} | "
              f"{_q(warm, 0.1):.2f}-{_q(warm, 0.9):.2f} |", flush=True)
    os.environ.pop("KF_CUDA_COMPILER", None)


if __name__ == "__main__":
    main()
