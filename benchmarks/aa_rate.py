"""A/A: how often `kf bench` calls a kernel significantly faster than itself (issue 19).

Runs `kf bench KERNEL --candidate COPY --json` (COPY: the same text in another file, so the
candidate is compiled on its own as any candidate is) RUNS times at default settings and
counts the runs whose verdict says "significantly faster" (or slower). With `--against
COMMIT` the tree at COMMIT (exported with `git archive`) runs too, alternating run by run
with this one, so both see the same machine.

    python benchmarks/aa_rate.py [--kernel examples/sycl/saxpy.cpp] [--runs 40] [--against 3d4a481]
        [--json OUT]

The GPU form, on the H200: --kernel examples/cuda/saxpy.cu.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from trees import tree_env

ROOT = Path(__file__).resolve().parent.parent


def export(commit: str, into: Path) -> Path:
    tree = into / commit
    tree.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def bench(tree: Path, kernel: Path, copy: Path, extra: list[str]) -> dict:
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "kf_lsp", "bench", str(kernel), "--candidate", str(copy), "--json",
                        *extra], cwd=tree, env=tree_env(tree), capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - t
    try:
        r = json.loads(p.stdout[p.stdout.index("{"):])
    except ValueError:
        return {"error": (p.stderr or p.stdout)[-500:], "wall": wall}
    slower = r.get("speedup_high") is not None and r["speedup_high"] < 1.0
    return {"verdict": r["verdict"], "speedup": r.get("speedup"), "low": r.get("speedup_low"),
            "high": r.get("speedup_high"), "significant": bool(r.get("significant")), "slower": slower,
            "trials": (r.get("reference") or {}).get("timing", {}).get("trials"), "wall": wall}


def summary(label: str, rows: list[dict]) -> str:
    ok = [r for r in rows if r.get("verdict") == "correct"]
    faster = sum(r["significant"] for r in ok)
    slower = sum(r["slower"] for r in ok)
    sp = [r["speedup"] for r in ok if r["speedup"]]
    trials = [r["trials"] for r in ok if r.get("trials")]
    return (f"| {label} | {len(ok)} / {len(rows)} | {faster} ({faster / max(1, len(ok)):.0%}) | {slower} | "
            f"{statistics.median(sp):.3f} ({min(sp):.3f}-{max(sp):.3f}) | "
            f"{statistics.median(trials) if trials else '-'} | {statistics.median(r['wall'] for r in rows):.1f} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kernel", default="examples/sycl/saxpy.cpp")
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--against", metavar="COMMIT", help="also run the tree at COMMIT, alternating")
    ap.add_argument("--json", metavar="OUT")
    ap.add_argument("extra", nargs="*", help="more kf bench options (after --)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        kernel = (ROOT / args.kernel).resolve()
        copy = Path(tmp) / ("copy_" + kernel.name)
        shutil.copy(kernel, copy)
        trees = {"this tree": ROOT}
        if args.against:
            trees = {args.against: export(args.against, Path(tmp)), "this tree": ROOT}
        rows: dict[str, list[dict]] = {k: [] for k in trees}
        for i in range(args.runs):
            for label, tree in trees.items():
                r = bench(tree, kernel, copy, args.extra)
                rows[label].append(r)
                print(f"{i + 1}/{args.runs} {label}: {r}", file=sys.stderr, flush=True)
        print(f"A/A, `kf bench {args.kernel} --candidate <copy>`, {args.runs} runs per tree, alternating\n")
        print("| tree | correct | significantly faster | significantly slower | speedup median (range) | trials | wall s |")
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
        for label, rs in rows.items():
            print(summary(label, rs))
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
