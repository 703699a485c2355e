"""`kf mcp` driven by a client the team did not write: fastmcp's Python client (PyPI), in the
way a per-call client uses a server: every call opens a new `kf mcp` process (stdio,
keep_alive=False) and closes it after the one call (issue 22).

What such a client must get: the same contract as a persistent one (schemas, 1-based
positions, errors as errors, compact text), a refusal for a call that names an endpoint,
and an honest answer about jobs: a job cannot outlive the server that started it, so the
optimize result says so, and the next server answers the job's id with its stored state
(`interrupted`, resumable) instead of `queued` forever or another job's state.
"""

from __future__ import annotations

import os
import sys

import pytest

from test_mcp import (OTHER_SECRETS, REPO, REPEAT_SAXPY, _children, _server_processes, assert_no_secret_in_environment,
                      workspace)

fastmcp = pytest.importorskip("fastmcp", reason="pip install fastmcp (the test extra)")
from fastmcp import Client  # noqa: E402
from fastmcp.client.transports import StdioTransport  # noqa: E402
from fastmcp.exceptions import ToolError  # noqa: E402

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(600)]


def transport(root: str, log, env: dict | None = None) -> StdioTransport:
    # --root (the folder it is started in anyway): how the test tells its own server from any other
    return StdioTransport(command=sys.executable, args=["-m", "kf_lsp", "mcp", "--root", root], cwd=root, keep_alive=False,
                          env={**os.environ, "PYTHONPATH": REPO, **(env or {})}, log_file=log)


async def once(root: str, log, name: str, args: dict):
    """One call on a server of its own, as a per-call client makes it."""
    async with Client(transport(root, log), timeout=120) as c:
        return await c.call_tool(name, args)


async def test_a_per_call_client_gets_the_contract_and_an_honest_answer_about_jobs(tmp_path):
    root = workspace(tmp_path)
    log = tmp_path / "kf-mcp.log"
    with open(log, "w") as err:
        marker = os.urandom(8).hex()
        secrets = {**OTHER_SECRETS, "KF_TEST_MARKER": marker}
        async with Client(transport(root, err, secrets), timeout=120) as c:  # one server for the plain calls
            tools = {t.name: t for t in await c.list_tools()}
            # the server started with credentials shows none of them in /proc/PID/environ
            servers = _server_processes(root)
            assert len(servers) == 1, f"this test's kf mcp (--root {root}): {servers}; children: {_children()}"
            ((pid, _cmd),) = servers.items()
            await assert_no_secret_in_environment(pid, marker, OTHER_SECRETS)
            assert {"list_kernels", "optimize", "job_status", "results"} <= set(tools)
            wait = tools["job_status"].input_schema["properties"]["wait_seconds"]
            assert "at most 50 s" in wait["description"] and "anyOf" not in wait

            listed = await c.call_tool("list_kernels", {"glob": "**/*.cpp", "limit": 2})
            data = listed.structured_content
            assert data["total"] == 3 and len(data["kernels"]) == 2 and data["next_cursor"]
            rest = (await c.call_tool("list_kernels", {"glob": "**/*.cpp", "cursor": data["next_cursor"]}))
            saxpy = next(k for k in data["kernels"] + rest.structured_content["kernels"]
                         if k["file"].endswith("kernels/saxpy.cpp"))
            assert saxpy["line"] == REPEAT_SAXPY.splitlines().index(
                next(x for x in REPEAT_SAXPY.splitlines() if x.startswith("void saxpy"))) + 1
            text = listed.content[0].text
            assert text.startswith("3 kernels under") and not text.lstrip().startswith("{")
            one = (await c.call_tool("list_kernels", {"path": "transpose.cpp"})).content[0].text
            assert one.startswith("1 kernel under") and "(1 file read)" in one, one

            # errors are errors, at once
            with pytest.raises(ToolError, match="configured by whoever starts kf mcp"):
                await c.call_tool("optimize", {"file": "kernels/saxpy.cpp",
                                               "llm": {"base_url": "http://127.0.0.1:9/v1", "model": "m"}})
            with pytest.raises(ToolError, match="not a tunable"):
                await c.call_tool("bench", {"file": "kernels/saxpy.cpp", "tunables": {"NOPE": 1}})

        # a job cannot outlive the server of its call: said, and answered honestly afterwards
        started = (await once(root, err, "optimize", {"file": "transpose.cpp", "budget": 300,
                                                       "eval_seconds": 0.05})).structured_content
        assert "ends with it" in started["note"]
        job_id = started["job"]["job_id"]
        (job,) = (await once(root, err, "job_status", {"job_id": job_id})).structured_content["jobs"]
        assert job["job_id"] == job_id and job["state"] == "interrupted", job
        assert "server stopped" in job["message"] or "cannot outlive" in job["message"], job
        # what it says is kept is what is kept: resumable exactly when evaluations are stored
        assert job["resumable"] == (job["done"] > 0) == ("they are stored" in job["message"]), job
        if not job["resumable"]:
            assert "nothing is stored" in job["message"] and "wait_seconds" in job["message"], job
        with pytest.raises(ToolError, match="no job"):
            await once(root, err, "job_status", {"job_id": "optimize-abc-123456"})
    assert "Traceback" not in log.read_text()
