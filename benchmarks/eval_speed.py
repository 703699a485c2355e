"""Issue 20's figures (and the cost of issue 19's defences), this tree against an earlier one,
side by side in one run. Every figure runs in its own process per tree, through the real
EvalPool and its spawned worker (or the real `kf bench` command), at default settings, with
every defence on; the trees alternate figure by figure (base, this, then this, base in the
next round), so both see the same machine. The kernels are written from this tree's files
into a temporary folder, so both trees evaluate the same text.

Figures (`--figures`, comma-separated):

- saxpy:     evaluations per minute, saxpy on 2^20 floats against candidates that are each a
             new text (one of four block sizes), EvalOptions(target_seconds=0.5): the
             search's default. The worker's start and one warm-up evaluation are not counted.
- transpose: seconds per evaluation of an 8192 x 8192 float transpose (256 MiB per buffer)
             against another block shape (CUDA; the SYCL file is sized up the same way).
- softmax:   seconds for one evaluation of the 8192 x 50257 row softmax against an online
             softmax (benchmarks/kernels/softmax_online.*), original + candidate.
- bench256:  wall seconds of `kf bench` of a saxpy with 256 MiB per buffer and a candidate
             (tests/kernels/<lang>/good), the command a user types.
- bench128:  the same with 2^25 floats (128 MiB) per buffer.
- bench3d:   the same 2^25 floats with the length a product of three size variables
             (dimX * dimY * dimZ = 256 x 256 x 512) and work-groups of 256, like HeCBench's
             vanGenuchten: kf derives residue and all-at-once sizes of each variable.
- defences:  this tree only: seconds per evaluation spent in the defences of issue 19 (the
             special input values; per-trial guard checks and output comparisons) and in
             generating inputs, for saxpy 2^22 (SYCL) / 2^20 (CUDA) and the reduction example.

    python benchmarks/eval_speed.py --backend sycl --against 3d4a481 --figures saxpy,bench256,defences
    python benchmarks/eval_speed.py --backend cuda --against 3d4a481 --figures saxpy,transpose,softmax,bench256,defences

`--rounds N` repeats every figure (medians are reported); `--json OUT` keeps every number.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from trees import tree_env

ROOT = Path(__file__).resolve().parent.parent
EXT = {"cuda": ".cu", "sycl": ".cpp"}


def export(commit: str, into: Path) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def sized(path: Path, old: str, new: str) -> str:
    text = path.read_text()
    if old not in text:
        raise SystemExit(f"{path}: no line {old!r} to resize")
    return text.replace(old, new)


DIMS = "@kf n = dimX * dimY * dimZ\n// @kf dimX = 256\n// @kf dimY = 256\n// @kf dimZ = 512"


def _three_d(text: str) -> str:
    """Work-groups of 256 (SYCL's `#define WG_SIZE`; CUDA's block line), without the `check
    n = ...` lines: the sizes checked are the default and kf's own."""
    text = text.replace("#define WG_SIZE 64", "#define WG_SIZE 256")
    return "\n".join(ln for ln in text.splitlines() if "@kf check" not in ln) + "\n"


def write_kernels(backend: str, into: Path) -> dict[str, Path]:
    """The files every figure uses, written from this tree."""
    ext = EXT[backend]
    ex, k = ROOT / "examples" / backend, ROOT / "tests" / "kernels" / backend
    saxpy_n = "@kf n = 1 << 24" if backend == "cuda" else "@kf n = 1 << 22"
    files = {
        "saxpy": sized(ex / f"saxpy{ext}", saxpy_n, "@kf n = 1 << 20"),
        "saxpy22": (ex / f"saxpy{ext}").read_text().replace(saxpy_n, "@kf n = 1 << 22"),
        "saxpy256": sized(ex / f"saxpy{ext}", saxpy_n, "@kf n = 1 << 26"),
        "good256": sized(k / f"good{ext}", saxpy_n, "@kf n = 1 << 26"),
        "saxpy128": sized(ex / f"saxpy{ext}", saxpy_n, "@kf n = 1 << 25"),
        "good128": sized(k / f"good{ext}", saxpy_n, "@kf n = 1 << 25"),
        "saxpy3d": _three_d(sized(ex / f"saxpy{ext}", saxpy_n, DIMS)),
        "good3d": _three_d(sized(k / f"good{ext}", saxpy_n, DIMS)),
        "reduction": (ex / f"reduction{ext}").read_text(),
        "softmax": (ex / f"softmax{ext}").read_text(),
        "softmax_online": (ROOT / "benchmarks" / "kernels" / f"softmax_online{ext}").read_text(),
    }
    transpose = (ex / f"transpose{ext}").read_text()
    if backend == "sycl":
        transpose = transpose.replace("@kf rows = 2048", "@kf rows = 8192").replace("@kf cols = 2048", "@kf cols = 8192")
        for name in ("softmax", "softmax_online"):
            files[name] = files[name].replace("@kf rows = 64", "@kf rows = 8192")
    files["transpose"] = transpose
    out = {}
    for name, text in files.items():
        p = into / f"{name}{ext}"
        p.write_text(text)
        out[name] = p
    return out


