"""A search with nothing to try is refused up front, the same way by every front (issue 22,
one contract for agents and editors).

A kernel whose spec has no `@kf tune` lines, optimized with no LLM, gives a search nothing
to propose. `kf optimize` said so at once (exit 2); the language server and the MCP server
measured the original and ended, many seconds later, at "0 evaluations (exhausted)". Now
one function (kf_lsp/core/preflight.py) decides for all three, before any compile or job:
the editor gets a warning it shows whole and a `refused` result, no job and no progress;
an agent gets a tool error (isError), no job id. Each message names FILE:LINE:COL (1-based,
the kernel's name) and what to add, in that front's terms (CLI flags, `kf.llm.*` settings,
the flags `kf mcp` was started with). A kernel with tune lines still starts: the searches
of tests/test_lsp_e2e.py, tests/test_mcp.py and tests/test_mcp_fastmcp.py.

Real server processes (pytest-lsp; the official MCP SDK's client; fastmcp's client); no
compile happens, so each test takes about as long as starting a server.
"""

from __future__ import annotations

import os

import pytest
from lsprotocol import types as lsp

from backends.kernel.load import load_unit
from kf_lsp.core.preflight import nothing_to_try
from lsp_client import Doc, events, execute, kf_session, wait_for
from test_lsp_e2e import SCALE
from test_mcp import call, kf_mcp, refused, workspace

pytestmark = [pytest.mark.timeout(120)]

NO_TUNE = SCALE.replace("NAME", "scale")  # a SYCL kernel whose spec has sizes and launch, no `@kf tune`
assert "@kf tune" not in NO_TUNE
NAME_LINE = NO_TUNE.splitlines().index("void scale(float* x, int n) {")  # 0-based
WHERE = f"{NAME_LINE + 1}:6"  # 1-based line and column of `scale`

STUB = """\
// @kf reference scale.py:scale
// @kf inout x: float[n]
// @kf n = 1 << 10
// @kf global n
// @kf local 64
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void scale(float* x, int n) {
}
"""


