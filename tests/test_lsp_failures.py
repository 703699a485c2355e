"""Failures said aloud by `kf serve` (issue 10): an LLM endpoint that is unreachable or
refuses the key, a kernel edited while its search runs, and a search whose server was killed
with -9. Real server over stdio, real SYCL-on-CPU evaluations; the LLM is either nothing
(a closed port: the real connection error) or tests/llm_double.py, a scripted TEST DOUBLE
standing in for an endpoint that answers 401."""

from __future__ import annotations

import os
import signal

import pytest

from llm_double import LLMDouble, status
from lsp_client import Doc, events, execute, hover_text, kf_session, wait_for
from test_lsp_e2e import SAXPY

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(300)]


def _reports(c, token: str) -> list[str]:
    return [r.message or "" for r in c.progress_reports.get(token, []) if type(r).__name__ == "WorkDoneProgressReport"]


async def _failed_search(tmp_path, llm: dict, env: dict | None = None) -> tuple[object, dict, dict]:
    (tmp_path / "saxpy.cpp").write_text(SAXPY)  # four tuning points: the search outlives the LLM's retries
    settings = {"budget": {"evaluations": 8}, "evalSeconds": 0.1, "llm": llm}
    async with kf_session(str(tmp_path), settings, env=env) as c:
        doc = Doc(c, str(tmp_path / "saxpy.cpp")).open()
        started = await execute(c, "kf.optimize", {"uri": doc.uri, "kernel": "saxpy"})
        fin = await wait_for(lambda: events(c, "kf/jobFinished", started["jobId"]), 240, 0.2, "the search")
        return c, started, fin[0]


async def test_an_unreachable_llm_endpoint_is_said_once_in_progress_and_at_the_end(tmp_path):
    c, started, fin = await _failed_search(tmp_path, {"baseUrl": "http://127.0.0.1:9/v1", "model": "m"},
                                           env={"OPENAI_API_KEY": "sk-test-not-a-key"})
    said = [m for m in c.messages if "unreachable" in m.message]
    assert len(said) == 1, [m.message for m in c.messages]
    assert "tuning only" in said[0].message and "127.0.0.1:9" in said[0].message
    assert any("tuning only: the LLM endpoint is unreachable" in r for r in _reports(c, started["token"]))
    assert fin["llmFailure"]["kind"] == "unreachable", fin
    assert "tuning only: the LLM endpoint is unreachable" in fin["message"]
    assert "sk-test-not-a-key" not in repr(fin) + repr([m.message for m in c.messages])


async def test_a_refused_key_is_said_as_such(tmp_path):
    with LLMDouble([status(401, "invalid api key")] * 200) as llm:
        c, started, fin = await _failed_search(tmp_path, {"baseUrl": llm.url, "model": "double"},
                                               env={"OPENAI_API_KEY": "sk-test-not-a-key"})
    assert "llmFailure" in fin and fin["llmFailure"]["kind"] == "auth", (fin, llm.requests[:1], len(llm.requests))
    assert "refused the API key" in fin["message"]
    said = [m for m in c.messages if "refused the API key" in m.message]
    assert len(said) == 1 and "OPENAI_API_KEY" in said[0].message


async def test_a_kernel_edited_mid_search_is_stale_and_offers_no_best(tmp_path):
    (tmp_path / "saxpy.cpp").write_text(SAXPY)
    settings = {"budget": {"evaluations": 6}, "evalSeconds": 0.1}
    async with kf_session(str(tmp_path), settings) as c:
        doc = Doc(c, str(tmp_path / "saxpy.cpp")).open()
        started = await execute(c, "kf.optimize", {"uri": doc.uri, "kernel": "saxpy"})
        await wait_for(lambda: events(c, "kf/jobProgress", started["jobId"]), 120, 0.1, "progress")
        doc.replace(doc.text.replace("a * x[i] + y[i]", "y[i] + a * x[i]"))
        stale = await wait_for(lambda: [p for p in events(c, "kf/jobProgress", started["jobId"]) if p.get("stale")],
                               30, 0.1, "a stale progress")
        assert stale
        assert any("the kernel was edited" in r for r in _reports(c, started["token"]))
        fin = await wait_for(lambda: events(c, "kf/jobFinished", started["jobId"]), 200, 0.2, "the search")
        assert fin[0]["best"] is None and fin[0]["bestSpeedup"] is None, fin
        assert "edited during the search" in fin[0]["message"]


async def test_after_kill_9_the_old_search_is_not_running(tmp_path):
    (tmp_path / "saxpy.cpp").write_text(SAXPY)
    settings = {"budget": {"evaluations": 200}, "evalSeconds": 0.2}
    async with kf_session(str(tmp_path), settings) as c:
        doc = Doc(c, str(tmp_path / "saxpy.cpp")).open()
        started = await execute(c, "kf.optimize", {"uri": doc.uri, "kernel": "saxpy"})
        await wait_for(lambda: [p for p in events(c, "kf/jobProgress", started["jobId"]) if p["done"] >= 1],
                       120, 0.1, "an evaluation")
        os.kill(c._server.pid, signal.SIGKILL)
        await c._server.wait()
    async with kf_session(str(tmp_path), settings) as c:
        doc = Doc(c, str(tmp_path / "saxpy.cpp")).open()

        async def hover():
            h = await hover_text(c, doc.uri, doc.pos("saxpy", "void saxpy"))
            return h if h and "evaluations" in h else None

        h = await wait_for(hover, 20, what="the stored search in the hover")
        assert "running" not in h, h
        # the server's own lock says "interrupted"; the store's lease, when it expired first, "died"
        assert "interrupted" in h or "(died)" in h, h