# -- measurements, run inside a tree (--measure) ------------------------------------------------


def _evals(backend: str, ref_path: str, cand_path: str, tunables: list[dict], n: int, warm: bool = True) -> dict:
    import msgspec

    from backends.kernel.load import load_unit
    from backends.model import EvalOptions, EvalRequest
    from backends.run.local_pool import EvalPool

    ref = load_unit(ref_path)
    options = EvalOptions(target_seconds=0.5)
    src = Path(cand_path).read_text()
    tmp = Path(tempfile.mkdtemp(prefix="kf-speed-"))

    def candidate(i: int):
        p = tmp / f"cand{i}{Path(cand_path).suffix}"
        p.write_text(src + f"\n// candidate {i}\n")
        unit = load_unit(str(p))
        return msgspec.structs.replace(unit, tunables=tunables[i % len(tunables)]) if tunables else unit

    rows = []
    with EvalPool(backend, [0]) as pool:
        if warm:
            pool.evaluate_sync(EvalRequest(ref, candidate(10_000), backend, 0, options, nonce=1))
        start = time.perf_counter()
        for i in range(n):
            t = time.perf_counter()
            r = pool.evaluate_sync(EvalRequest(ref, candidate(i), backend, 0, options, nonce=i + 2))
            rows.append({"wall": time.perf_counter() - t, "compile": r.compile_seconds, "verdict": r.verdict.value,
                         "speedup": r.speedup, "trials": r.reference.timing.trials if r.reference and
                         r.reference.timing else None, "message": r.message[-300:]})
        total = time.perf_counter() - start
    walls = [r["wall"] for r in rows]
    return {"n": n, "per_min": 60 * n / total, "median": statistics.median(walls), "min": min(walls),
            "max": max(walls), "verdicts": sorted({r["verdict"] for r in rows}), "rows": rows}


def _bench(backend: str, tree: str, ref: str, cand: str) -> dict:
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "kf_lsp", "bench", ref, "--candidate", cand, "--backend", backend,
                        "--json"], cwd=tree, env=tree_env(tree), capture_output=True, text=True,
                       timeout=1800)
    wall = time.perf_counter() - t
    try:
        r = json.loads(p.stdout[p.stdout.index("{"):])
        return {"wall": wall, "verdict": r["verdict"], "speedup": r.get("speedup"), "message": r["message"][-300:]}
    except ValueError:
        return {"wall": wall, "verdict": f"exit {p.returncode}", "message": (p.stderr or p.stdout)[-500:]}


def _defences(backend: str, files: dict[str, str]) -> dict:
    """Seconds per evaluation inside the defences, measured by timing the harness's methods."""
    from backends.judge import harness, launch
    from backends.kernel.load import load_unit
    from backends.model import EvalOptions, EvalRequest

    if backend == "cuda":
        from backends.cuda.session import CudaSession as Session
    else:
        from backends.sycl.session import SyclSession as Session
    spent: dict[str, float] = {}
    inside_time = [False]

    def timed(cls, name, key, only_in_time=False):
        fn = getattr(cls, name)

        def wrapper(self, *a, **k):
            t = time.perf_counter()
            try:
                return fn(self, *a, **k)
            finally:
                if not only_in_time or inside_time[0]:
                    spent[key] = spent.get(key, 0.0) + time.perf_counter() - t
        setattr(cls, name, wrapper)

    real_time = harness.Evaluation._time

    def in_time(self, *a, **k):
        inside_time[0] = True
        t = time.perf_counter()
        try:
            return real_time(self, *a, **k)
        finally:
            inside_time[0] = False
            spent["timing loop"] = spent.get("timing loop", 0.0) + time.perf_counter() - t

    harness.Evaluation._time = in_time
    timed(harness.Evaluation, "_special_values", "special values")
    timed(harness.Evaluation, "_guards", "per-trial guards", only_in_time=True)
    timed(harness.Evaluation, "_compare", "per-trial output checks", only_in_time=True)
    timed(launch.Buffers, "reload", "per-trial inputs + poison", only_in_time=True)
    session = Session(0)
    out = {}
    try:
        for name in ("saxpy22" if backend == "sycl" else "saxpy", "reduction"):
            unit = load_unit(files[name])
            harness.evaluate(session, EvalRequest(unit, unit, backend, 0, EvalOptions(target_seconds=0.5), nonce=1))
            rows = []
            for i in range(3):
                spent.clear()
                t = time.perf_counter()
                r, _ = harness.evaluate(session, EvalRequest(unit, unit, backend, 0, EvalOptions(target_seconds=0.5),
                                                             nonce=i + 2))
                rows.append({"wall": time.perf_counter() - t, **spent, "trials": r.reference.timing.trials,
                             "verdict": r.verdict.value})
            keys = sorted({k for r in rows for k in r if k not in ("verdict",)})
            out[name] = {k: statistics.median(r.get(k, 0.0) for r in rows) for k in keys}
            out[name]["verdicts"] = sorted({r["verdict"] for r in rows})
    finally:
        session.close()
    return out