def _file(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return os.path.realpath(path)


def test_one_check_in_each_fronts_words(tmp_path):
    """The shared check itself: file:line:col of the kernel's name, what to add, and how that
    front gives a search an LLM; None once there is something to try."""
    unit = load_unit(_file(tmp_path, "scale.cpp", NO_TUNE))
    said = {front: nothing_to_try(unit, False, front) for front in ("cli", "editor", "mcp")}
    for front, r in said.items():
        assert r is not None and r.message.startswith(f"{unit.path}:{WHERE}: nothing to try for scale: its spec has "
                                                      "no `@kf tune` lines and "), r
        assert "// @kf tune NAME = V1, V2, ..." in r.message and "\n" not in r.message
        # a message line shows it whole: Neovim 0.7 writes "LSP[kf][Warning] " before it and, in 80
        # columns, cuts out the middle of what passes 69 (seen in a terminal, tmux)
        assert len("LSP[kf][Warning] kf: " + r.short) <= 69 and "@kf tune" in r.short, r.short
    assert "no LLM was given" in said["cli"].message and "--llm-base-url URL --model NAME" in said["cli"].message
    assert "`kf bench " in said["cli"].message
    assert "kf.llm.baseUrl and kf.llm.model" in said["editor"].message and "kf.llm.apiKeyEnv" in said["editor"].message
    assert "kf.llm.baseUrl" in said["editor"].short
    assert "start kf mcp with --llm-base-url URL --model NAME" in said["mcp"].message
    assert "--settings FILE" in said["mcp"].message and "bench measures it" in said["mcp"].message
    declined = nothing_to_try(unit, False, "mcp", declined=True)
    assert "none of the configured LLM endpoints" in declined.message and "llm: true" in declined.message
    assert nothing_to_try(unit, True, "mcp") is None  # an LLM proposes rewrites
    tuned = load_unit(_file(tmp_path, "tuned.cpp", NO_TUNE.replace("// @kf local 64", "// @kf local WG\n"
                                                                   "// @kf tune WG = 32, 64")
                            .replace("#include <sycl/sycl.hpp>", "#include <sycl/sycl.hpp>\n#define WG 64")))
    assert tuned.kernel.spec.tunables and nothing_to_try(tuned, False, "editor") is None
    # a stub (no code yet) can only be written by an LLM: tune lines or not
    (tmp_path / "scale.py").write_text("def scale(x, n):\n    return x * 2\n")
    stub = load_unit(_file(tmp_path, "stub.cpp", "#include <sycl/sycl.hpp>\nnamespace syclexp = "
                           "sycl::ext::oneapi::experimental;\n" + STUB))
    r = nothing_to_try(stub, False, "editor")
    assert r is not None and r.message.startswith(f"{stub.path}:9:6: kernel scale is a stub (no code yet)"), r
    assert "needs an LLM" in r.message and "kf.llm.baseUrl" in r.message and "stub" in r.short
    assert len("LSP[kf][Warning] kf: " + r.short) <= 69, r.short
    assert "--llm-base-url URL --model NAME" in nothing_to_try(stub, False, "cli").message
    assert nothing_to_try(stub, True, "cli") is None


@pytest.mark.asyncio
async def test_the_editor_is_told_at_once_and_no_job_or_progress_begins(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    path = _file(root, "scale.cpp", NO_TUNE)
    async with kf_session(str(root), {"budget": {"evaluations": 4}, "evalSeconds": 0.05}) as c:
        doc = Doc(c, path).open()
        result = await execute(c, "kf.optimize", {"uri": doc.uri, "kernel": "scale"})
        assert result["jobId"] is None and result["state"] == "refused", result
        assert result["error"].startswith(f"{path}:{WHERE}: nothing to try for scale: "), result
        assert "`// @kf tune NAME = V1, V2, ...`" in result["error"] and "kf.llm.baseUrl" in result["error"]
        said = await wait_for(lambda: [m for m in c.messages if "nothing to try" in m.message], 10,
                              what="the warning")
        assert len(said) == 1 and said[0].type == lsp.MessageType.Warning
        assert said[0].message == "kf: nothing to try: add @kf tune or kf.llm.baseUrl"
        assert any(result["error"] in m.message for m in c.log_messages)  # the whole advice, in the log
        # no job, no progress: nothing was started
        assert (await execute(c, "kf.listJobs", {}))["jobs"] == []
        assert not c.progress_reports and not events(c, "kf/jobStarted")

        # an LLM configured, but the call asks for none: the advice is to use it, not to configure one
        c.set_configuration({"llm": {"baseUrl": "http://127.0.0.1:9/v1", "model": "m"}}, section="kf")
        c.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(settings=None))

        async def declined():
            r = await execute(c, "kf.optimize", {"uri": doc.uri, "kernel": "scale", "llm": False})
            return r if "none of the configured LLM endpoints" in (r["error"] or "") else None

        result = await wait_for(declined, 10, what="the settings with an LLM")
        assert result["jobId"] is None and "llm: true" in result["error"], result
        assert (await execute(c, "kf.listJobs", {}))["jobs"] == [] and not c.progress_reports


@pytest.mark.asyncio
async def test_an_agent_gets_an_error_and_no_job(tmp_path):
    """The official MCP SDK's client: `optimize` answers isError with the message, no job id."""
    root = workspace(tmp_path)
    path = _file(tmp_path / "project", "scale.cpp", NO_TUNE)
    async with kf_mcp(tmp_path, root, [root]) as (c, errlog):
        message = await refused(c, "optimize", {"file": "scale.cpp", "budget": 4, "eval_seconds": 0.05})
        assert message.startswith(f"kf: {path}:{WHERE}: nothing to try for scale: its spec has no `@kf tune` "
                                  "lines and kf mcp was started without an LLM endpoint: add `// @kf tune "), message
        assert "start kf mcp with --llm-base-url URL --model NAME" in message
        assert (await call(c, "job_status", {}))["jobs"] == []
    assert not (tmp_path / "project" / ".kf" / "jobs").exists()  # no job record either
    assert "Traceback" not in errlog.read_text()


@pytest.mark.asyncio
async def test_a_client_we_did_not_write_gets_the_same_error(tmp_path):
    """fastmcp's client (a per-call client): the same refusal, as a ToolError."""
    fastmcp = pytest.importorskip("fastmcp", reason="pip install fastmcp (the test extra)")
    from fastmcp.exceptions import ToolError
    from test_mcp_fastmcp import transport

    root = workspace(tmp_path)
    path = _file(tmp_path / "project", "scale.cpp", NO_TUNE)
    with open(tmp_path / "kf-mcp.log", "w") as log:
        async with fastmcp.Client(transport(root, log), timeout=60) as c:
            with pytest.raises(ToolError) as e:
                await c.call_tool("optimize", {"file": "scale.cpp", "budget": 4})
            assert str(e.value).startswith(f"kf: {path}:{WHERE}: nothing to try for scale: "), str(e.value)
            assert "--llm-base-url URL --model NAME" in str(e.value)
            assert (await c.call_tool("job_status", {})).structured_content["jobs"] == []
