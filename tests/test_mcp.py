"""`kf mcp` end to end: the official MCP SDK's client drives a real `kf mcp` subprocess over
stdio, with the real SYCL-on-CPU backend (tiny budgets), as a coding agent would.

The journey test goes from "here is a kernel file" to "a verified faster variant is
written into it" through the MCP tools alone. Its kernel is examples/sycl/saxpy.cpp with
one extra tunable, REPEAT (64 or 1): the loop writes the same value REPEAT times, so
REPEAT=1 is a verified, significantly faster variant the tuning finds at once (the same
kernel as tests/test_lsp_e2e.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys

import pytest

import mcp_types as types
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.shared.exceptions import MCPError

from llm_double import LLMDouble
from llm_double import status as http_error

pytestmark = [pytest.mark.timeout(600)]

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SAXPY = open(os.path.join(REPO, "examples", "sycl", "saxpy.cpp")).read()
TRANSPOSE = open(os.path.join(REPO, "examples", "sycl", "transpose.cpp")).read()
REPEAT_SAXPY = (SAXPY
                .replace("// @kf tune WG_SIZE = 16, 64, 256, 1024\n", "// @kf tune WG_SIZE = 64\n// @kf tune REPEAT = 64, 1\n")
                .replace("#ifndef WG_SIZE", "#define REPEAT 64\n#ifndef WG_SIZE")
                .replace("  if (i < n) out[i] = a * x[i] + y[i];",
                         "  if (i < n) for (int r = 0; r < REPEAT; r++) out[i] = a * x[i] + y[i] + 0.0f * r;"))
assert "REPEAT = 64, 1" in REPEAT_SAXPY and "r < REPEAT" in REPEAT_SAXPY
NO_SPEC = "".join(line for line in SAXPY.splitlines(keepends=True) if "@kf" not in line)
# a candidate that is only the kernel (and a comment): spliced over the original's, whose spec applies
KERNEL_ONLY = "// candidate: one write per element\n" + SAXPY[SAXPY.index('extern "C"'):]
WRONG = KERNEL_ONLY.replace("out[i] = a * x[i] + y[i];", "out[i] = a * x[i] - y[i];")
assert WRONG != KERNEL_ONLY
SECRET = "sk-kf-test-0123456789-never-shown"


def kf_command() -> list[str]:
    return [sys.executable, "-m", "kf_lsp", "mcp"]


@contextlib.asynccontextmanager
async def kf_mcp(tmp_path, cwd: str, roots: list[str] | None, env: dict | None = None, args: list[str] = ()):
    """A `kf mcp` subprocess and the SDK's client on it (the initialize handshake, as Claude
    Code, Cursor and VS Code do). `roots`: what the client declares (None: no roots
    capability). Yields (client, path of the server's stderr)."""
    errlog = tmp_path / f"kf-mcp-{len(list(tmp_path.glob('kf-mcp-*.log')))}.log"
    cmd = kf_command() + list(args)
    params = StdioServerParameters(command=cmd[0], args=cmd[1:], cwd=cwd,
                                   env={**os.environ, "PYTHONPATH": REPO, **(env or {})})

    async def list_roots(ctx):
        return types.ListRootsResult(roots=[types.Root(uri=f"file://{r}", name=os.path.basename(r)) for r in roots])

    with open(errlog, "w") as err:
        async with Client(stdio_client(params, errlog=err), mode="legacy",
                          list_roots_callback=list_roots if roots is not None else None) as client:
            yield client, errlog


async def call(client, name: str, args: dict, **kw) -> dict:
    """A tool call that must succeed: its structured result (also checked against the JSON text)."""
    r = await client.call_tool(name, args, **kw)
    assert not r.is_error, f"{name}: {r.content[0].text}"
    assert json.loads(r.content[0].text) == r.structured_content
    return r.structured_content


async def refused(client, name: str, args: dict) -> str:
    """A tool call that must fail as a tool error (isError): its message."""
    r = await client.call_tool(name, args)
    assert r.is_error, f"{name} should have failed: {r.content[0].text[:300]}"
    assert r.structured_content is None
    return r.content[0].text


def workspace(tmp_path) -> str:
    root = tmp_path / "project"
    (root / "kernels").mkdir(parents=True)
    (root / "kernels" / "saxpy.cpp").write_text(REPEAT_SAXPY)
    (root / "kernels" / "nospec.cpp").write_text(NO_SPEC)
    (root / "transpose.cpp").write_text(TRANSPOSE)
    (root / "build").mkdir()
    (root / "build" / "generated.cpp").write_text(SAXPY)  # build folders are not the user's kernels
    return os.path.realpath(root)


@pytest.mark.asyncio
async def test_agent_goes_from_a_kernel_file_to_a_verified_faster_variant_written_into_it(tmp_path):
    root = workspace(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    saxpy = os.path.join(root, "kernels", "saxpy.cpp")
    # started in another folder: the roots the client declares are what counts
    async with kf_mcp(tmp_path, str(elsewhere), [root]) as (c, errlog):
        tools = {t.name: t for t in (await c.list_tools()).tools}
        assert set(tools) == {"list_kernels", "draft_spec", "check_spec", "bench", "optimize", "job_status", "stop",
                              "results", "apply_variant"}
        for t in tools.values():
            assert t.input_schema["type"] == "object" and t.output_schema["type"] == "object" and t.description
        assert tools["bench"].input_schema["required"] == ["file"]
        assert "candidate_source" in tools["bench"].input_schema["properties"]

        # list: every kernel under the root with its spec status; build/ is skipped
        listed = await call(c, "list_kernels", {})
        assert listed["root"] == root
        by_file = {os.path.relpath(k["file"], root): k for k in listed["kernels"]}
        assert set(by_file) == {"kernels/saxpy.cpp", "kernels/nospec.cpp", "transpose.cpp"}
        assert by_file["kernels/saxpy.cpp"]["spec"] == "ok" and by_file["kernels/nospec.cpp"]["spec"] == "missing"
        assert by_file["kernels/saxpy.cpp"]["tunables"] == {"WG_SIZE": [64], "REPEAT": [64, 1]}
        assert by_file["kernels/saxpy.cpp"]["line"] == REPEAT_SAXPY.splitlines().index(
            next(x for x in REPEAT_SAXPY.splitlines() if x.startswith("void saxpy"))) + 1

        # draft a spec for the kernel without one, and write it in
        nospec = os.path.join(root, "kernels", "nospec.cpp")
        draft = await call(c, "draft_spec", {"file": "kernels/nospec.cpp"})
        assert not draft["has_spec"] and not draft["written"]
        assert "// @kf in  x: float[" in draft["draft"] and "// @kf out out: float[" in draft["draft"]
        assert open(nospec).read() == NO_SPEC  # only a draft
        written = await call(c, "draft_spec", {"file": nospec, "kernel": "saxpy", "write": True})
        assert written["written"]
        assert draft["draft"] in open(nospec).read()
        again = await refused(c, "draft_spec", {"file": nospec, "write": True})
        assert "already has a spec" in again

        # the spec is checked by running the original on it
        checked = await call(c, "check_spec", {"file": saxpy})
        assert checked["ok"] and checked["verdict"] == "correct" and checked["spec"] == "ok"
        assert checked["checks"] >= 3 and {"n": 1000} in checked["sizes"]

        # bench a good and a wrong candidate: verdicts, timings with spread
        good = await call(c, "bench", {"file": saxpy, "candidate_source": KERNEL_ONLY, "time_budget": 0.2})
        assert good["verdict"] == "correct" and good["candidate"]
        res = good["result"]
        for side in ("reference", "candidate"):
            t = res[side]["timing"]
            assert 0 < t["p10"] <= t["median"] <= t["p90"] and t["trials"] > 0 and t["samples"] == []
        assert res["speedup"] > 1 and res["speedup_low"] <= res["speedup"] <= res["speedup_high"]
        assert all(ch["ok"] for ch in res["checks"]) and "correct" in good["summary"]
        wrong = await call(c, "bench", {"file": saxpy, "candidate_source": WRONG, "time_budget": 0.2})
        assert wrong["verdict"] == "wrong" and wrong["result"]["speedup"] is None
        failing = [ch for ch in wrong["result"]["checks"] if not ch["ok"]]
        assert failing and failing[0]["buffer"] == "out" and failing[0]["mismatch_count"] > 0

        # optimize with a small budget, to completion, with progress
        started = await call(c, "optimize", {"file": saxpy, "budget": 4, "eval_seconds": 0.1})
        job = started["job"]["job_id"]
        assert started["job"]["state"] in ("queued", "running") and not started["already_running"]
        assert started["database"] == os.path.join(root, ".kf", "kf.db")
        progress: list[tuple] = []

        async def on_progress(done, total, message):
            progress.append((done, total, message))

        status = await call(c, "job_status", {"job_id": job, "wait_seconds": 400}, progress_callback=on_progress)
        (final,) = status["jobs"]
        assert final["state"] == "done", final
        assert final["done"] >= 1 and final["best_speedup"] > 1
        assert progress and progress[-1][0] == final["done"] and "evaluations" in progress[-1][2]
        values = [p[0] for p in progress]
        assert values == sorted(set(values))  # increasing with every notification, as MCP requires

        # results: the verified variants with confidence intervals, cell and diff
        results = await call(c, "results", {"file": saxpy})
        assert results["applicable"] and results["retimed"] and results["search_id"] == final["search_id"]
        best = results["variants"][0]
        assert best["verdict"] == "correct" and best["significant"] and best["speedup_low"] > 1
        assert best["speedup_low"] <= best["speedup"] <= best["speedup_high"]
        assert best["tunables"]["REPEAT"] == 1 and best["cell"] and best["cell_description"]
        assert "-#define REPEAT 64" in best["diff"] and "+#define REPEAT 1" in best["diff"]
        assert not best["is_current"]

        # apply: the file changed, the original kept
        applied = await call(c, "apply_variant", {"file": saxpy, "variant": best["id"][:16],
                                                   "file_sha256": results["file_sha256"]})
        assert applied["applied"] and applied["backup"] == saxpy + ".kf-orig"
        assert open(saxpy + ".kf-orig").read() == REPEAT_SAXPY
        now = open(saxpy).read()
        assert "#define REPEAT 1\n" in now and now != REPEAT_SAXPY
        assert len(now.splitlines()) == len(REPEAT_SAXPY.splitlines())  # only the value changed
        after = await call(c, "results", {"file": saxpy})
        # the file is now the variant: measured against other code, and recognised as the current one
        assert not after["applicable"] and after["variants"][0]["id"] == best["id"]
        assert after["variants"][0]["is_current"] and after["variants"][0]["diff"] == ""
        assert "already holds" in await refused(c, "apply_variant", {"file": saxpy, "variant": best["id"]})
        assert open(saxpy + ".kf-orig").read() == REPEAT_SAXPY  # the first backup is never overwritten
        # the file's sha256 guard
        assert "changed since" in await refused(c, "apply_variant", {"file": saxpy, "file_sha256": "0" * 64})

        # stop: a long search stopped, what it measured kept
        long = await call(c, "optimize", {"file": "transpose.cpp", "budget": 500, "eval_seconds": 0.1})
        lid = long["job"]["job_id"]
        again = await call(c, "optimize", {"file": "transpose.cpp"})
        assert again["already_running"] and again["job"]["job_id"] == lid
        stopped = await call(c, "stop", {"job_id": lid})
        assert stopped["stopped"] and stopped["state"] == "cancelled"
        (gone,) = (await call(c, "job_status", {"job_id": lid}))["jobs"]
        assert gone["state"] == "cancelled"
        assert not (await call(c, "stop", {"job_id": lid}))["stopped"]  # already stopped: nothing to do
        listing = await call(c, "job_status", {})
        assert {j["job_id"] for j in listing["jobs"]} >= {job, lid}

    log = errlog.read_text()
    assert "Traceback" not in log, log[-3000:]


@pytest.mark.asyncio
async def test_paths_outside_the_roots_and_malformed_arguments_are_tool_errors(tmp_path):
    root = workspace(tmp_path)
    outside = tmp_path / "outside.cpp"
    outside.write_text(SAXPY)
    os.symlink(outside, os.path.join(root, "link.cpp"))
    # no roots capability: the folder kf mcp was started in is the root
    async with kf_mcp(tmp_path, root, None) as (c, errlog):
        listed = await call(c, "list_kernels", {"path": "."})
        assert listed["root"] == root
        assert "link.cpp" not in {os.path.basename(k["file"]) for k in listed["kernels"]}
        for name, args in [("bench", {"file": str(outside)}),
                           ("bench", {"file": "../outside.cpp"}),
                           ("results", {"file": "link.cpp"}),  # a link pointing out is outside too
                           ("list_kernels", {"path": "/"}),
                           ("apply_variant", {"file": str(outside)}),
                           ("draft_spec", {"file": str(outside), "write": True}),
                           ("bench", {"file": "kernels/saxpy.cpp", "flags": ["-I/etc"]})]:  # flags stay inside
            message = await refused(c, name, args)
            assert "outside the allowed roots" in message and root in message, (name, message)
        assert open(outside).read() == SAXPY and not os.path.exists(str(outside) + ".kf-orig")

        for name, args, needle in [
            ("bench", {"file": 3}, "invalid arguments"),
            ("bench", {}, "missing required field `file`"),
            ("bench", {"file": "kernels/saxpy.cpp", "tunables": {"WG_SIZE": "big"}}, "invalid arguments"),
            ("optimize", {"file": "kernels/saxpy.cpp", "budget": -1}, "budget"),
            ("optimize", {"file": "kernels/saxpy.cpp", "llm": {"base_url": "http://127.0.0.1:9/v1", "model": "m",
                                                              "api_key": SECRET}}, "api_key"),
            ("job_status", {"job_id": "nope"}, "no job 'nope'"),
            ("stop", {"job_id": "nope"}, "no job 'nope'"),
            ("bench", {"file": "kernels/nosuch.cpp"}, "no such file"),
            ("bench", {"file": "kernels"}, "a folder"),
            ("bench", {"file": "kernels/saxpy.cpp", "kernel": "nokernel"}, "nokernel"),
            ("bench", {"file": "kernels/nospec.cpp"}, "has no `// @kf` spec"),
            ("bench", {"file": "kernels/saxpy.cpp", "candidate_source": "int main() {}"}, "candidate_source"),
            ("apply_variant", {"file": "kernels/saxpy.cpp"}, "no search results"),
            ("bench", {"file": "kernels/saxpy.cpp", "flags": ["-ccbin=/bin/sh"]}, "not accepted from an MCP client"),
        ]:
            message = await refused(c, name, args)
            assert needle in message, (name, args, message)
            assert SECRET not in message
        with pytest.raises(MCPError, match="unknown tool"):
            await c.call_tool("no_such_tool", {})
        # a candidate that does not compile is data (a verdict), not an error
        broken = await call(c, "bench", {"file": "kernels/saxpy.cpp", "time_budget": 0.1,
                                         "candidate_source": KERNEL_ONLY.replace("a * x[i]", "a * undeclared[i]")})
        assert broken["verdict"] == "compile_error" and broken["result"]["diagnostics"]
        # still alive and answering
        assert (await call(c, "list_kernels", {"path": "kernels"}))["kernels"]
    assert "Traceback" not in errlog.read_text()


@pytest.mark.asyncio
async def test_llm_key_reaches_the_endpoint_and_no_result_or_log(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    # two tunings only, so the LLM operator gets its share of the budget after them
    (root / "saxpy.cpp").write_text(SAXPY.replace("WG_SIZE = 16, 64, 256, 1024", "WG_SIZE = 64, 256"))
    # the endpoint first answers 401 quoting the key (as some do): kf must not repeat it
    with LLMDouble([http_error(401, f"Incorrect API key provided: {SECRET}")]) as llm:
        async with kf_mcp(tmp_path, str(root), [str(root)], env={"KF_TEST_KEY": SECRET}) as (c, errlog):
            started = await call(c, "optimize", {"file": "saxpy.cpp", "budget": 5, "eval_seconds": 0.1,
                                                 "llm": {"base_url": llm.url, "model": "double",
                                                         "api_key_env": "KF_TEST_KEY"}})
            seen = [json.dumps(started)]
            status = await call(c, "job_status", {"job_id": started["job"]["job_id"], "wait_seconds": 400})
            seen.append(json.dumps(status))
            assert status["jobs"][0]["state"] == "done", status
            seen.append(json.dumps(await call(c, "results", {"file": "saxpy.cpp"})))
    assert llm.chat_requests, "the LLM operator never called the endpoint"
    assert any(h.get("authorization") == f"Bearer {SECRET}" for h in llm.headers)
    for text in seen + [errlog.read_text()]:
        assert SECRET not in text
    assert not any(SECRET in p.read_text(errors="replace") for p in (root / ".kf").rglob("*") if p.is_file())


@pytest.mark.asyncio
async def test_long_calls_never_block_the_others_and_cancelling_one_leaves_the_server_working(tmp_path):
    import anyio

    root = workspace(tmp_path)
    async with kf_mcp(tmp_path, root, [root]) as (c, errlog):
        finished: list = []

        async def long_bench():
            finished.append(await c.call_tool("bench", {"file": "kernels/saxpy.cpp", "time_budget": 30, "seeds": 3}))

        async with anyio.create_task_group() as tg:
            tg.start_soon(long_bench)
            await anyio.sleep(2)
            with anyio.fail_after(30):  # answered while the evaluation runs in its worker
                listed = await call(c, "list_kernels", {})
                assert listed["kernels"] and (await call(c, "job_status", {}))["jobs"] == []
            assert not finished
            tg.cancel_scope.cancel()  # the SDK sends notifications/cancelled for the abandoned request
        assert not finished
        with anyio.fail_after(60):
            for _ in range(100):
                if "bench: cancelled by the client" in errlog.read_text():
                    break
                await anyio.sleep(0.2)
        assert "bench: cancelled by the client" in errlog.read_text()
        # the pool is usable after its evaluation was killed
        after = await call(c, "bench", {"file": "kernels/saxpy.cpp", "time_budget": 0.1})
        assert after["verdict"] == "correct"
    assert "Traceback" not in errlog.read_text()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.asyncio
async def test_streamable_http_on_loopback(tmp_path):
    import subprocess

    import anyio

    root = workspace(tmp_path)
    r = subprocess.run(kf_command() + ["--http", "8123", "--host", "0.0.0.0"], capture_output=True, text=True,
                       cwd=root, env={**os.environ, "PYTHONPATH": REPO}, timeout=60)
    assert r.returncode == 2 and "loopback only" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    port = _free_port()
    with open(tmp_path / "http.log", "w") as err:
        proc = subprocess.Popen(kf_command() + ["--http", str(port)], cwd=root, stderr=err, stdout=err,
                                env={**os.environ, "PYTHONPATH": REPO})
    try:
        url = f"http://127.0.0.1:{port}/mcp"
        with anyio.fail_after(60):
            while True:
                try:
                    with __import__("socket").create_connection(("127.0.0.1", port), timeout=1):
                        break
                except OSError:
                    assert proc.poll() is None, (tmp_path / "http.log").read_text()
                    await anyio.sleep(0.2)
        async with Client(url) as c:  # the SDK's default: the newest protocol it and the server speak
            listed = await call(c, "list_kernels", {})
            assert listed["root"] == root and len(listed["kernels"]) == 3
            assert "outside the allowed roots" in await refused(c, "results", {"file": "/etc/hosts"})
            checked = await call(c, "check_spec", {"file": "kernels/saxpy.cpp"})
            assert checked["ok"] and checked["verdict"] == "correct"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert "Traceback" not in (tmp_path / "http.log").read_text()


@pytest.mark.parametrize("args, needle", [
    (["--root", "/nonexistent-kf-root"], "no such folder"),
    (["--max-jobs", "0"], "--max-jobs"),
    (["--llm-base-url", "http://127.0.0.1:9/v1"], "go together"),
])
def test_bad_command_line_is_one_line_and_exit_2(args, needle, tmp_path):
    import subprocess

    r = subprocess.run(kf_command() + args, capture_output=True, text=True, cwd=tmp_path, timeout=60,
                       env={**os.environ, "PYTHONPATH": REPO})
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1 and needle in lines[0], r.stderr


@pytest.mark.asyncio
async def test_optimize_time_budget_ends_the_search(tmp_path):
    root = workspace(tmp_path)
    async with kf_mcp(tmp_path, root, [root]) as (c, errlog):
        started = await call(c, "optimize", {"file": "transpose.cpp", "budget": 1000, "time": 25, "eval_seconds": 0.05})
        assert started["job"]["budget"] == 1000
        (job,) = (await call(c, "job_status", {"job_id": started["job"]["job_id"], "wait_seconds": 300}))["jobs"]
        assert job["state"] == "done" and job["message"].startswith("time:"), job
        assert 0 < job["done"] < 1000
