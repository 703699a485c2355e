"""Does the same search, run several times, report the same best point (or say the
difference is within noise)? docs/search.md ("claims") and docs/BENCHMARKS.md.

    python benchmarks/search_stability.py [--runs 3] [--budget 12] [--kernel examples/sycl/transpose.cpp:transpose]

Each run is a fresh `kf optimize --json` (a new database, the same seed) on the real SYCL
CPU device; the script prints each run's reported best, its interval over the re-time
blocks, the min effect and the note, then whether the runs agree: the same best point, or
every run's best inside the other runs' intervals ("within noise").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def small_copy(target: str, tmp: str, size: int) -> str:
    path, _, name = target.rpartition(":")
    text = open(os.path.join(ROOT, path)).read()
    for dim in ("rows", "cols", "M", "N", "K"):
        text = text.replace(f"// @kf {dim} = 2048", f"// @kf {dim} = {size}")
    out = os.path.join(tmp, os.path.basename(path))
    with open(out, "w") as f:
        f.write(text)
    return f"{out}:{name}"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--budget", type=int, default=12)
    ap.add_argument("--kernel", default="examples/sycl/transpose.cpp:transpose")
    ap.add_argument("--size", type=int, default=1024)
    ap.add_argument("--eval-seconds", type=float, default=0.2)
    args = ap.parse_args()
    results = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            target = small_copy(args.kernel, tmp, args.size)
            start = time.monotonic()
            proc = subprocess.run([sys.executable, "-m", "kf_lsp", "optimize", target, "--budget", str(args.budget),
                                   "--eval-seconds", str(args.eval_seconds), "--db", os.path.join(tmp, "kf.db"),
                                   "--json"], cwd=ROOT, capture_output=True, text=True, timeout=3600)
            wall = time.monotonic() - start
        if proc.returncode not in (0, 1):
            print(proc.stderr[-2000:])
            return 2
        doc = json.loads(proc.stdout)
        best = doc["best"]
        finals = doc["finals"] or []
        top = max(finals, key=lambda v: v["speedup"] or 0) if finals else None
        results.append({"run": i + 1, "exit": proc.returncode, "wall_s": round(wall),
                        "best": best and best["tunables"], "speedup": best and best["speedup"],
                        "low": best and best["speedup_low"], "high": best and best["speedup_high"],
                        "top": top and top["tunables"], "top_speedup": top and top["speedup"],
                        "min_effect": doc["min_effect"], "note": doc["note"],
                        "confirmations": doc.get("confirmations")})
        print(json.dumps(results[-1]), flush=True)
    points = {json.dumps(r["best"], sort_keys=True) for r in results}
    if len(points) == 1:
        verdict = "same best point in every run" if results[0]["best"] else "no run claimed a speedup"
    else:
        claimed = [r for r in results if r["best"]]
        inside = all(o["low"] <= r["speedup"] <= o["high"] for r in claimed for o in claimed)
        verdict = ("different best points, each inside the others' intervals: within noise" if inside
                   else "different best points OUTSIDE each other's intervals")
    print(verdict)
    return 0


if __name__ == "__main__":
    sys.exit(main())
