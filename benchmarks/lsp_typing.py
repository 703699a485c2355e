"""Request latency on one file while a client types into a big kernel file.

    .venv/bin/python benchmarks/lsp_typing.py [--sizes 1,5] [--seconds 15] [--repo PATH]

Starts `kf serve` over stdio (the pytest-lsp client of tests/lsp_client.py), opens a small
kernel file and a big CUDA file (N copies of examples/cuda/saxpy.cu's kernel, 1 MB and
5 MB), then types 20 characters a second into a kernel body in the middle of the big file
(incremental didChange, the worst case: every keystroke changes a kernel) while it sends
hover, codeLens and codeAction on the small file back to back. Prints p50 / p99 / max per
request in milliseconds and how many publishDiagnostics the big file got per second.
`--repo` runs another checkout's server (e.g. an older commit) for a side-by-side figure.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, REPO)

from lsprotocol import types as lsp  # noqa: E402

import lsp_client  # noqa: E402
from lsp_client import Doc, code_actions, hover_text, kf_session, lens_titles  # noqa: E402

KERNEL = open(os.path.join(REPO, "examples", "cuda", "saxpy.cu")).read()


def pct(xs: list[float], q: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))] if xs else float("nan")


# plain device and host code between kernels: about one kernel per 2 KB
FILLER = """
// helpers of kernel NUM: device functions and host code the scanner reads past
__device__ inline float clampNUM(float v, float lo, float hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}
__device__ float polyNUM(const float* c, int n, float x) {
  float acc = 0.0f;
  for (int k = n - 1; k >= 0; --k) {
    acc = acc * x + c[k];
  }
  return clampNUM(acc, -1e30f, 1e30f);
}
static int host_checkNUM(const float* a, const float* b, int n, float tol) {
  int bad = 0;
  for (int k = 0; k < n; ++k) {
    float d = a[k] - b[k];
    if (d < 0) d = -d;
    if (d > tol * (1.0f + (b[k] < 0 ? -b[k] : b[k]))) {
      ++bad;
    }
  }
  return bad;
}
struct ConfigNUM {
  int block = 256;
  int grid = 0;
  float scale = 1.0f;
  const char* name = "config";
};
static ConfigNUM make_configNUM(int n) {
  ConfigNUM c;
  c.grid = (n + c.block - 1) / c.block;
  return c;
}

"""


def big_file(mb: float) -> str:
    head, _, body = KERNEL.partition("// @kf in  x")
    body = "// @kf in  x" + body
    parts = [head]
    i = 0
    while sum(map(len, parts)) < mb * 1e6:
        parts.append(body.replace("void saxpy(", f"void saxpy_{i}(") + FILLER.replace("NUM", str(i)))
        i += 1
    return "".join(parts)


async def run(size_mb: float, seconds: float, rate: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        small = os.path.join(tmp, "small.cu")
        big = os.path.join(tmp, "big.cu")
        with open(small, "w") as f:
            f.write(KERNEL)
        text = big_file(size_mb)
        with open(big, "w") as f:
            f.write(text)
        async with kf_session(tmp, {"watch": False}) as c:
            published: list[tuple[float, str]] = []
            orig = c.protocol.fm.features[lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS]

            def counting(params):
                published.append((time.monotonic(), params.uri))
                return orig(params)

            c.protocol.fm.features[lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = counting
            sdoc = Doc(c, small).open()
            bdoc = Doc(c, big, text).open()
            await lens_titles(c, sdoc.uri)
            deadline = time.monotonic() + 600
            while not await lens_titles(c, bdoc.uri):  # both parsed before the clock starts
                assert time.monotonic() < deadline, "the big file was never parsed"
                await asyncio.sleep(0.5)
            mid = text.count("\n") // 2
            line = next(i for i in range(mid, mid + 200) if "if (i < n)" in bdoc.text.split("\n", i + 1)[i])
            col = len("  if (i < n)")
            lat: dict[str, list[float]] = {"hover": [], "codeLens": [], "codeAction": []}
            stop = time.monotonic() + seconds
            typed = 0

            async def typist():
                nonlocal typed
                while time.monotonic() < stop:
                    bdoc.version += 1
                    c.text_document_did_change(lsp.DidChangeTextDocumentParams(
                        lsp.VersionedTextDocumentIdentifier(bdoc.version, bdoc.uri),
                        [lsp.TextDocumentContentChangePartial(
                            lsp.Range(lsp.Position(line, col + typed), lsp.Position(line, col + typed)), " ")]))
                    typed += 1
                    await asyncio.sleep(1 / rate)

            t = asyncio.ensure_future(typist())
            pos = sdoc.pos("saxpy", "void saxpy")
            sline = sdoc.line_of("void saxpy")
            t_start = time.monotonic()
            while time.monotonic() < stop:
                for name, call in (("hover", lambda: hover_text(c, sdoc.uri, pos)),
                                   ("codeLens", lambda: lens_titles(c, sdoc.uri)),
                                   ("codeAction", lambda: code_actions(c, sdoc.uri, sline))):
                    t0 = time.perf_counter()
                    r = await asyncio.wait_for(call(), 120)
                    lat[name].append((time.perf_counter() - t0) * 1000)
                    assert r, name
                await asyncio.sleep(0.01)
            await t
            elapsed = time.monotonic() - t_start
            big_pubs = [t for t, u in published if u == bdoc.uri and t >= t_start]
            # the editor's file ends up parsed at its last version
            await asyncio.sleep(1.0)
            titles = await lens_titles(c, bdoc.uri)
            return {"size": len(text) / 1e6, "lat": lat, "typed": typed, "elapsed": elapsed,
                    "diag_per_s": len(big_pubs) / elapsed, "lenses": len(titles)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,5")
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--rate", type=float, default=20.0, help="characters typed per second")
    ap.add_argument("--repo", help="run this checkout's server instead (PYTHONPATH)")
    args = ap.parse_args()
    if args.repo:
        lsp_client.REPO = os.path.abspath(args.repo)
    print(f"host: {platform.node()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; "
          f"server from {lsp_client.REPO}")
    print("| file | typed | request | n | p50 ms | p99 ms | max ms | big-file diagnostics / s |")
    print("|---|---|---|---|---|---|---|---|")
    for s in args.sizes.split(","):
        r = asyncio.run(run(float(s), args.seconds, args.rate))
        for name, xs in r["lat"].items():
            print(f"| {r['size']:.1f} MB | {r['typed']} chars in {r['elapsed']:.0f} s | {name} | {len(xs)} | "
                  f"{pct(xs, 0.5):.1f} | {pct(xs, 0.99):.1f} | {max(xs):.1f} | {r['diag_per_s']:.2f} |")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
