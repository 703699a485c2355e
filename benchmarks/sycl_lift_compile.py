"""What a SYCL lambda / nd_item function kernel costs to compile once kf lifts it into a
free-function kernel (backends/kernel/lift.py), against a free-function kernel doing the same.

For each case: the lift itself (Python: find the kernel, build the compile unit), and the
SYCL run-time compiler's build of the unit with its persistent cache off (every build cold,
as for a candidate of a search, which is compiled once) and on (the original, compiled
again by a new worker: a cache hit). The runtime reads its cache setting once per process,
so each column is measured in a process of its own. The cases: saxpy as a free-function
kernel (examples/sycl/saxpy.cpp), the same saxpy as a lambda and as a dpct-style nd_item
function in a file with host code (main, queue, iostream), and real files from
tests/corpus (the whole file is the compile unit; host functions the kernel does not
need are blanked, so the file's size matters little).

    .venv/bin/python benchmarks/sycl_lift_compile.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from backends.sycl.build import prepare_environment  # noqa: E402

prepare_environment()

from backends.judge.launch import compile_unit_for  # noqa: E402
from backends.kernel.load import load_unit  # noqa: E402
from backends.session import CompileFailure  # noqa: E402
from backends.sycl.session import SyclSession  # noqa: E402

HOST = """\
#include <sycl/sycl.hpp>
#include <iostream>
#include <vector>

// @kf in  x: float[n]
// @kf in  y: float[n]
// @kf out out: float[n]
// @kf n = 1 << 22
// @kf a = 2.5
// @kf global roundup(n, 64)
// @kf local 64
void saxpy_item(const float* x, const float* y, float* out, float a, int n, const sycl::nd_item<1>& it) {
  size_t i = it.get_global_id(0);
  if (i < n) out[i] = a * x[i] + y[i];
}

int main() {
  sycl::queue q;
  int n = 1 << 22;
  float a = 2.5f;
  float* x = sycl::malloc_device<float>(n, q);
  float* y = sycl::malloc_device<float>(n, q);
  float* out = sycl::malloc_device<float>(n, q);
  // @kf in  x: float[n]
  // @kf in  y: float[n]
  // @kf out out: float[n]
  // @kf n = 1 << 22
  // @kf a = 2.5
  // @kf global n
  q.parallel_for(sycl::range<1>(n), [=](sycl::id<1> i) {
    out[i] = a * x[i] + y[i];
  }).wait();
  q.parallel_for(sycl::nd_range<1>((n + 63) / 64 * 64, 64), [=](sycl::nd_item<1> it) {
    saxpy_item(x, y, out, a, n, it);
  }).wait();
  std::vector<float> h(n);
  q.memcpy(h.data(), out, n * sizeof(float)).wait();
  std::cout << h[0] << std::endl;
}
"""


def corpus_case(rel: str, kernel: str, spec: str) -> tuple[str, str, str]:
    path = ROOT / "tests" / "corpus" / rel
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    unit = load_unit(str(path), kernel, text=text)
    lines = text.split("\n")
    at = unit.kernel.definition.start.line
    indent = re.match(r"[ \t]*", lines[at]).group()
    spec_lines = [indent + ln for ln in (ROOT / "tests" / "corpus" / spec).read_text().strip().split("\n")
                  if not ln.startswith("// @kf flags")]
    return str(path), kernel, "\n".join(lines[:at] + spec_lines + lines[at:])


def measure(repeat: int) -> dict[str, tuple[list[float], list[float]]]:
    """Per case: lift times (ms) and compile times (s) in this process, with the SYCL
    persistent cache as the environment says."""
    host = ROOT / "benchmarks" / ".sycl_lift_host.cpp"
    host.write_text(HOST)
    cases = [
        ("free-function kernel (examples/sycl/saxpy.cpp)", str(ROOT / "examples/sycl/saxpy.cpp"), "saxpy", None),
        ("lambda, range launch, host file", str(host), "main#1", None),
        ("nd_item function, host file", str(host), "saxpy_item", None),
        ("corpus: HeCBench relu (nd_item function, 12 KB file)",
         *corpus_case("hecbench/src/relu-sycl/main.cpp", "relu_impl1", "specs/hecbench/relu-sycl_main.relu_impl1.kf")),
        ("corpus: oneAPI matrix_mul (2-D accessors)",
         *corpus_case("oneapi-samples/DirectProgramming/C++SYCL/DenseLinearAlgebra/matrix_mul/src/matrix_mul_sycl.cpp",
                      "main#3", "specs/oneapi-samples/matrix_mul_sycl.main_3.kf")),
    ]
    out = {}
    try:
        with SyclSession() as s:
            for label, path, kernel, text in cases:
                unit = load_unit(path, kernel, text=text)
                lift_ms, comp = [], []
                for _ in range(repeat):
                    t = time.perf_counter()
                    cu, _ = compile_unit_for(unit, "reference")
                    lift_ms.append((time.perf_counter() - t) * 1e3)
                    t = time.perf_counter()
                    k = s.compile(cu)
                    comp.append(time.perf_counter() - t)
                    assert not isinstance(k, CompileFailure), [d.format() for d in k.diagnostics]
                out[label] = (lift_ms, comp)
    finally:
        host.unlink()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = ap.parse_args()
    if args.measure:
        print(json.dumps(measure(args.repeat)))
        return
    runs = {}
    for mode, env in (("cold", {"SYCL_CACHE_PERSISTENT": "0"}), ("cached", {"SYCL_CACHE_PERSISTENT": "1"})):
        # the runtime reads its cache setting once per process: one process per mode
        proc = subprocess.run([sys.executable, __file__, "--measure", "--repeat", str(args.repeat)],
                              env={**os.environ, **env}, capture_output=True, text=True, check=True)
        runs[mode] = json.loads(proc.stdout.strip().splitlines()[-1])

    def fmt(xs, digits):
        return f"{statistics.median(xs):.{digits}f} ({min(xs):.{digits}f}-{max(xs):.{digits}f})"

    print("| kernel | lift (ms) | compile, no cache (s) | compile, cached (s) |")
    print("| --- | ---: | ---: | ---: |")
    for label, (lift_ms, cold) in runs["cold"].items():
        cached = runs["cached"][label][1][1:] or runs["cached"][label][1]  # the first fills the cache
        print(f"| {label} | {fmt(lift_ms, 1)} | {fmt(cold, 2)} | {fmt(cached, 2)} |")


if __name__ == "__main__":
    main()
