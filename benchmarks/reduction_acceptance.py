"""Issue 21's H200 case as a benchmark: is a fast, accurate reduction accepted against the
naive float-atomic original in every search, not in 2 of 3?

    python benchmarks/reduction_acceptance.py --backend cuda --runs 10            # on a GPU: n = 2^26
    python benchmarks/reduction_acceptance.py --backend sycl --runs 3 --n 1048576  # on the CPU device

Each run is a fresh `kf optimize --json` process (a new worker measures the original anew,
a new database) on a copy of examples/{cuda,sycl}/atomic_sum with `n` set and its tunable
held at its default, with the scripted TEST DOUBLE of an LLM (tests/llm_double.py) proposing the same
candidate every time (benchmarks/kernels/reduction_shuffle.cu or reduction_subgroup.cpp).
It prints each run's verdict for that candidate and its speedup, and exits 0 only when the
candidate was accepted in every run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))


def one_run(backend: str, n: int, budget: int, tmp: str) -> dict:
    from llm_double import LLMDouble, reply  # a scripted endpoint: the same proposal every time

    ext = "cu" if backend == "cuda" else "cpp"
    text = open(os.path.join(ROOT, "examples", backend, f"atomic_sum.{ext}")).read()
    text = re.sub(r"// @kf n = .*", f"// @kf n = {n}", text)
    # one tunable value (the original's): the tuner has nothing to propose, the LLM gets the batch
    text = re.sub(r"// @kf tune (\w+) = .*", lambda m: f"// @kf tune {m.group(1)} = "
                  + ("256" if backend == "cuda" else "64"), text)
    src = os.path.join(tmp, f"atomic_sum.{ext}")
    with open(src, "w") as f:
        f.write(text)
    name = "reduction_shuffle.cu" if backend == "cuda" else "reduction_subgroup.cpp"
    region = open(os.path.join(ROOT, "benchmarks", "kernels", name)).read()
    region = "\n".join(ln for ln in region.splitlines() if not (ln.startswith("//") and "@kf" not in ln))
    region = re.sub(r"// @kf n = .*", f"// @kf n = {n}", region)
    answer = reply(f"Idea: warp-level reduction, one atomic per warp.\n\n```{ext}\n{region}\n```\n")
    db = os.path.join(tmp, "kf.db")
    with LLMDouble([], default=answer) as llm:
        proc = subprocess.run(
            [sys.executable, "-m", "kf_lsp", "optimize", f"{src}:atomic_sum", "--budget", str(budget),
             "--llm-base-url", llm.url, "--model", "double", "--db", db, "--eval-seconds", "0.2", "--json"],
            cwd=ROOT, capture_output=True, text=True, timeout=1800, env={**os.environ, "OPENAI_API_KEY": "x"})
    from evolver.store import Store

    with Store(db) as store:
        keys = store.searches()
        variants = store.variants(keys[0].id) if keys else []
    cand = [v for v in variants if v.operator == "llm" and v.result is not None]
    v = cand[0] if cand else None
    return {"exit": proc.returncode, "verdict": v.verdict.value if v else "not evaluated",
            "speedup": v.speedup if v else None, "message": (v.message if v else proc.stderr[-400:])}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=("cuda", "sycl"), default="cuda")
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--n", type=int, help="elements (default 2^26 on cuda, 2^20 on sycl)")
    ap.add_argument("--budget", type=int, default=2)
    args = ap.parse_args()
    n = args.n or (1 << 26 if args.backend == "cuda" else 1 << 20)
    results = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory(prefix="kf-reduction-") as tmp:
            r = one_run(args.backend, n, args.budget, tmp)
        results.append(r)
        speed = f"{r['speedup']:.1f}x" if r["speedup"] else "-"
        print(f"run {i + 1}: {r['verdict']} {speed}  {' '.join(str(r['message']).split())[:300]}", flush=True)
    accepted = sum(r["verdict"] == "correct" for r in results)
    print(json.dumps({"backend": args.backend, "n": n, "runs": args.runs, "accepted": accepted}))
    return 0 if accepted == args.runs else 1


if __name__ == "__main__":
    sys.exit(main())
