"""Smaller things users hit in `kf serve` (issue 10), each through a real client over stdio
with the real SYCL backend on the CPU: progress that ends at 100% without repeating itself,
no Optimize lens for a kernel whose spec has errors, one consistent hover after Apply, a
`.kf/` that git ignores, and no `.kf/` beside a file outside any project."""

from __future__ import annotations

import os
import subprocess

import pytest
from lsprotocol import types as lsp

from lsp_client import Doc, code_actions, events, execute, hover_text, kf_session, lens_titles, wait_for
from test_lsp_e2e import REPEAT_SAXPY, SCALE

pytestmark = [pytest.mark.asyncio, pytest.mark.timeout(300)]


async def test_exhausted_search_progress_apply_and_hover(tmp_path):
    root = tmp_path / "ws"
    root.mkdir()
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    path = root / "saxpy.cpp"
    path.write_text(REPEAT_SAXPY)  # two points in the space (REPEAT 64 or 1): exhausted long before 12
    async with kf_session(str(root), {"budget": {"evaluations": 12}, "evalSeconds": 0.1}) as c:
        doc = Doc(c, str(path)).open()
        started = await execute(c, "kf.optimize", {"uri": doc.uri, "kernel": "saxpy"})
        fin = await wait_for(lambda: events(c, "kf/jobFinished", started["jobId"]), 200, 0.2, "the search")
        assert fin[0]["state"] == "done" and fin[0]["best"] is not None, fin
        reports = [r for r in c.progress_reports[started["token"]] if type(r).__name__ == "WorkDoneProgressReport"]
        assert reports[-1].percentage == 100, [(r.message, r.percentage) for r in reports]
        pairs = [(r.message, r.percentage) for r in reports]
        assert all(a != b for a, b in zip(pairs, pairs[1:])), pairs  # never the same report twice in a row
        # Apply: the hover then says what the code is, once
        best = fin[0]["best"]["id"]
        r = await execute(c, "kf.applyVariant", {"uri": doc.uri, "kernel": "saxpy", "variant": best,
                                                  "version": doc.version})
        assert r["applied"], r
        assert "#define REPEAT 1" in doc.text

        async def hover_after_apply():
            h = await hover_text(c, doc.uri, doc.pos("saxpy", "void saxpy"))
            return h if h and "this is the current code" in h else None

        h = await wait_for(hover_after_apply, 20, what="hover after apply")
        assert "not measured yet" not in h, h
        assert "time " in h
        # .kf/ ignores itself
        assert (root / ".kf" / "kf.db").exists()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=root,
                                capture_output=True, text=True, check=True).stdout
        assert ".kf" not in status, status


async def test_a_kernel_whose_spec_has_errors_gets_no_optimize(tmp_path):
    bad = SCALE.replace("NAME", "scale").replace("// @kf inout x: float[n]", "// @kf inout x: flaot[n]")
    (tmp_path / "scale.cpp").write_text(bad)
    async with kf_session(str(tmp_path)) as c:
        doc = Doc(c, str(tmp_path / "scale.cpp")).open()
        diags = await wait_for(lambda: c.diagnostics.get(doc.uri), 10, what="the spec error")
        assert any(d.severity == lsp.DiagnosticSeverity.Error for d in diags), diags
        assert "Optimize" not in await lens_titles(c, doc.uri)
        titles = [a.title for a in await code_actions(c, doc.uri, doc.line_of("void scale"))]
        assert not any(t.startswith(("Optimize", "Benchmark")) for t in titles), titles


async def test_a_file_outside_any_project_keeps_its_database_in_the_user_cache(tmp_path):
    ws = tmp_path / "ws"
    ws.mkdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    path = outside / "scale.cpp"
    # one tune line (the value it has): a search needs something to try (tests/test_nothing_to_try.py)
    path.write_text(SCALE.replace("NAME", "scale").replace("// @kf local 64", "// @kf local WG\n// @kf tune WG = 64")
                    .replace("namespace syclext", "#define WG 64\nnamespace syclext"))
    from evolver.store import workspace_of

    # the premise, said plainly when it does not hold (a `.kf` or `.git` above the temporary
    # folders, e.g. a /tmp/.kf something else left, makes every temporary file part of a project)
    assert workspace_of(str(path)) == os.path.realpath(outside), f"{path} is inside {workspace_of(str(path))}"
    cache = tmp_path / "cache"
    settings = {"evalSeconds": 0.05, "budget": {"evaluations": 2}}
    async with kf_session(str(ws), settings, env={"XDG_CACHE_HOME": str(cache)}) as c:
        doc = Doc(c, str(path)).open()
        job = await execute(c, "kf.optimize", {"uri": doc.uri, "kernel": "scale"})
        fin = await wait_for(lambda: events(c, "kf/jobFinished", job["jobId"]), 120, 0.2, "the search")
        assert fin[0]["state"] == "done", fin
        async def stored():
            return list((cache / "kf" / "outside").glob("*/kf.db"))
        await wait_for(stored, 20, what="a database in the user cache")
    assert not (outside / ".kf").exists()
    assert not (ws / ".kf").exists()