def measure(figure: str, backend: str, tree: str, files: dict[str, str], evals: int) -> dict:
    sys.path.insert(0, tree)
    if figure == "saxpy":
        blocks = [{"BLOCK": b} for b in (128, 512, 1024, 64)] if backend == "cuda" else \
            [{"WG_SIZE": b} for b in (64, 256, 1024, 16)]
        return _evals(backend, files["saxpy"], files["saxpy"], blocks, evals)
    if figure == "transpose":
        tun = [{"BLOCK_X": 8, "BLOCK_Y": 32}] if backend == "cuda" else [{"WG_X": 8, "WG_Y": 8}]
        return _evals(backend, files["transpose"], files["transpose"], tun, 3)
    if figure == "softmax":
        return _evals(backend, files["softmax"], files["softmax_online"], [], 1, warm=False)
    if figure == "bench256":
        return _bench(backend, tree, files["saxpy256"], files["good256"])
    if figure in ("bench128", "bench3d"):
        name = figure[5:]
        return _bench(backend, tree, files[f"saxpy{name}"], files[f"good{name}"])
    if figure == "defences":
        return _defences(backend, files)
    raise SystemExit(f"unknown figure {figure}")


def line(figure: str, r: dict) -> str:
    if "error" in r:
        return f"failed: {r['error'][-300:]}"
    if figure == "saxpy":
        return f"{r['per_min']:.0f} evaluations/min (median {r['median']:.3f} s, {r['min']:.3f}-{r['max']:.3f}), {r['verdicts']}"
    if figure in ("transpose", "softmax"):
        return f"{r['median']:.2f} s per evaluation ({r['min']:.2f}-{r['max']:.2f}), {r['verdicts']}"
    if figure.startswith("bench"):
        return f"{r['wall']:.1f} s, {r['verdict']}"
    return json.dumps(r)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=("cuda", "sycl"), default="sycl")
    ap.add_argument("--against", metavar="COMMIT|DIR", help="the tree before the change (a commit, or a directory holding it)")
    ap.add_argument("--figures", default="saxpy,bench256,defences")
    ap.add_argument("--evals", type=int, default=30, help="evaluations of the saxpy figure")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=900, help="seconds before a figure counts as not finished")
    ap.add_argument("--json")
    ap.add_argument("--measure", help=argparse.SUPPRESS)
    ap.add_argument("--tree", help=argparse.SUPPRESS)
    ap.add_argument("--files", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        r = measure(args.measure, args.backend, args.tree, json.loads(args.files), args.evals)
        print("RESULT " + json.dumps(r), flush=True)
        return
    results: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        files = {k: str(v) for k, v in write_kernels(args.backend, Path(tmp)).items()}
        trees = [("this", str(ROOT))]
        if args.against:
            base = Path(args.against).resolve() if Path(args.against).is_dir() else export(args.against, Path(tmp) / "base")
            trees.insert(0, (args.against, str(base)))
        load0 = os.getloadavg()[0]
        for rnd in range(args.rounds):
            for i, figure in enumerate(args.figures.split(",")):
                order = trees if (i + rnd) % 2 == 0 else trees[::-1]
                for label, tree in order:
                    if figure == "defences" and label != "this":
                        continue
                    cmd = [sys.executable, __file__, "--measure", figure, "--tree", tree, "--backend", args.backend,
                           "--files", json.dumps(files), "--evals", str(args.evals)]
                    t = time.perf_counter()
                    try:
                        proc = subprocess.run(cmd, cwd=tree, env=tree_env(tree),
                                              capture_output=True, text=True, timeout=args.timeout)
                        found = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
                        r = json.loads(found[0][7:]) if found else {"error": proc.stderr[-2000:]}
                    except subprocess.TimeoutExpired:
                        r = {"error": f"did not finish in {args.timeout:.0f} s"}
                    r.update(figure=figure, tree=label, round=rnd, process_wall=time.perf_counter() - t)
                    results.append(r)
                    print(f"{figure} [{label}] {line(figure, r)}", flush=True)
        load1 = os.getloadavg()[0]
    print(f"\nload average {load0:.1f} at the start, {load1:.1f} at the end; {os.cpu_count()} CPU cores")
    for figure in args.figures.split(","):
        for label, _ in trees:
            rs = [r for r in results if r["figure"] == figure and r["tree"] == label and "error" not in r]
            if not rs:
                continue
            if figure == "saxpy":
                print(f"{figure} {label}: median {statistics.median(r['per_min'] for r in rs):.0f} evaluations/min "
                      f"over {len(rs)} round(s)")
            elif figure in ("transpose", "softmax"):
                print(f"{figure} {label}: median {statistics.median(r['median'] for r in rs):.2f} s per evaluation")
            elif figure.startswith("bench"):
                walls = ", ".join(f"{r['wall']:.1f}" for r in rs)
                print(f"{figure} {label}: median {statistics.median(r['wall'] for r in rs):.1f} s ({walls})")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
