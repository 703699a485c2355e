"""`kf serve` end to end: a pytest-lsp client drives the server as a subprocess over stdio,
with the real SYCL-on-CPU backend and offline tuning (tiny budgets).

The kernel is the saxpy example with one extra tunable, REPEAT (64 or 1): the loop
writes the same value REPEAT times, so REPEAT=1 is a verified, significantly faster
variant (about 7x on a CPU) that the tuning finds in its first evaluation.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time

import pytest
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException

from lsp_client import (REPO, Doc, code_actions, events, execute, hover_text, inlay_hints, kf_session,
                        lens_titles, wait_for)

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(240)]

SAXPY = open(os.path.join(REPO, "examples", "sycl", "saxpy.cpp")).read()
REPEAT_SAXPY = (SAXPY
                .replace("// @kf tune WG_SIZE = 16, 64, 256, 1024\n", "// @kf tune WG_SIZE = 64\n// @kf tune REPEAT = 64, 1\n")
                .replace("#ifndef WG_SIZE", "#define REPEAT 64\n#ifndef WG_SIZE")
                .replace("  if (i < n) out[i] = a * x[i] + y[i];",
                         "  if (i < n) for (int r = 0; r < REPEAT; r++) out[i] = a * x[i] + y[i] + 0.0f * r;"))
assert "REPEAT = 64, 1" in REPEAT_SAXPY and "r < REPEAT" in REPEAT_SAXPY

SMALL = {"budget": {"evaluations": 4}, "evalSeconds": 0.1}

SCALE = """#include <sycl/sycl.hpp>
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;
// @kf inout x: float[n]
// @kf n = 1 << 10
// @kf global n
// @kf local 64
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void NAME(float* x, int n) {
  size_t i = syclext::this_work_item::get_nd_item<1>().get_global_id(0);
  if (i < n) x[i] *= 2.0f;
}
"""


def workspace(tmp_path, text: str = REPEAT_SAXPY) -> tuple[str, str]:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "saxpy.cpp").write_text(text)
    (root / "build").mkdir()
    (root / "build" / "generated.cpp").write_text(SCALE.replace("NAME", "ignored"))
    return str(root), str(root / "saxpy.cpp")


async def rpc_error(coro) -> JsonRpcException:
    with pytest.raises(JsonRpcException) as e:
        await coro
    return e.value


async def test_optimize_progress_apply_restart_and_outside_changes(tmp_path):
    root, path = workspace(tmp_path)
    # -- first session: optimize --------------------------------------------------------------
    async with kf_session(root, SMALL) as c:
        doc = Doc(c, path).open()
        await wait_for(lambda: doc.uri in c.diagnostics, 10, what="diagnostics")
        assert await lens_titles(c, doc.uri) == ["Optimize"]
        name = doc.pos("saxpy", "void saxpy")
        assert "not measured yet" in await hover_text(c, doc.uri, name)
        titles = [a.title for a in await code_actions(c, doc.uri, doc.line_of("void saxpy"))]
        assert titles == ["Optimize kernel saxpy", "Benchmark kernel saxpy"]

        t0 = time.monotonic()
        started = await execute(c, "kf.optimize", {"uri": doc.uri, "kernel": "saxpy"})
        assert time.monotonic() - t0 < 5.0  # returns at once; the search runs in the background
        job = started["jobId"]
        assert (await execute(c, "kf.optimize", {"uri": doc.uri, "kernel": "saxpy"}))["jobId"] == job
        # while it runs the handlers answer from cached state
        assert any(t.startswith("Optimizing") for t in await lens_titles(c, doc.uri))
        assert "Stop optimizing saxpy" in [a.title for a in await code_actions(c, doc.uri, doc.line_of("void saxpy"))]

        finished = await wait_for(lambda: events(c, "kf/jobFinished", job), 150, 0.2, "kf/jobFinished")
        assert finished[0]["state"] == "done" and finished[0]["best"] is not None, finished
        assert finished[0]["best"]["speedup"] > 1.0
        assert finished[0]["best"]["tunables"]["REPEAT"] == 1
        assert events(c, "kf/jobStarted", job) and events(c, "kf/jobProgress", job)
        reports = c.progress_reports[started["token"]]
        kinds = [type(r).__name__ for r in reports]
        assert kinds[0] == "WorkDoneProgressBegin" and kinds[-1] == "WorkDoneProgressEnd"
        assert "WorkDoneProgressReport" in kinds
        assert any(getattr(r, "percentage", None) is not None and "evaluations" in (r.message or "")
                   for r in reports if type(r).__name__ == "WorkDoneProgressReport")

        titles = await wait_for(lambda: _lens_with(c, doc.uri, "faster variant"), 5, what="speedup lens")
        assert any(t.endswith("- Apply") for t in titles) and "Optimize" in titles
        assert any("faster" in str(h.label) for h in await inlay_hints(c, doc.uri))
        hover = await hover_text(c, doc.uri, name)
        assert "Best variant" in hover and "REPEAT=1" in hover and "time " in hover
        infos = [d for d in c.diagnostics[doc.uri] if d.severity == lsp.DiagnosticSeverity.Information]
        assert infos and "faster variant" in infos[0].message

        actions = await code_actions(c, doc.uri, doc.line_of("@kf in  x"))
        apply = [a for a in actions if a.title.startswith("Apply variant:")]
        assert apply and "REPEAT=1" in apply[0].title
        assert any(a.title.startswith("Show variant diff") for a in actions)
        diff = await execute(c, "kf.variantDiff", {"uri": doc.uri, "kernel": "saxpy"})
        assert "+#define REPEAT 1" in diff["diff"] and "-#define REPEAT 64" in diff["diff"]
        text = await c.protocol.send_request_async("kf/variantText", {"uri": doc.uri, "kernel": "saxpy",
                                                                      "variant": diff["variant"]})
        assert "#define REPEAT 1\n" in text.text

    # -- second session: the results are back at once ----------------------------------------
    async with kf_session(root, SMALL) as c:
        doc = Doc(c, path).open()
        titles = await wait_for(lambda: _lens_with(c, doc.uri, "faster variant"), 10, what="stored results")
        assert "Optimize" in titles
        actions = await code_actions(c, doc.uri, doc.line_of("void saxpy"))
        apply = next(a for a in actions if a.title.startswith("Apply variant:"))
        args = apply.command.arguments[0]
        # a stale document version is refused
        err = await rpc_error(execute(c, "kf.applyVariant", {**args, "version": doc.version + 7}))
        assert err.code == -32801
        result = await execute(c, apply.command.command, *apply.command.arguments)
        assert result["applied"] is True
        assert "#define REPEAT 1\n" in doc.text and len(c.applied_edits) == 1
        # the code is now the variant: nothing left to apply
        await wait_for(lambda: _lens_without(c, doc.uri, "Apply"), 5, what="lens after apply")
        assert "this is the current code" in await hover_text(c, doc.uri, doc.pos("saxpy", "void saxpy"))
        # the kernel changes: its old variants are refused with a message
        doc.replace(doc.text.replace("0.0f * r", "0.0f * (float)r"))
        await asyncio.sleep(0.3)
        refused = await execute(c, "kf.applyVariant", {"uri": doc.uri, "kernel": "saxpy",
                                                         "variant": args["variant"]})
        assert refused["applied"] is False and "changed since" in refused["reason"]
        assert any("changed since" in m.message for m in c.messages)

        # -- changes made outside the editor ---------------------------------------------------
        gen = os.path.join(root, "gen.cpp")
        gen_uri = "file://" + os.path.realpath(gen)
        with open(gen, "w") as f:
            f.write(SCALE.replace("NAME", "scale"))
        await wait_for(lambda: _lens_with(c, gen_uri, "Optimize"), 15, what="a new file indexed")
        line = SCALE.split("\n").index("void NAME(float* x, int n) {")
        with open(gen, "w") as f:
            f.write(SCALE.replace("NAME", "scale2"))
        await wait_for(lambda: _hover_has(c, gen_uri, lsp.Position(line, 7), "scale2"), 15, what="the index follows")
        os.remove(gen)
        await wait_for(lambda: _no_lens(c, gen_uri), 15, what="a deleted file leaves the index")
        assert await lens_titles(c, "file://" + os.path.realpath(os.path.join(root, "build", "generated.cpp"))) == []


async def test_on_save_benchmark_queue_and_stopping(tmp_path):
    root, path = workspace(tmp_path, SAXPY)
    settings = {"budget": {"evaluations": 40}, "evalSeconds": 0.3, "maxJobs": 1,
                "onSave": {"benchmark": True}}
    async with kf_session(root, settings) as c:
        doc = Doc(c, path).open()
        await wait_for(lambda: doc.uri in c.diagnostics, 10, what="diagnostics")
        # saving a changed kernel re-benchmarks it
        doc.replace(doc.text.replace("a * x[i] + y[i]", "y[i] + a * x[i]"))
        doc.save()
        bench = await wait_for(lambda: events(c, "kf/jobStarted"), 10, what="benchmark on save")
        assert bench[0]["kind"] == "benchmark"
        # one job at a time (maxJobs 1): the search waits in the queue
        queued = await execute(c, "kf.optimize", {"uri": doc.uri, "kernel": "saxpy"})
        assert queued["state"] == "queued"
        assert any(t.startswith("Queued") for t in await lens_titles(c, doc.uri))
        done = await wait_for(lambda: events(c, "kf/jobFinished", bench[0]["jobId"]), 90, 0.2, "benchmark")
        assert done[0]["state"] == "done"
        hover = await hover_text(c, doc.uri, doc.pos("saxpy", "void saxpy"))
        assert "time " in hover and "bandwidth" in hover and "device: sycl" in hover
        # the queued search starts; cancelled from the progress UI
        job, token = queued["jobId"], queued["token"]
        await wait_for(lambda: c.progress_reports.get(token), 30, what="search progress")
        c.window_work_done_progress_cancel(lsp.WorkDoneProgressCancelParams(token=token))
        fin = await wait_for(lambda: events(c, "kf/jobFinished", job), 30, 0.1, "cancelled search")
        assert fin[0]["state"] == "cancelled"
        end = c.progress_reports[token][-1]
        assert type(end).__name__ == "WorkDoneProgressEnd"
        assert end.message.startswith("stopped after ") and "evaluations" in end.message, end.message
        # another search, stopped by the command
        again = await execute(c, "kf.optimize", {"uri": doc.uri, "kernel": "saxpy"})
        assert again["jobId"] != job
        await wait_for(lambda: events(c, "kf/jobStarted", again["jobId"]), 10, what="second search")
        stopped = await execute(c, "kf.stop", {"uri": doc.uri, "kernel": "saxpy"})
        assert stopped["stopped"] == [again["jobId"]]
        fin = await wait_for(lambda: events(c, "kf/jobFinished", again["jobId"]), 30, 0.1, "stopped search")
        assert fin[0]["state"] == "cancelled"
        end = await wait_for(lambda: c.progress_reports.get(again["token"]), 30, what="its progress")
        await wait_for(lambda: type(c.progress_reports[again["token"]][-1]).__name__ == "WorkDoneProgressEnd", 30,
                       what="its progress end")
        message = c.progress_reports[again["token"]][-1].message
        assert "stopped: stopped" not in message and message.startswith("stopped after "), message
        await wait_for(lambda: _lens_with(c, doc.uri, "Optimize"), 5, what="lens after stop")
        jobs = (await execute(c, "kf.listJobs"))["jobs"]
        assert {j["state"] for j in jobs} == {"done", "cancelled"}


async def test_bad_input_gets_errors_never_a_crash(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    nospec = SCALE.replace("NAME", "nospec")
    nospec = "\n".join(line for line in nospec.split("\n") if "@kf" not in line)
    (root / "k.cpp").write_text(nospec)
    bad = {"maxJobs": "many", "budget": 3, "bogus": 1, "llm": {"apiKey": "sk-should-not-be-read"}}
    async with kf_session(str(root), bad) as c:
        await wait_for(lambda: len(c.messages) >= 4, 10, what="settings warnings")
        text = " ".join(m.message for m in c.messages)
        assert "kf.maxJobs" in text and "kf.budget" in text and "kf.bogus" in text
        assert "sk-should-not-be-read" not in text

        # a half-typed, malformed document
        broken = Doc(c, str(root / "broken.cpp"), "#include <sycl/sycl.hpp>\n// @kf in x: float[n\n"
                     "extern \"C\" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))\n"
                     "void broken(const float* x, int n {\n  if (\n").open()
        await lens_titles(c, broken.uri)
        await hover_text(c, broken.uri, lsp.Position(4, 6))
        await code_actions(c, broken.uri, 3)
        broken.replace("\x00garbage {{{ ]]] \"unterminated\n/* never closed")
        assert await lens_titles(c, broken.uri) == []

        # a kernel without a spec: the lens and the quick fix add one
        doc = Doc(c, str(root / "k.cpp")).open()
        assert await lens_titles(c, doc.uri) == ["Add benchmark spec"]
        line = doc.line_of("void nospec")
        fix = [a for a in await code_actions(c, doc.uri, line) if a.title.startswith("Add benchmark spec")]
        assert fix and fix[0].edit is not None
        err = await rpc_error(execute(c, "kf.addSpec", {"uri": doc.uri, "kernel": "nospec", "version": 99}))
        assert err.code == -32801
        assert (await execute(c, "kf.addSpec", {"uri": doc.uri, "kernel": "nospec",
                                                 "version": doc.version}))["applied"] is True
        assert "// @kf" in doc.text
        await wait_for(lambda: _lens_with(c, doc.uri, "Optimize"), 5, what="spec added")

        # bad command arguments and unknown kernels: errors, not crashes
        uri = doc.uri
        for command, args in [
            ("kf.optimize", []),
            ("kf.optimize", [{}]),
            ("kf.optimize", [{"uri": 3, "kernel": "nospec"}]),
            ("kf.optimize", [{"uri": uri, "kernel": "nospec"}, {"extra": 1}]),
            ("kf.optimize", [{"uri": uri, "kernel": "nospec", "budget": -1}]),
            ("kf.optimize", [{"uri": uri, "kernel": "nosuchkernel"}]),
            ("kf.optimize", [{"uri": "file:///nonexistent/x.cu", "kernel": "k"}]),
            ("kf.optimize", ["just a string"]),
            ("kf.benchmark", [{"uri": uri}]),
            ("kf.stop", [{}]),
            ("kf.stop", [{"job": "optimize-999"}]),
            ("kf.applyVariant", [{"uri": uri, "kernel": "nospec"}]),
            ("kf.applyVariant", [{"uri": uri, "kernel": "nospec", "variant": "0123"}]),
            ("kf.variantDiff", [{"uri": uri, "kernel": "nospec"}]),
            ("kf.addSpec", [{"uri": uri}]),
            ("kf.setApiKey", [{"key": "sk-wrong-field-123456"}]),
            ("kf.nonsense", [{}]),
        ]:
            err = await rpc_error(execute(c, command, *args))
            assert err.message, (command, args)
        err = await rpc_error(c.protocol.send_request_async("kf/variantText", {"uri": uri}))
        assert "kernel" in err.message
        unknown = await rpc_error(execute(c, "kf.optimize", {"uri": uri, "kernel": "nosuchkernel"}))
        assert "nospec" in unknown.message  # it lists the kernels there are
        # a command chooses an LLM endpoint by name among the configured ones, never names a URL or a variable
        for llm in ({"baseUrl": "http://127.0.0.1:9/v1"}, {"apiKeyEnv": "AWS_SECRET_ACCESS_KEY"}):
            err = await rpc_error(execute(c, "kf.optimize", {"uri": uri, "kernel": "nospec", "llm": llm}))
            assert err.code == -32602 and ("baseUrl" in err.message or "apiKeyEnv" in err.message), err.message
        err = await rpc_error(execute(c, "kf.optimize", {"uri": uri, "kernel": "nospec", "llm": {"endpoint": "x"}}))
        assert "no LLM endpoint is configured" in err.message, err.message
        assert not (await execute(c, "kf.listJobs"))["jobs"]

        # the API key: accepted at run time, never echoed
        assert (await execute(c, "kf.setApiKey", {"apiKey": "sk-secret-abcdef123456"}))["ok"] is True
        everything = " ".join(m.message for m in c.messages + c.log_messages)
        assert "sk-secret" not in everything and "sk-wrong-field" not in everything

        # bad settings pushed later: a warning, the defaults, and the server goes on
        c.set_configuration({"maxJobs": -3, "onSave": "yes"}, section="kf")
        c.workspace_did_change_configuration(lsp.DidChangeConfigurationParams(settings=None))
        await wait_for(lambda: any("kf.onSave" in m.message for m in c.messages), 10, what="config warning")

        # still serving
        assert await hover_text(c, uri, lsp.Position(0, 0)) is None
        assert await lens_titles(c, "file:///nowhere/none.cu") == []
        assert "nospec" in await hover_text(c, uri, doc.pos("nospec", "void nospec"))
        assert (await execute(c, "kf.listJobs"))["jobs"] == []


async def _lens_with(c, uri: str, needle: str) -> list[str] | None:
    titles = await lens_titles(c, uri)
    return titles if any(needle in t for t in titles) else None


async def _lens_without(c, uri: str, needle: str) -> list[str] | None:
    titles = await lens_titles(c, uri)
    return titles if titles and not any(needle in t for t in titles) else None


async def _no_lens(c, uri: str) -> bool:
    return await lens_titles(c, uri) == []


async def _hover_has(c, uri: str, pos: lsp.Position, needle: str) -> bool:
    h = await hover_text(c, uri, pos)
    return h is not None and needle in h
