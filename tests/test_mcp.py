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
import pathlib
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
from machine_load import slowdown

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
    """A tool call that must succeed: its structured result. The text content is a compact
    summary, not the structured JSON again (issue 22)."""
    r = await client.call_tool(name, args, **kw)
    assert not r.is_error, f"{name}: {r.content[0].text}"
    text = r.content[0].text
    assert r.structured_content is not None and text.strip()
    assert not text.lstrip().startswith("{"), f"{name}: the text repeats the JSON: {text[:200]}"
    return r.structured_content


async def refused(client, name: str, args: dict) -> str:
    """A tool call that must fail as a tool error (isError): its message."""
    r = await client.call_tool(name, args)
    assert r.is_error, f"{name} should have failed: {r.content[0].text[:300]}"
    assert r.structured_content is None
    return r.content[0].text


async def wait_job(client, job_id: str, limit: float = 600, progress: list | None = None) -> dict:
    """job_status(wait_seconds=50) until the job ends: a wait is capped below the 60 s after which
    common clients give up, so an agent asks again while the state is running. `progress` gets
    the notifications of each call (a list per call)."""
    import anyio

    with anyio.fail_after(limit):
        while True:
            seen: list[tuple] = []

            async def on_progress(done, total, message):
                seen.append((done, total, message))

            (job,) = (await call(client, "job_status", {"job_id": job_id, "wait_seconds": 50},
                                 progress_callback=on_progress))["jobs"]
            if progress is not None:
                progress.append(seen)
            if job["state"] not in ("queued", "running"):
                return job


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
        calls: list[list[tuple]] = []
        final = await wait_job(c, job, progress=calls)
        assert final["state"] == "done", final
        assert final["done"] >= 1 and final["best_speedup"] > 1
        progress = calls[-1]
        assert progress and progress[-1][0] == final["done"] and "evaluations" in progress[-1][2]
        for seen in calls:  # increasing with every notification of a request, as MCP requires
            values = [p[0] for p in seen]
            assert values == sorted(set(values))
        # its duration is frozen once it ended
        again = (await call(c, "job_status", {"job_id": job}))["jobs"][0]
        assert again["elapsed_seconds"] == final["elapsed_seconds"] > 0

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
            # (a string is a type's name for a type tunable: for a numeric one, an error at once)
            ("bench", {"file": "kernels/saxpy.cpp", "tunables": {"WG_SIZE": "big"}}, "takes numbers"),
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
        assert broken["verdict"] == "compile_error" and broken["diagnostics"] and broken["diagnostics"][0]["line"] >= 1
        # still alive and answering
        assert (await call(c, "list_kernels", {"path": "kernels"}))["kernels"]
    assert "Traceback" not in errlog.read_text()


# -- issue 22: keys and endpoints belong to whoever starts kf -----------------------------------

# credentials in kf mcp's environment: the configured key variable, and others a worker must never see
OTHER_SECRETS = {"OPENAI_API_KEY": "sk-openai-0123456789-not-for-workers",
                 "AWS_SECRET_ACCESS_KEY": "aws-secret-0123456789-not-for-workers",
                 "GITHUB_TOKEN": "ghp_0123456789-not-for-workers",
                 "MY_SERVICE_API_KEY": "svc-0123456789-not-for-workers"}


def _llm_project(tmp_path):
    root = tmp_path / "p"
    root.mkdir()
    # two tunings only, so the LLM operator gets its share of the budget after them
    (root / "saxpy.cpp").write_text(SAXPY.replace("WG_SIZE = 16, 64, 256, 1024", "WG_SIZE = 64, 256"))
    return root


