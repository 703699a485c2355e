"""Latency of the language server's handlers while a search runs.

    .venv/bin/python benchmarks/lsp_latency.py [--requests 300] [--append docs/BENCHMARKS.md]

Starts `kf serve` as a subprocess over stdio (the pytest-lsp client of tests/lsp_client.py),
opens a copy of examples/sycl/saxpy.cpp in a temporary workspace, measures hover,
codeLens and codeAction round trips once idle, then starts a search (real SYCL-on-CPU
evaluations in a spawned worker) and measures them again while it runs. Prints p50 / p99
/ max per request in milliseconds, as a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, REPO)

from lsp_client import Doc, code_actions, execute, events, hover_text, kf_session, lens_titles  # noqa: E402


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


async def measure(c, doc: Doc, n: int, still_running=None, seconds: float = 0.0) -> dict[str, list[float]]:
    """`n` rounds at least; with `still_running`, also go on for `seconds` while it holds."""
    name = doc.pos("saxpy", "void saxpy")
    line = doc.line_of("void saxpy")
    out: dict[str, list[float]] = {"hover": [], "codeLens": [], "codeAction": []}
    t0 = time.monotonic()
    i = 0
    while True:
        if still_running is not None and not still_running():
            break
        if i >= n and time.monotonic() - t0 >= seconds:
            break
        i += 1
        for kind, call in (("hover", lambda: hover_text(c, doc.uri, name)),
                           ("codeLens", lambda: lens_titles(c, doc.uri)),
                           ("codeAction", lambda: code_actions(c, doc.uri, line))):
            t0 = time.perf_counter()
            await call()
            out[kind].append((time.perf_counter() - t0) * 1000)
        await asyncio.sleep(0.005)
    return out


def table(rows: list[tuple[str, str, list[float]]]) -> str:
    lines = ["| request | state | n | p50 ms | p99 ms | max ms |", "|---|---|---:|---:|---:|---:|"]
    for kind, state, xs in rows:
        if xs:
            lines.append(f"| {kind} | {state} | {len(xs)} | {statistics.median(xs):.2f} | {pct(xs, 0.99):.2f} | "
                         f"{max(xs):.2f} |")
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> str:
    root = tempfile.mkdtemp(prefix="kf-latency-")
    try:
        path = os.path.join(root, "saxpy.cpp")
        shutil.copy(os.path.join(REPO, "examples", "sycl", "saxpy.cpp"), path)
        settings = {"budget": {"evaluations": args.budget}, "evalSeconds": args.eval_seconds}
        async with kf_session(root, settings) as c:
            doc = Doc(c, path).open()
            await lens_titles(c, doc.uri)
            idle = await measure(c, doc, args.requests // 3)
            started = await execute(c, "kf.optimize", {"uri": doc.uri, "kernel": "saxpy"})
            job = started["jobId"]
            # wait until evaluations are under way (the worker has started)
            while not events(c, "kf/jobProgress", job):
                await asyncio.sleep(0.05)
            t0 = time.monotonic()
            busy = await measure(c, doc, args.requests, lambda: not events(c, "kf/jobFinished", job),
                                 args.seconds)
            busy_s = time.monotonic() - t0
            progress = events(c, "kf/jobProgress", job)
            jobs = (await execute(c, "kf.listJobs"))["jobs"]
            done = max((j["done"] for j in jobs if j["jobId"] == job), default=0)
            await execute(c, "kf.stop", {"job": job})
        rows = [(k, "idle", idle[k]) for k in idle] + [(k, "search running", busy[k]) for k in busy]
        head = (f"kf serve handler latency, {platform.node() or 'host'} ({os.cpu_count()} CPUs), "
                f"{time.strftime('%Y-%m-%d')}: client over stdio, search on sycl CPU running during "
                f"the second half ({done} evaluations finished during {busy_s:.1f} s of measuring)")
        return head + "\n\n" + table(rows)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=300, help="rounds of (hover, codeLens, codeAction) while busy")
    p.add_argument("--seconds", type=float, default=30.0, help="keep measuring this long while the search runs")
    p.add_argument("--budget", type=int, default=40)
    p.add_argument("--eval-seconds", type=float, default=0.3)
    p.add_argument("--append", metavar="FILE", help="append the results as a section of this Markdown file")
    a = p.parse_args()
    report = asyncio.run(main(a))
    print(report)
    if a.append:
        with open(a.append, "a", encoding="utf-8") as f:
            f.write("\n## Language server latency (benchmarks/lsp_latency.py)\n\n" + report + "\n")
