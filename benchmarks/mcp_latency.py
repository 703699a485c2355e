"""Latency of `kf mcp`'s quick tools, idle and while long work runs.

    .venv/bin/python benchmarks/mcp_latency.py [--requests 100] [--seconds 30] [--append docs/BENCHMARKS.md]

Starts `kf mcp` as a subprocess over stdio (the official SDK's client, the initialize
handshake), in a temporary project holding copies of examples/sycl/saxpy.cpp and
transpose.cpp. Measures list_kernels, job_status and results round trips idle, then
again while a search (optimize on transpose) and a long bench run in the background
(real SYCL-on-CPU evaluations in spawned workers). Prints p50 / p99 / max per tool in
milliseconds, as a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


async def measure(c, n: int, busy=None, seconds: float = 0.0) -> dict[str, list[float]]:
    calls = [("list_kernels", {}), ("job_status", {}), ("results", {"file": "saxpy.cpp"})]
    out: dict[str, list[float]] = {name: [] for name, _ in calls}
    end = time.monotonic() + seconds
    i = 0
    while i < n or (busy is not None and busy() and time.monotonic() < end):
        for name, args in calls:
            t0 = time.perf_counter()
            r = await c.call_tool(name, args)
            out[name].append((time.perf_counter() - t0) * 1e3)
            assert not r.is_error, r.content[0].text
        i += 1
    return out


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=100)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--settle", type=float, default=15.0,
                    help="seconds to wait after start (kf mcp imports the engine in the background)")
    ap.add_argument("--append", metavar="MD")
    a = ap.parse_args()

    import anyio
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    root = tempfile.mkdtemp(prefix="kf-mcp-bench-")
    for f in ("saxpy.cpp", "transpose.cpp"):
        shutil.copy(os.path.join(REPO, "examples", "sycl", f), root)
    params = StdioServerParameters(command=sys.executable, args=["-m", "kf_lsp", "mcp", "--log-level", "WARNING"],
                                   cwd=root, env={**os.environ, "PYTHONPATH": REPO})
    try:
        async with Client(params, mode="legacy") as c:
            await c.call_tool("list_kernels", {})  # warm
            await anyio.sleep(a.settle)
            idle = await measure(c, a.requests)
            started = await c.call_tool("optimize", {"file": "transpose.cpp", "budget": 200, "eval_seconds": 0.2})
            job = started.structured_content["job"]["job_id"]
            bench_done = asyncio.Event()

            async def long_bench():
                try:
                    await c.call_tool("bench", {"file": "saxpy.cpp", "time_budget": 10})
                finally:
                    bench_done.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(long_bench)
                await anyio.sleep(1)
                t0 = time.monotonic()
                busy = await measure(c, a.requests, lambda: not bench_done.is_set(), a.seconds)
                measured = time.monotonic() - t0
                tg.cancel_scope.cancel()
            status = (await c.call_tool("job_status", {"job_id": job})).structured_content["jobs"][0]
            await c.call_tool("stop", {"job_id": job})
    finally:
        shutil.rmtree(root, ignore_errors=True)

    lines = [f"kf mcp tool latency, {platform.node() or 'host'} ({os.cpu_count()} CPUs), {time.strftime('%Y-%m-%d')}: "
             f"SDK client over stdio; busy = a search ({status['done']} evaluations done by then) and a bench "
             f"running during {measured:.1f} s of measuring", "",
             "| tool | state | n | p50 ms | p99 ms | max ms |", "|---|---|---:|---:|---:|---:|"]
    for label, data in (("idle", idle), ("search + bench running", busy)):
        for name, xs in data.items():
            lines.append(f"| {name} | {label} | {len(xs)} | {pct(xs, 0.5):.2f} | {pct(xs, 0.99):.2f} | {max(xs):.2f} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if a.append:
        with open(a.append, "a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    asyncio.run(main())
