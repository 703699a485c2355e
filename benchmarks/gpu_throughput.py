"""Evaluation throughput on a CUDA GPU: this tree against an earlier one, side by side.

Two figures, each measured for both trees in one run (each in its own process, through the
real EvalPool and its spawned worker, with every defence on: 3 seeds x every `@kf check`
size, poisoned outputs, canary guards, input checks after every run, alternating timing
and the verified output of the last timed run):

- small: saxpy on 2^20 floats, evaluations per minute; every candidate is a new text (a
  distinct comment and one of four block sizes), so every candidate is compiled anew;
- large: transpose of an 8192 x 8192 float matrix (256 MiB per buffer), seconds per
  evaluation against a candidate with another block shape.

    python3 benchmarks/gpu_throughput.py [--base DIR] [--evals 40] [--eval-seconds 0.05] [--json OUT]

DIR is an exported earlier tree (git archive COMMIT | tar -x -C DIR). Runs alternate
base / this / base / this. The worker's start (CUDA context, peak bandwidth) and one warm-up
evaluation are left out of both figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from trees import tree_env

ROOT = Path(__file__).resolve().parent.parent


def measure(tree: str, what: str, evals: int, eval_seconds: float) -> dict:
    sys.path.insert(0, tree)
    import msgspec

    from backends.kernel.load import load_unit
    from backends.model import EvalOptions, EvalRequest
    from backends.run.local_pool import EvalPool

    tmp = Path(tempfile.mkdtemp(prefix="kf-gpu-bench-"))
    name = "saxpy" if what == "small" else "transpose"
    src = (Path(tree) / "examples" / "cuda" / f"{name}.cu").read_text()
    if what == "small":
        src = src.replace("@kf n = 1 << 24", "@kf n = 1 << 20")
        assert "@kf n = 1 << 20" in src, "saxpy example's size line changed"
    ref_path = tmp / f"{name}.cu"
    ref_path.write_text(src)
    ref = load_unit(str(ref_path))
    tunables = [{"BLOCK": b} for b in (128, 512, 1024, 64)] if what == "small" else [{"BLOCK_X": 8, "BLOCK_Y": 32}]
    options = EvalOptions(target_seconds=eval_seconds)

    def candidate(i: int):
        p = tmp / f"cand{i}.cu"
        p.write_text(src + f"\n// candidate {i}\n")
        return msgspec.structs.replace(load_unit(str(p)), tunables=tunables[i % len(tunables)])

    rows = []
    with EvalPool("cuda", [0]) as pool:
        warm = pool.evaluate_sync(EvalRequest(ref, candidate(10_000), "cuda", 0, options, nonce=1))
        start = time.perf_counter()
        for i in range(evals):
            t = time.perf_counter()
            r = pool.evaluate_sync(EvalRequest(ref, candidate(i), "cuda", 0, options, nonce=i + 2))
            rows.append({"wall": time.perf_counter() - t, "worker_wall": r.wall_seconds,
                         "compile": r.compile_seconds, "verdict": r.verdict.value, "speedup": r.speedup})
        total = time.perf_counter() - start
        stats = pool.workers[0].cache_stats() if hasattr(pool.workers[0], "cache_stats") else {}
    walls = [r["wall"] for r in rows]
    return {"tree": tree, "what": what, "evals": evals, "total": total, "per_min": 60 * evals / total,
            "median": statistics.median(walls), "min": min(walls), "max": max(walls),
            "compile_median": statistics.median(r["compile"] for r in rows),
            "verdicts": sorted({r["verdict"] for r in rows}), "warm": warm.verdict.value,
            "warm_message": warm.message[:300], "cache": stats, "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", help="an exported earlier tree to compare with")
    ap.add_argument("--evals", type=int, default=40)
    ap.add_argument("--large-evals", type=int, default=4)
    ap.add_argument("--eval-seconds", type=float, default=0.05, help="timing budget per kernel (small kernel)")
    ap.add_argument("--json")
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    ap.add_argument("--tree", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        n = args.evals if args.measure == "small" else args.large_evals
        secs = args.eval_seconds if args.measure == "small" else 0.5
        print("RESULT " + json.dumps(measure(args.tree, args.measure, n, secs)), flush=True)
        return
    trees = ([("base", args.base)] if args.base else []) + [("this", str(ROOT))]
    results = []
    for what in ("small", "large"):
        for label, tree in trees:
            proc = subprocess.run([sys.executable, __file__, "--measure", what, "--tree", str(Path(tree).resolve()),
                                   "--evals", str(args.evals), "--large-evals", str(args.large_evals),
                                   "--eval-seconds", str(args.eval_seconds)],
                                  cwd=tree, env=tree_env(Path(tree).resolve()),
                                  capture_output=True, text=True, timeout=1200)
            line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if line is None:
                print(f"{what} {label}: failed ({proc.returncode})\n{proc.stderr[-3000:]}", flush=True)
                continue
            r = json.loads(line[7:])
            r["label"] = label
            results.append(r)
            print(f"{what} {label}: {r['per_min']:.0f} evals/min, median {r['median']:.3f} s "
                  f"[{r['min']:.3f}-{r['max']:.3f}], compile median {r['compile_median']:.3f} s, "
                  f"verdicts {r['verdicts']}, warm-up {r['warm']}, cache {r['cache']}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
