"""How many evaluations each tuning strategy needs to reach the best instantiation.

Step 1 measures every instantiation of each example's `@kf tune` space once against the
original kernel (real SYCL CPU device, through the evaluation pool; cached in a JSON
file). Step 2 replays the strategies of evolver/tuning.py against those measured
speedups, many seeds each, in batches of 4 as the engine asks, from the example's
default point, and counts evaluations until the measured-best point is evaluated (and
until one within 5% of it is). The landscape is one noisy measurement per point: it is
fixed so the strategies are compared on equal terms, not a claim about the true best.

    .venv/bin/python benchmarks/tuning_strategies.py [--cache benchmarks/tuning_table.json] [--seeds 200]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import random
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from evolver.tuning import Space, next_points  # noqa: E402

EXAMPLES = ["saxpy", "reduction", "matmul", "transpose"]
STRATEGIES = ["exhaustive", "random", "coordinate", "bayes"]


def measure(examples: list[str], seconds: float) -> dict:
    from backends.model import EvalOptions, EvalRequest
    from backends.run.local_pool import EvalPool
    from backends.kernel.tunables import defaults
    from backends.kernel.load import load_unit

    table = {}
    with EvalPool("sycl", [0]) as pool:
        for ex in examples:
            path = os.path.join(ROOT, "examples", "sycl", f"{ex}.cpp")
            ref = load_unit(path)
            tn = ref.kernel.spec.tunables
            names = [t.name for t in tn]
            start = defaults(ref.text, ref.kernel)
            rows = []
            for vals in itertools.product(*[t.values for t in tn]):
                tb = dict(zip(names, vals))
                cand = load_unit(path, tunables=tb)
                r = pool.evaluate_sync(EvalRequest(ref, cand, "sycl", 0, EvalOptions(target_seconds=seconds),
                                                   nonce=time.time_ns() & 0x7FFFFFFF))
                rows.append({"point": list(vals), "speedup": r.speedup if r.ok else None, "verdict": r.verdict.value})
                print(f"  {ex} {tb}: {r.verdict.value} {r.speedup and round(r.speedup, 3)}", file=sys.stderr, flush=True)
            table[ex] = {"names": names, "values": [list(t.values) for t in tn],
                         "start": [start[n] for n in names], "rows": rows}
    return table


def synthetic() -> dict:
    """A larger separable space (7 x 5 x 6), for a strategy's behaviour beyond the examples."""
    values = [[4, 8, 16, 32, 64, 128, 256], [1, 2, 4, 8, 16], [0, 1, 2, 3, 4, 5]]
    rows = []
    for p in itertools.product(*values):
        s = 3.0 - 0.3 * abs(math.log2(p[0] / 64)) - 0.2 * abs(math.log2(p[1] / 8)) - 0.1 * abs(p[2] - 3)
        rows.append({"point": list(p), "speedup": s, "verdict": "correct"})
    return {"names": ["A", "B", "C"], "values": values, "start": [16, 2, 0], "rows": rows}


def replay(entry: dict, strategy: str, seed: int, batch: int = 4) -> tuple[int, int]:
    values = entry["values"]
    speed = {tuple(r["point"]): r["speedup"] for r in entry["rows"]}
    best = max(s for s in speed.values() if s is not None)
    start = tuple(entry["start"])
    space = Space("r", entry["names"], values, start, None)
    space.results[start] = speed.get(start)
    rng = random.Random(seed)
    n, near = 0, None
    if speed.get(start) is not None and speed[start] >= 0.95 * best:
        near = 0
    if speed.get(start) == best:
        return 0, 0
    while not space.exhausted:
        for p in next_points(space, batch, strategy, rng):
            n += 1
            space.results[p] = speed[p]
            if near is None and speed[p] is not None and speed[p] >= 0.95 * best:
                near = n
            if speed[p] == best:
                return n, near if near is not None else n
    return n, near if near is not None else n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", default=os.path.join(ROOT, "benchmarks", "tuning_table.json"))
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=0.3, help="timing per kernel when measuring")
    args = ap.parse_args()
    if os.path.exists(args.cache):
        table = json.load(open(args.cache))
    else:
        table = measure(EXAMPLES, args.seconds)
        with open(args.cache, "w") as f:
            json.dump(table, f, indent=1)
    table = {**table, "synthetic 7x5x6": synthetic()}
    print("| space | points | strategy | evals to best: mean | median | worst | evals to within 5%: mean |")
    print("| --- | ---: | --- | ---: | ---: | ---: | ---: |")
    for name, entry in table.items():
        size = len(entry["rows"])
        for strategy in STRATEGIES:
            seeds = 1 if strategy == "exhaustive" else args.seeds
            runs = [replay(entry, strategy, s) for s in range(seeds)]
            to_best = [r[0] for r in runs]
            to_near = [r[1] for r in runs]
            print(f"| {name} | {size} | {strategy} | {statistics.mean(to_best):.1f} | "
                  f"{statistics.median(to_best):.0f} | {max(to_best)} | {statistics.mean(to_near):.1f} |")


if __name__ == "__main__":
    main()
