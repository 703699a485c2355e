"""Evaluations per minute and wall time to the best variant, per tuning strategy, from
real `kf optimize` runs (SYCL on the CPU by default). Reads the timestamps the store
keeps for every evaluated variant, so the figures include compiling, verifying and
timing, exactly as a user's run spends them.

    .venv/bin/python benchmarks/search_throughput.py [--target FILE:KERNEL] [--budget 16]
        [--strategies exhaustive,random,bayes,auto] [--append docs/BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from evolver.store import Store  # noqa: E402


def run(target: str, strategy: str, budget: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "kf.db")
        start = time.time()
        proc = subprocess.run([sys.executable, "-m", "kf_lsp.cli", "optimize", target, "--budget", str(budget),
                               "--tuning", strategy, "--db", db, "--seed", str(seed), "--json"],
                              cwd=ROOT, capture_output=True, text=True)
        wall = time.time() - start
        store = Store(db)
        (key,) = store.searches()[:1]
        variants = [v for v in store.variants(key.id) if v.operator != "reference"]
        ref = [v for v in store.variants(key.id) if v.operator == "reference"]
        t0 = ref[0].created if ref else start
        done = [v for v in variants if v.result is not None]
        best = max((v for v in done if v.ok and v.significant), key=lambda v: v.speedup or 0, default=None)
        finals = store.finals(key.id)
        return {
            "strategy": strategy, "exit": proc.returncode, "wall": wall, "evals": len(done),
            "per_min": 60 * len(done) / max(done[-1].created - t0, 1e-9) if done else 0.0,
            "best": best.speedup if best else None,
            "to_best": (best.created - t0) if best else None,
            "best_tunables": best.tunables if best else None,
            "final": finals[0].speedup if finals else None,
        }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", default="examples/sycl/transpose.cpp:transpose")
    ap.add_argument("--budget", type=int, default=16)
    ap.add_argument("--strategies", default="exhaustive,random,bayes,auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--append")
    args = ap.parse_args()
    rows = [run(args.target, s, args.budget, args.seed) for s in args.strategies.split(",")]
    load = os.getloadavg()[0]
    lines = [
        f"\n## Search throughput (benchmarks/search_throughput.py, {time.strftime('%Y-%m-%d')})\n",
        f"`kf optimize {args.target} --budget {args.budget} --tuning STRATEGY`, one run each, "
        f"{os.cpu_count()} CPU cores, load average {load:.1f} at the end. Evaluations per minute count "
        "compile + verify (3 seeds x every check size) + timing of reference and candidate; time to best "
        "is from the reference's evaluation to the evaluation of the variant reported best.\n",
        "| strategy | evaluations | evals / min | best (in-search) | time to best (s) | best point | re-timed best | run wall (s) |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for r in rows:
        best = f"{r['best']:.2f}x" if r["best"] else "-"
        final = f"{r['final']:.2f}x" if r["final"] else "-"
        to_best = f"{r['to_best']:.0f}" if r["to_best"] is not None else "-"
        lines.append(f"| {r['strategy']} | {r['evals']} | {r['per_min']:.1f} | {best} | {to_best} | "
                     f"{r['best_tunables'] or '-'} | {final} | {r['wall']:.0f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.append:
        with open(args.append, "a") as f:
            f.write(text)


if __name__ == "__main__":
    main()
