"""Evaluations per minute and wall time to the best variant, per tuning strategy, from
real `kf optimize` runs (SYCL on the CPU by default). Reads the timestamps the store
keeps for every evaluated variant, so the figures include compiling, verifying and
timing, exactly as a user's run spends them.

    .venv/bin/python benchmarks/search_throughput.py [--target FILE:KERNEL] [--budget 16]
        [--strategies exhaustive,random,bayes,auto] [--append docs/BENCHMARKS.md]

Against an earlier commit, side by side in one run (the commit is exported with `git archive`
into a temporary folder and run from there with this interpreter; runs alternate between the
two trees, each with an empty SYCL run-time compiler cache of its own, so neither profits from
the other's compiles):

    .venv/bin/python benchmarks/search_throughput.py --against bfc62b2 [--examples saxpy,transpose,...]
        [--budget 12] [--rounds 1] [--append docs/BENCHMARKS.md]
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
from trees import tree_env  # noqa: E402


def run(target: str, strategy: str, budget: int, seed: int, tree: Path = ROOT, fresh_sycl_cache: bool = False) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        db = os.path.join(tmp, "kf.db")
        env = tree_env(tree)
        if fresh_sycl_cache:
            env["SYCL_CACHE_DIR"] = os.path.join(tmp, "sycl-cache")
        start = time.time()
        proc = subprocess.run([sys.executable, "-m", "kf_lsp", "optimize", target, "--budget", str(budget),
                               "--tuning", strategy, "--db", db, "--seed", str(seed), "--json"],
                              cwd=tree, env=env, capture_output=True, text=True)
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"kf optimize in {tree} exited {proc.returncode}: {proc.stderr[-2000:]}")
        wall = time.time() - start
        store = Store(db)
        (key,) = store.searches()[:1]
        variants = [v for v in store.variants(key.id) if v.operator != "reference"]
        ref = [v for v in store.variants(key.id) if v.operator == "reference"]
        t0 = ref[0].created if ref else start
        done = [v for v in variants if v.result is not None]
        best = max((v for v in done if v.ok and v.significant), key=lambda v: v.speedup or 0, default=None)
        finals = store.finals(key.id)
        import statistics

        walls = [v.result.wall_seconds for v in done if v.result is not None]
        compiles = [v.result.compile_seconds for v in done if v.result is not None]
        return {
            "eval_wall": statistics.median(walls) if walls else None,
            "eval_compile": statistics.median(compiles) if compiles else None,
            "strategy": strategy, "exit": proc.returncode, "wall": wall, "evals": len(done),
            "per_min": 60 * len(done) / max(done[-1].created - t0, 1e-9) if done else 0.0,
            "best": best.speedup if best else None,
            "to_best": (best.created - t0) if best else None,
            "best_tunables": best.tunables if best else None,
            "final": finals[0].speedup if finals else None,
        }


EXAMPLES = {"saxpy": "saxpy", "transpose": "transpose", "matmul": "matmul", "reduction": "reduce_sum"}


def export(commit: str, into: Path) -> Path:
    """The tree of `commit`, exported with git archive (no worktree, nothing to clean up in git)."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    probe = subprocess.run([sys.executable, "-c", "import backends; print(backends.__file__)"], cwd=into,
                           env=dict(os.environ, PYTHONPATH=str(into)), capture_output=True, text=True, check=True)
    if not probe.stdout.strip().startswith(str(into)):
        raise RuntimeError(f"the exported tree does not shadow the installed one: {probe.stdout}")
    return into


def against(args) -> None:
    """Evaluations per minute of this tree and of `args.against`, alternating, same machine, same run."""
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    if args.this:
        this = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", args.this], capture_output=True,
                              text=True).stdout.strip() or args.this
    else:
        this = f"{head}{' + working tree' if dirty else ''}"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = export(args.against, Path(tmp) / "base")
        here = export(args.this, Path(tmp) / "this") if args.this else ROOT
        load0 = os.getloadavg()[0]
        for r in range(args.rounds):
            for i, name in enumerate(args.examples.split(",")):
                target = f"examples/sycl/{name}.cpp:{EXAMPLES[name]}"
                order = [("base", base), ("this", here)]
                if (i + r) % 2:
                    order.reverse()
                got = {}
                for label, tree in order:
                    got[label] = run(target, "exhaustive", args.budget, args.seed, tree, fresh_sycl_cache=True)
                    print(f"{name} {label}: {got[label]['evals']} evaluations, {got[label]['per_min']:.1f}/min, "
                          f"run {got[label]['wall']:.0f} s", flush=True)
                rows.append((name, got["base"], got["this"]))
        load1 = os.getloadavg()[0]
    lines = [
        f"\n## Evaluation throughput against {args.against} (benchmarks/search_throughput.py --against, "
        f"{time.strftime('%Y-%m-%d')})\n",
        f"`kf optimize examples/sycl/NAME.cpp --tuning exhaustive --budget {args.budget}` on the SYCL CPU device, "
        f"{os.cpu_count()} CPU cores, {args.rounds} round(s); the two trees alternate example by example in one "
        f"run, each search with an empty SYCL run-time compiler cache of its own. Load average (1 min) "
        f"{load0:.1f} at the start, {load1:.1f} at the end (the machine is shared: compare the columns of one row). "
        "Evaluations per minute from the original's evaluation to the last candidate's (compile + verify on "
        "3 seeds x every check size + timing, as in a search); the re-timing at the end is not counted.\n",
        f"| example | evaluations | {args.against} evals/min | {this} evals/min | speedup "
        "| median evaluation (s), before / after | of which compiling (s), before / after |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, b, t in rows:
        ratio = t["per_min"] / b["per_min"] if b["per_min"] else float("nan")
        lines.append(f"| {name} | {b['evals']} / {t['evals']} | {b['per_min']:.1f} | {t['per_min']:.1f} | {ratio:.2f}x "
                     f"| {b['eval_wall'] or 0:.2f} / {t['eval_wall'] or 0:.2f} "
                     f"| {b['eval_compile'] or 0:.2f} / {t['eval_compile'] or 0:.2f} |")
    tb = sum(60 * b["evals"] / b["per_min"] for _, b, _ in rows if b["per_min"])
    tt = sum(60 * t["evals"] / t["per_min"] for _, _, t in rows if t["per_min"])
    nb = sum(b["evals"] for _, b, _ in rows)
    nt = sum(t["evals"] for _, _, t in rows)
    if tb and tt:
        lines.append(f"| all | {nb} / {nt} | {60 * nb / tb:.1f} | {60 * nt / tt:.1f} | {(nt / tt) / (nb / tb):.2f}x |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.append:
        with open(args.append, "a") as f:
            f.write(text)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--against", metavar="COMMIT", help="compare evaluations/min with this commit, side by side")
    ap.add_argument("--this", metavar="COMMIT", help="with --against: measure this commit (exported) instead of "
                    "the working tree, so the tree can change while it runs")
    ap.add_argument("--examples", default="saxpy,transpose,matmul,reduction")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--target", default="examples/sycl/transpose.cpp:transpose")
    ap.add_argument("--budget", type=int, default=16)
    ap.add_argument("--strategies", default="exhaustive,random,bayes,auto")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--append")
    args = ap.parse_args()
    if args.against:
        args.budget = args.budget if args.budget != 16 else 12
        return against(args)
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