def _environments(marker: str) -> dict[int, tuple[str, dict[str, str]]]:
    """pid -> (command line, environment) of every process whose environment carries `marker`
    (this test's kf mcp and the processes it started), read from /proc as the kernel has it,
    and of every kf process descending from this one (in the full suite the marker was seen
    under another value: every kf server there must show no key either); {} where the kernel
    does not show the block (a non-dumpable kf, to a reader without CAP_SYS_PTRACE)."""
    out, parents, cmds = {}, {}, {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            with open(f"/proc/{pid}/status") as f:
                parents[int(pid)] = int(next(ln.split()[1] for ln in f if ln.startswith("PPid:")))
        except (OSError, StopIteration, ValueError):
            continue
        cmds[int(pid)] = cmd
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                raw = f.read()
        except OSError:
            raw = None
        env = {} if raw is None else dict(
            x.decode(errors="replace").partition("=")[::2] for x in raw.split(b"\0") if b"=" in x)
        if env.get("KF_TEST_MARKER") == marker or (_descends(int(pid), os.getpid(), parents) and "kf_lsp" in cmd):
            out[int(pid)] = (cmd, env)
    return out


def _descends(pid: int, ancestor: int, parents: dict[int, int]) -> bool:
    seen = set()
    while pid in parents and pid not in seen:
        seen.add(pid)
        pid = parents[pid]
        if pid == ancestor:
            return True
    return False


def _children() -> str:
    """This process's descendants, for a failure message: pid, command, and what /proc shows of
    their environment (its variable names, or why not)."""
    rows = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/status") as f:
                ppid = int(next(ln.split()[1] for ln in f if ln.startswith("PPid:")))
            if ppid != os.getpid():
                continue
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            try:
                with open(f"/proc/{pid}/environ", "rb") as f:
                    names = sorted(x.partition(b"=")[0].decode() for x in f.read().split(b"\0") if b"=" in x)
                shown = f"{len(names)} variables, KF_TEST_MARKER {'present' if 'KF_TEST_MARKER' in names else 'absent'}"
            except OSError as e:
                shown = f"environ unreadable: {e}"
        except (OSError, StopIteration, ValueError):
            continue
        rows.append(f"{pid}: {cmd[:120]} ({shown})")
    return "; ".join(rows) or "no child process"


def _server_processes(root: str) -> dict[int, str]:
    """pid -> command line of the running `kf mcp` processes started with `--root ROOT`. A test
    passes its own temporary folder: its server is found by what the kernel shows of every
    process (the command line), whatever its environment shows or hides, and no other test's
    server (one still ending, or one leaked) can be taken for it."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = [a.decode(errors="replace") for a in f.read().split(b"\0")]
        except OSError:
            continue
        if "kf_lsp" in argv and "mcp" in argv and any(a == "--root" and b == root for a, b in zip(argv, argv[1:])):
            out[int(pid)] = " ".join(argv).strip()
    return out


def _entries(raw: bytes, name: str) -> list[bytes]:
    """The NAME=VALUE entries of `name` in an environment block (for a failure message)."""
    return [e for e in raw.split(b"\0") if e.startswith(name.encode() + b"=")]


async def assert_no_secret_in_environment(pid: int, marker: str, secrets: dict[str, str], guard: float = 60) -> None:
    """What /proc/PID/environ shows of kf's own process: none of `secrets` (names or values),
    in every read; and the ordinary variable KF_TEST_MARKER whole (kf blanks only what it
    took), waited for with a guard: a read of the block under load once came back without
    the test's value (the full suite, twice), so a read that does not show it yet is read
    again, and only one that never does fails, with what it showed."""
    import anyio
    import time

    expected = [f"KF_TEST_MARKER={marker}".encode()]
    deadline, seen = time.monotonic() + guard, []
    while True:
        raw = _raw_environment(pid)
        for name, value in secrets.items():
            assert value.encode() not in raw and name.encode() + b"=" not in raw, (pid, name)
        if raw == b"" or _entries(raw, "KF_TEST_MARKER") == expected:  # b"": the kernel shows no block at all
            return
        seen.append((len(raw), _entries(raw, "KF_TEST_MARKER")))
        assert time.monotonic() < deadline, f"kf mcp {pid}: KF_TEST_MARKER={marker} never shown whole: {seen[-5:]}"
        await anyio.sleep(0.5)


def _raw_environment(pid: int) -> bytes:
    """A process's environment block as /proc shows it to another process of the same user
    (b"" when the kernel refuses to show it: the same as not showing a key)."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return f.read()
    except PermissionError:
        return b""


@pytest.mark.asyncio
async def test_kf_mcp_itself_shows_no_credential_in_its_proc_environment(tmp_path):
    """Unsetting a variable does not take it out of /proc/PID/environ (the block the process
    started with), which a worker running generated code as the same user can read: kf
    blanks the credentials there too, and keeps the configured key for its LLM client."""
    import uuid

    marker = uuid.uuid4().hex
    env = {"KF_TEST_KEY": SECRET, **OTHER_SECRETS, "KF_TEST_MARKER": marker}
    root = workspace(tmp_path)
    args = ["--api-key-env", "KF_TEST_KEY", "--root", root]  # --root: how the test finds its own server
    async with kf_mcp(tmp_path, root, [root], env=env, args=args) as (c, _):
        assert (await call(c, "list_kernels", {}))["total"] >= 1
        servers = _server_processes(root)
        assert len(servers) == 1, f"this test's kf mcp (--root {root}): {servers}; this process's children: {_children()}"
        ((pid, _cmd),) = servers.items()
        await assert_no_secret_in_environment(pid, marker, {"KF_TEST_KEY": SECRET, **OTHER_SECRETS})


@pytest.mark.asyncio
async def test_only_the_configured_key_reaches_only_the_configured_endpoint_and_workers_get_no_secret(tmp_path):
    import uuid

    root = _llm_project(tmp_path)
    marker = uuid.uuid4().hex
    env = {"KF_TEST_KEY": SECRET, **OTHER_SECRETS, "KF_TEST_MARKER": marker}
    with LLMDouble() as llm, LLMDouble() as other:
        args = ["--llm-base-url", llm.url, "--model", "double", "--model", "double-large", "--api-key-env", "KF_TEST_KEY"]
        async with kf_mcp(tmp_path, str(root), [str(root)], env=env, args=args) as (c, errlog):
            # a call cannot name a URL or a key variable: refused at once, nothing sent anywhere
            for bad in ({"base_url": other.url, "model": "double"}, {"api_key_env": "AWS_SECRET_ACCESS_KEY"},
                        {"endpoint": "default", "base_url": other.url}, {"api_key": SECRET}):
                message = await refused(c, "optimize", {"file": "saxpy.cpp", "budget": 3, "llm": bad})
                assert "configured by whoever starts kf mcp" in message, message
                assert other.url not in message and SECRET not in message
            # names that are not configured: errors that say what is
            message = await refused(c, "optimize", {"file": "saxpy.cpp", "llm": {"endpoint": "elsewhere"}})
            assert "no LLM endpoint named 'elsewhere'" in message and "default: double, double-large" in message
            assert "offers no model 'gpt-x'" in await refused(c, "optimize", {"file": "saxpy.cpp", "llm": {"model": "gpt-x"}})
            # a search on the configured endpoint, its second model chosen by name
            started = await call(c, "optimize", {"file": "saxpy.cpp", "budget": 5, "eval_seconds": 0.1,
                                                 "llm": {"model": "double-large"}})
            job = await wait_job(c, started["job"]["job_id"])
            assert job["state"] == "done", job
            seen = [json.dumps(started), json.dumps(job), json.dumps(await call(c, "results", {"file": "saxpy.cpp"}))]
            # the evaluation workers (they run generated code) have none of the credentials
            procs = _environments(marker)
            workers = {pid: e for pid, (cmd, e) in procs.items() if "multiprocessing" in cmd}
            assert workers, f"no worker process found among {[cmd for cmd, _ in procs.values()]}"
            for pid, wenv in workers.items():
                for name in ["KF_TEST_KEY", *OTHER_SECRETS]:
                    assert name not in wenv, (pid, name)
                assert not any(v in SECRET + "".join(OTHER_SECRETS.values()) for v in wenv.values() if len(v) > 8)
                assert wenv.get("KF_TEST_MARKER") == marker  # (an ordinary variable stays)
    assert not other.requests, "a call steered kf to another endpoint"
    assert llm.chat_requests, "the LLM operator never called the configured endpoint"
    assert all(h.get("authorization") == f"Bearer {SECRET}" for h in llm.headers)
    assert {r["model"] for r in llm.chat_requests} == {"double-large"}
    sent = json.dumps(llm.requests) + json.dumps(llm.headers)
    assert sent.count(SECRET) == len(llm.headers)  # the key in the Authorization header, nowhere else
    assert not any(v in sent for v in OTHER_SECRETS.values())
    for text in seen + [errlog.read_text()]:
        assert SECRET not in text
    assert not any(SECRET in p.read_text(errors="replace") for p in (root / ".kf").rglob("*") if p.is_file())


@pytest.mark.asyncio
async def test_a_refused_key_ends_the_jobs_llm_use_after_one_request_with_one_message(tmp_path):
    root = _llm_project(tmp_path)
    # the endpoint refuses the key, quoting it (as some do): kf must not repeat it
    with LLMDouble(default=http_error(401, f"Incorrect API key provided: {SECRET}")) as llm:
        args = ["--llm-base-url", llm.url, "--model", "double", "--api-key-env", "KF_TEST_KEY"]
        async with kf_mcp(tmp_path, str(root), [str(root)], env={"KF_TEST_KEY": SECRET}, args=args) as (c, errlog):
            started = await call(c, "optimize", {"file": "saxpy.cpp", "budget": 6, "eval_seconds": 0.1})
            job = await wait_job(c, started["job"]["job_id"])
            assert job["state"] == "done" and "refused the API key" in job["message"], job
            assert SECRET not in json.dumps(job)
    assert len(llm.requests) == 1, f"{len(llm.requests)} requests after the key was refused"
    log = errlog.read_text()
    assert SECRET not in log
    assert sum("refused the API key" in line for line in log.splitlines()) == 1, log[-3000:]


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
        started = await call(c, "optimize", {"file": "transpose.cpp", "budget": 1000, "time": 8, "eval_seconds": 0.05})
        assert started["job"]["budget"] == 1000
        job = await wait_job(c, started["job"]["job_id"])
        # ended by the clock, far from its budget (how many evaluations fit in 8 s depends on the
        # machine's load: none at all on a busy one)
        assert job["state"] == "done" and job["message"].startswith("time:"), job
        assert 0 <= job["done"] < 1000


# -- issue 22: one contract for agents ---------------------------------------------------------

BAD_SPEC = SAXPY.replace("// @kf in  y: float[n]", "// @kf in  y: floaty[n]")


def _walk(schema: dict, defs: dict):
    """Every (name, property) of an object schema, following $refs into $defs."""
    for name, prop in schema.get("properties", {}).items():
        yield name, prop
        for sub in [prop, *prop.get("anyOf", []), prop.get("items", {})]:
            ref = sub.get("$ref") if isinstance(sub, dict) else None
            if ref:
                yield from _walk(defs[ref.rsplit("/", 1)[-1]], defs)


def check_schemas(tools: dict) -> None:
    """Every parameter described with its default and unit (never inside anyOf); typed enums
    for every state, one vocabulary with the language server; positions said to be 1-based."""
    for t in tools.values():
        schema = t.input_schema
        for name, prop in schema["properties"].items():
            assert prop.get("description"), f"{t.name}.{name} has no description"
            assert not any("description" in b for b in prop.get("anyOf", [])), f"{t.name}.{name}: inside anyOf"
            if name not in schema.get("required", []):
                assert "default" in prop["description"].lower(), f"{t.name}.{name}: its default is not stated"
    props = tools["optimize"].input_schema["properties"]
    assert "32" in props["budget"]["description"] and "evaluations" in props["budget"]["description"]
    assert "seconds" in props["time"]["description"] and "seconds" in props["eval_seconds"]["description"]
    assert "(default 3)" in tools["bench"].input_schema["properties"]["seeds"]["description"]
    assert "(default 5)" in tools["results"].input_schema["properties"]["limit"]["description"]
    assert tools["stop"].input_schema["properties"]["job_id"]["description"]
    wait = tools["job_status"].input_schema["properties"]["wait_seconds"]["description"]
    assert "at most 50 s" in wait and "progress" in wait
    # one vocabulary for states: typed enums, shared with the language server
    out = tools["job_status"].output_schema
    state = dict(_walk(out, out.get("$defs", {})))["state"]
    assert set(state["enum"]) == {"queued", "running", "done", "cancelled", "error", "interrupted"}
    assert "interrupted" in state["description"]
    res = tools["results"].output_schema
    assert "died" not in res["properties"]["status"]["enum"] and "interrupted" in res["properties"]["status"]["enum"]
    lst = tools["list_kernels"].output_schema
    line = dict(_walk(lst, lst.get("$defs", {})))["line"]
    assert "1-based" in line["description"]
    from kf_lsp.core.state import JobState
    assert set(JobState.__args__) == set(state["enum"])


@pytest.mark.asyncio
async def test_the_contract_schemas_1_based_positions_filters_paging_compact_text_and_errors(tmp_path):
    root = workspace(tmp_path)
    (pathlib.Path(root) / "badspec.cpp").write_text(BAD_SPEC)
    bad_line = BAD_SPEC.splitlines().index("// @kf in  y: floaty[n]") + 1
    async with kf_mcp(tmp_path, root, [root]) as (c, errlog):
        check_schemas({t.name: t for t in (await c.list_tools()).tools})
        # spec diagnostics: 1-based lines, as KernelInfo.line and the messages are
        listed = await call(c, "list_kernels", {"glob": "badspec.cpp"})
        (k,) = listed["kernels"]
        assert k["spec"] == "error" and k["diagnostics"][0]["line"] == bad_line, k["diagnostics"]
        assert k["diagnostics"][0]["column"] >= 1
        checked = await call(c, "check_spec", {"file": "badspec.cpp"})
        assert checked["diagnostics"][0]["line"] == bad_line
        # compile errors: 1-based at the file's line
        broken = REPEAT_SAXPY.replace("a * x[i] + y[i]", "a * undeclared_q[i] + y[i]")
        err_line = next(i for i, x in enumerate(broken.splitlines(), 1) if "undeclared_q" in x)
        bench = await call(c, "bench", {"file": "kernels/saxpy.cpp", "candidate_source": broken, "time_budget": 0.1})
        assert bench["verdict"] == "compile_error" and bench["result"]["diagnostics"] == []
        assert any(d["line"] == err_line and "undeclared_q" in d["message"] for d in bench["diagnostics"]), \
            bench["diagnostics"]
        # filters and paging
        every = await call(c, "list_kernels", {})
        assert every["total"] == 4 and every["next_cursor"] is None
        assert {os.path.basename(k["file"]) for k in (await call(c, "list_kernels", {"glob": "kernels/*.cpp"}))["kernels"]} \
            == {"saxpy.cpp", "nospec.cpp"}
        assert [k["kernel"] for k in (await call(c, "list_kernels", {"has_spec": False}))["kernels"]] == ["saxpy"]
        assert (await call(c, "list_kernels", {"language": "cuda"}))["total"] == 0
        pages, cursor = [], None
        while True:
            page = await call(c, "list_kernels", {"limit": 1, **({"cursor": cursor} if cursor else {})})
            assert len(page["kernels"]) == 1 and page["total"] == 4
            pages.append((page["kernels"][0]["file"], page["kernels"][0]["kernel"]))
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(pages) == 4 and len(set(pages)) == 4
        assert "cursor" in await refused(c, "list_kernels", {"cursor": "zz"})
        # compact text: a summary, shorter than the structured result
        r = await c.call_tool("list_kernels", {})
        assert r.content[0].text.startswith("4 kernels under") and len(r.content[0].text) < len(json.dumps(every)) / 2
        # an unknown tunable is the call's mistake: an error at once, not a verdict after a compile
        message = await refused(c, "bench", {"file": "kernels/saxpy.cpp", "tunables": {"NOPE": 3}})
        assert "'NOPE': not a tunable of 'saxpy'" in message and "WG_SIZE" in message
    assert "Traceback" not in errlog.read_text()


@pytest.mark.asyncio
async def test_job_ids_outlive_their_server_and_a_gone_job_answers_with_its_stored_state(tmp_path):
    """A per-call client starts a server for every call: a job cannot outlive its server. The
    optimize result says so, the job ends `interrupted` with the server, and the next server
    answers its id with that stored state (resumable), never with another job's."""
    import anyio

    root = workspace(tmp_path)
    async with kf_mcp(tmp_path, root, [root], env={"KF_MCP_MAX_WAIT": "3"}) as (c, errlog):
        started = await call(c, "optimize", {"file": "transpose.cpp", "budget": 500, "eval_seconds": 0.05})
        jid = started["job"]["job_id"]
        assert "ends with it" in started["note"] and "wait_seconds" in started["note"]
        with anyio.fail_after(300):
            while True:  # a wait is capped (here at 3 s): the call answers, the job still running
                status = await call(c, "job_status", {"job_id": jid, "wait_seconds": 300})
                (job,) = status["jobs"]
                # capped at 3 s of the 300 asked; the server's wake-up after the cap is late by as much as
                # the load delays its event loop (a guard's margin, scaled like every guard: machine_load)
                assert status["waited_seconds"] <= 3 + 2 * slowdown() and job["state"] in ("queued", "running")
                if job["done"] >= 1:
                    break
    # the client went away; a new server, as a per-call client starts
    async with kf_mcp(tmp_path, root, [root]) as (c, errlog2):
        (gone,) = (await call(c, "job_status", {"job_id": jid}))["jobs"]
        assert gone["job_id"] == jid and gone["state"] == "interrupted" and gone["resumable"], gone
        assert "optimize resumes" in gone["message"] and gone["file"].endswith("transpose.cpp")
        frozen = gone["elapsed_seconds"]
        again = await call(c, "optimize", {"file": "transpose.cpp", "budget": 500, "eval_seconds": 0.05})
        assert again["job"]["job_id"] != jid  # ids are unique across servers
        results = await call(c, "results", {"file": "transpose.cpp"})  # the first server's evaluations are kept
        assert results["status"] in ("interrupted", "running") and results["evaluations"] >= 1, results
        stopped = await call(c, "stop", {"job_id": again["job"]["job_id"]})
        assert stopped["state"] == "cancelled"
        (still,) = (await call(c, "job_status", {"job_id": jid}))["jobs"]
        assert still["state"] == "interrupted" and still["elapsed_seconds"] == frozen
        assert "no job 'optimize-zzzz-000000'" in await refused(c, "job_status", {"job_id": "optimize-zzzz-000000"})
    for log in (errlog, errlog2):
        assert "Traceback" not in log.read_text()
