"""What the spec checks of issue 9 cost per evaluation (docs/evaluation.md, "Cost").

For each SYCL example, one search-like evaluation (the example against itself, timing
0.5 s per kernel, 3 seeds) on the CPU device, in this process: wall time in total, in the
original's self-checks (backends/judge/original.py) and in the derived sizes
(backends/judge/sizes.py), the reference and candidate runs at those sizes.

    .venv/bin/python benchmarks/spec_checks_cost.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from backends.judge import harness
from backends.kernel.load import load_unit
from backends.model import EvalOptions, EvalRequest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ["saxpy", "reduction", "matmul", "transpose", "atomic_sum", "histogram"]


def measure(session, name: str) -> tuple[float, float, float]:
    spent = {"original": 0.0, "derived": 0.0}
    orig_checks, run_checked, compare = (harness.Evaluation._original_checks, harness.Evaluation._run_checked,
                                         harness.Evaluation._compare)

    def timed(key, fn, only_derived=False):
        def wrapper(self, *a, **k):
            t = time.perf_counter()
            try:
                return fn(self, *a, **k)
            finally:
                if not only_derived or (self.at and self.at[2]):
                    spent[key] += time.perf_counter() - t
        return wrapper

    harness.Evaluation._original_checks = timed("original", orig_checks)
    harness.Evaluation._run_checked = timed("derived", run_checked, True)
    harness.Evaluation._compare = timed("derived", compare, True)
    try:
        unit = load_unit(str(ROOT / "examples" / "sycl" / f"{name}.cpp"))
        req = EvalRequest(unit, unit, "sycl", 0, EvalOptions(target_seconds=0.5), nonce=time.time_ns() & 0xFFFF)
        t = time.perf_counter()
        result, _ = harness.evaluate(session, req)
        wall = time.perf_counter() - t
        assert result.ok, result.message
    finally:
        harness.Evaluation._original_checks, harness.Evaluation._run_checked, harness.Evaluation._compare = (
            orig_checks, run_checked, compare)
    return wall, spent["original"], spent["derived"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    from backends.sycl.session import SyclSession

    session = SyclSession(0)
    print("| example | evaluation (median s) | original's checks | derived sizes |")
    print("| --- | ---: | ---: | ---: |")
    for name in EXAMPLES:
        rows = [measure(session, name) for _ in range(args.repeat)]
        wall, orig, derived = (statistics.median(r[i] for r in rows) for i in range(3))
        print(f"| {name} | {wall:.2f} | {orig:.2f} s ({orig / wall:.0%}) | {derived:.2f} s ({derived / wall:.0%}) |")


if __name__ == "__main__":
    main()
