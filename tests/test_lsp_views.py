"""The editor's views as pure functions of synthetic state (no server, no device)."""

from __future__ import annotations

import os
import time

import msgspec
from lsprotocol import types as lsp

from backends.model import (DeviceInfo, Diagnostic, EvalResult, KernelMeasurement, Profile, Timing, Verdict)
from evolver.records import SearchKey, Variant
from evolver.store import variant_id
from kf_lsp.lsp import commands as cmd
from kf_lsp.core import apply
from kf_lsp.lsp import views
from kf_lsp.core.index import parse_entry
from kf_lsp.core.settings import Settings, merge_raw, parse_settings, search_config
from kf_lsp.core.state import Benchmark, JobView, SearchSummary, Snapshot, State, kernel_key, summarize

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PATH = "/ws/saxpy.cpp"
URI = "file:///ws/saxpy.cpp"
TEXT = open(os.path.join(REPO, "examples", "sycl", "saxpy.cpp")).read()
ENTRY = parse_entry(PATH, TEXT, 3, True)
K = ENTRY.kernels[0]
KEY = kernel_key(PATH, "saxpy")
DEVICE = DeviceInfo("sycl", 0, "AMD EPYC", "cpu", "opencl:cpu")


def timing(median: float) -> Timing:
    return Timing(median, median * 0.9, median * 1.2, median, median * 0.1, 30, [median] * 3, "sycl-events")


def measured(median: float) -> KernelMeasurement:
    return KernelMeasurement(timing(median), Profile(registers=32, spill_stores=0, spill_loads=0, static_shared=0,
                                                      occupancy=0.5, bandwidth=2e10, bandwidth_fraction=0.45,
                                                      ncu={"dram__throughput": 71.5}))


def variant(wg: int, speedup: float, significant: bool = True, search: str = "s1") -> Variant:
    region = TEXT[TEXT.index("// @kf in  x"):]
    result = EvalResult(Verdict.CORRECT, reference=measured(1.5e-3), candidate=measured(1.5e-3 / speedup),
                        speedup=speedup, speedup_low=speedup * 0.95, speedup_high=speedup * 1.05,
                        significant=significant, device=DEVICE)
    return Variant(id=variant_id(region, {"WG_SIZE": wg}), search=search, parent=None, operator="tune",
                   region=region, tunables={"WG_SIZE": wg}, verdict=Verdict.CORRECT, message="", speedup=speedup,
                   speedup_low=speedup * 0.95, speedup_high=speedup * 1.05, significant=significant,
                   time_median=1.5e-3 / speedup, cell=[0, 0, 0], result=result, created=time.time())


def reference() -> Variant:
    r = EvalResult(Verdict.CORRECT, reference=measured(1.5e-3), device=DEVICE)
    return msgspec.structs.replace(variant(64, 1.0, False), operator="reference", result=r)


def summary(content_hash: str = K.code_hash, **kw) -> SearchSummary:
    key = SearchKey("s1", PATH, "saxpy", content_hash, "sycl", "cpu: AMD EPYC")
    return summarize(key, kw.get("status", "budget"), 16,
                     [reference(), variant(1024, 2.31), variant(16, 0.7, False), variant(256, 1.3)], [])


def snap(**kw) -> Snapshot:
    return Snapshot(**kw)


def titles(lenses) -> list[str]:
    return [lens.command.title for lens in lenses]


# -- lenses and hints -------------------------------------------------------------------------


def test_lens_optimize_when_nothing_is_known():
    lenses = views.code_lenses(ENTRY, snap(), URI)
    assert titles(lenses) == ["Optimize"]
    assert lenses[0].command.command == cmd.OPTIMIZE
    assert lenses[0].command.arguments == [{"uri": URI, "kernel": "saxpy"}]
    # on the kernel's name line, not the `extern "C"` line above it: Neovim's codelens.run()
    # on the name's line finds it (issue 22)
    assert lenses[0].range.start.line == K.name_range.start.line != K.definition.start.line


def test_lens_shows_progress_of_a_running_search():
    job = JobView("optimize-1", "optimize", PATH, "saxpy", "running", done=43, budget=200, best_speedup=2.31)
    lenses = views.code_lenses(ENTRY, snap(jobs={job.id: job}), URI)
    assert titles(lenses) == ["Optimizing 43/200 - best 2.31x"]
    assert lenses[0].command.command == cmd.STOP and lenses[0].command.arguments == [{"job": "optimize-1"}]


def test_lens_offers_the_best_verified_variant():
    lenses = views.code_lenses(ENTRY, snap(searches={KEY: summary()}), URI)
    assert titles(lenses) == ["Optimize", "2.31x faster variant (649.4 us) - Apply"]
    args = lenses[1].command.arguments[0]
    assert args["variant"] == variant(1024, 2.31).id and args["version"] == 3


def test_variants_of_an_earlier_version_are_not_offered():
    s = snap(searches={KEY: summary(content_hash="0" * 64)})
    assert titles(views.code_lenses(ENTRY, s, URI)) == ["Optimize"]
    assert not [a for a in views.code_actions(ENTRY, URI, _at(K.name_range.start.line), s) if "Apply" in a.title]
    assert "earlier version" in views.hover_markdown(K, s)


def test_an_applied_variant_is_not_offered_again():
    applied = msgspec.structs.replace(ENTRY, current={"saxpy": variant(1024, 2.31).id})
    lenses = views.code_lenses(applied, snap(searches={KEY: summary()}), URI)
    assert titles(lenses) == ["Optimize", "1.30x faster variant (1.154 ms) - Apply"]


def test_lens_without_spec():
    text = "\n".join(line for line in TEXT.split("\n") if "@kf" not in line)
    entry = parse_entry(PATH, text, 1, True)
    lenses = views.code_lenses(entry, snap(), URI)
    assert titles(lenses) == ["Add benchmark spec"] and lenses[0].command.command == cmd.ADD_SPEC


def test_inlay_hint_on_the_kernel_line():
    hints = views.inlay_hints(ENTRY, snap(searches={KEY: summary()}))
    assert len(hints) == 1 and hints[0].position.line == K.name_range.start.line
    assert "2.31x faster" in hints[0].label
    assert hints[0].position.character == len(TEXT.split("\n")[K.name_range.start.line])
    outside = lsp.Range(lsp.Position(0, 0), lsp.Position(1, 0))
    assert views.inlay_hints(ENTRY, snap(searches={KEY: summary()}), outside) == []


# -- hover -------------------------------------------------------------------------------------


def test_hover_not_measured_yet_and_only_on_the_name():
    pos = lsp.Position(K.name_range.start.line, K.name_range.start.column + 1)
    h = views.hover(ENTRY, pos, snap())
    assert h is not None and "not measured yet" in h.contents.value
    assert views.hover(ENTRY, lsp.Position(0, 0), snap()) is None


def test_hover_with_profile_of_current_code_and_best_variant():
    md = views.hover_markdown(K, snap(searches={KEY: summary()}))
    for needle in ("1.500 ms", "p10-p90", "20.0 GB/s", "45% of peak", "32 registers", "spills 0 B",
                   "occupancy 50%", "ncu dram__throughput = 71.5", "device: sycl cpu AMD EPYC",
                   "Best variant", "2.31x", "WG_SIZE=1024", "cell: memory: plain global"):
        assert needle in md, needle


def test_hover_prefers_a_benchmark_of_the_current_code():
    bench = Benchmark(K.code_hash, EvalResult(Verdict.CORRECT, reference=measured(4.2e-3), device=DEVICE))
    md = views.hover_markdown(K, snap(benchmarks={KEY: bench}))
    assert "4.200 ms" in md
    stale = Benchmark("old", bench.result)
    assert "not measured yet" in views.hover_markdown(K, snap(benchmarks={KEY: stale}))


# -- code actions -------------------------------------------------------------------------------


def _at(line: int) -> lsp.Range:
    return lsp.Range(lsp.Position(line, 0), lsp.Position(line, 0))


def test_actions_inside_the_region_only():
    assert views.code_actions(ENTRY, URI, _at(0), snap()) == []
    spec_line = K.region.start.line
    acts = views.code_actions(ENTRY, URI, _at(spec_line), snap())
    assert [a.title for a in acts] == ["Optimize kernel saxpy", "Benchmark kernel saxpy"]


def test_actions_apply_top_variants_and_diff():
    acts = views.code_actions(ENTRY, URI, _at(K.name_range.start.line), snap(searches={KEY: summary()}), limit=3)
    t = [a.title for a in acts]
    assert t[:2] == ["Optimize kernel saxpy", "Benchmark kernel saxpy"]
    assert t[2] == "Apply variant: 2.31x faster (WG_SIZE=1024)"
    assert t[3] == "Apply variant: 1.30x faster (WG_SIZE=256)"  # the insignificant 0.7x is not offered
    assert t[4].startswith("Show variant diff")
    assert acts[2].command.arguments[0]["version"] == 3 and acts[2].is_preferred


def test_action_stop_while_running():
    job = JobView("optimize-7", "optimize", PATH, "saxpy", "running")
    acts = views.code_actions(ENTRY, URI, _at(K.name_range.start.line), snap(jobs={job.id: job}))
    assert acts[0].title == "Stop optimizing saxpy" and acts[0].command.arguments == [{"job": "optimize-7"}]


def test_add_spec_action_is_a_versioned_edit():
    text = "\n".join(line for line in TEXT.split("\n") if "@kf" not in line)
    entry = parse_entry(PATH, text, 5, True)
    k = entry.kernels[0]
    acts = views.code_actions(entry, URI, _at(k.name_range.start.line), snap(), spec_text="// @kf n = 1\n")
    assert len(acts) == 1 and acts[0].edit is not None
    change = acts[0].edit.document_changes[0]
    assert change.text_document.version == 5 and change.edits[0].new_text == "// @kf n = 1\n"


# -- diagnostics ----------------------------------------------------------------------------------


def test_diagnostics_spec_errors_compile_errors_and_faster_variant():
    bad = TEXT.replace("// @kf n = 1 << 22", "// @kf n = 1 <<")
    entry = parse_entry(PATH, bad, 1, True)
    k = entry.kernels[0]
    ds = views.diagnostics(entry, snap())
    assert ds and ds[0].severity == lsp.DiagnosticSeverity.Error
    compile_error = EvalResult(Verdict.COMPILE_ERROR, "does not compile",
                               diagnostics=[Diagnostic(PATH, 27, 4, "error", "use of undeclared identifier 'q'",
                                                       "sycl-rtc")])
    s = snap(benchmarks={KEY: Benchmark(K.code_hash, compile_error)})
    ds = views.diagnostics(ENTRY, s)
    assert [(d.range.start.line, d.message) for d in ds] == [(27, "use of undeclared identifier 'q'")]
    ds = views.diagnostics(ENTRY, snap(searches={KEY: summary()}))
    assert len(ds) == 1 and ds[0].severity == lsp.DiagnosticSeverity.Information and "2.31x" in ds[0].message
    assert k.name == "saxpy"


# -- variant text and edits ---------------------------------------------------------------------


def test_variant_text_edit_and_diff():
    v = variant(1024, 2.31)
    new = apply.variant_text(TEXT, K, v)
    assert "#define WG_SIZE 1024" in new and new.count("\n") == TEXT.count("\n")
    edit = views.text_edit(TEXT, new)
    lines = TEXT.split("\n")
    assert lines[edit.range.start.line].startswith("#define WG_SIZE")
    assert edit.new_text == "#define WG_SIZE 1024\n"
    diff = apply.variant_diff("saxpy.cpp", TEXT, new)
    assert "-#define WG_SIZE 64" in diff and "+#define WG_SIZE 1024" in diff


def test_variant_text_refuses_a_changed_kernel():
    changed = TEXT.replace("a * x[i] + y[i]", "y[i] + a * x[i]")
    try:
        apply.variant_text(changed, K, variant(1024, 2.31))
    except apply.ApplyError as e:
        assert "changed" in str(e)
    else:
        raise AssertionError("a stale kernel was spliced")


def test_text_edit_of_a_file_without_final_newline():
    edit = views.text_edit("a\nb\nc", "a\nB\nc")
    assert (edit.range.start.line, edit.range.end.line, edit.new_text) == (1, 2, "B\n")
    edit = views.text_edit("a\nb", "a\nb2")
    assert (edit.range.start.line, edit.range.end.line, edit.range.end.character, edit.new_text) == (1, 1, 1, "b2")


# -- state, settings and command arguments ------------------------------------------------------


def test_summary_prefers_finals_and_keeps_significant_only():
    key = SearchKey("s1", PATH, "saxpy", K.code_hash, "sycl", "cpu")
    s = summarize(key, "budget", 8, [reference(), variant(1024, 2.31), variant(16, 0.7, False)],
                  [variant(1024, 2.0), variant(256, 1.01, False)])
    assert s.retimed and s.best.speedup == 2.0 and len(s.top) == 1 and s.done == 2 and s.reference is not None
    assert s.find(variant(1024, 2.0).id[:12]) is not None


def test_state_snapshots_are_immutable_views():
    seen = []
    st = State(on_change=seen.append)
    before = st.snapshot
    st.set_search(KEY, summary())
    assert before.searches == {} and KEY in st.snapshot.searches and seen == [{KEY}]
    job = JobView("benchmark-1", "benchmark", PATH, "saxpy", "queued")
    st.set_job(job)
    assert st.snapshot.job_for(KEY) == job
    st.update_job("benchmark-1", state="done")
    assert st.snapshot.job_for(KEY) is None


def test_settings_defaults_and_bad_values():
    s, w = parse_settings(None)
    assert s == Settings() and w == []
    s, w = parse_settings({"max_jobs": 4, "budget": {"evaluations": 0}, "onSave": {"benchmark": True},
                           "llm": {"baseUrl": "http://localhost:8000/v1", "model": "m", "apiKey": "sk-x"}})
    assert s.max_jobs == 4 and s.budget.evaluations == 32 and s.on_save.benchmark
    assert any("budget.evaluations" in x for x in w) and any("apiKey" in x for x in w)
    assert not any("sk-x" in x for x in w)
    merged = merge_raw({"budget": {"evaluations": 8, "patience": 2}}, {"budget": {"evaluations": 4}})
    assert merged == {"budget": {"evaluations": 4, "patience": 2}}
    config = search_config(s, budget=6, eval_seconds=0.1)
    assert config.budget.evaluations == 6 and config.eval_seconds == 0.1 and config.llm.base_url


def test_command_arguments():
    a = cmd.parse_args(cmd.OPTIMIZE, [{"uri": URI, "kernel": "saxpy", "budget": 5, "evalSeconds": 0.2}])
    assert isinstance(a, cmd.OptimizeArgs) and a.budget == 5 and a.eval_seconds == 0.2
    assert isinstance(cmd.parse_args(cmd.OPTIMIZE, []), str)
    assert isinstance(cmd.parse_args(cmd.OPTIMIZE, [{"uri": URI}]), str)
    assert isinstance(cmd.parse_args(cmd.OPTIMIZE, [{"uri": URI, "kernel": "k", "nope": 1}]), str)
    assert isinstance(cmd.parse_args(cmd.STOP, [{"job": "optimize-1"}]), cmd.StopArgs)
    assert isinstance(cmd.parse_args(cmd.LIST_JOBS, None), cmd.NoArgs)
    assert isinstance(cmd.parse_args("kf.unknown", []), str)


def test_views_are_fast():
    s = snap(searches={KEY: summary()})
    # the CPU time this thread spent, not the wall clock: on a loaded machine a preempted loop
    # takes as long as the scheduler makes it, and that is not the views' cost (about 50 us a round)
    t0 = time.thread_time()
    for _ in range(200):
        views.code_lenses(ENTRY, s, URI)
        views.hover(ENTRY, lsp.Position(K.name_range.start.line, K.name_range.start.column), s)
        views.code_actions(ENTRY, URI, _at(K.name_range.start.line), s)
        views.inlay_hints(ENTRY, s)
    assert (time.thread_time() - t0) / 200 < 0.005  # well under the 50 ms a handler may take


# -- jobs: errors are reported, limits hold (a fake pool; no device) --------------------------


class _FakeClient:
    def __init__(self):
        self.shown, self.notes, self.published = [], [], []

    def notify(self, method, payload):
        self.notes.append((method, payload))

    def show(self, level, message, detail=None):
        self.shown.append((level, message))

    async def progress_begin(self, token, title, message, cancellable):
        return False

    def progress_report(self, token, message, pct):
        pass

    def progress_end(self, token, message):
        pass

    def publish(self, path):
        self.published.append(path)


class _FailingPool:
    size = 1
    backend = "sycl"

    def __init__(self, gate=None):
        self.gate = gate

    async def evaluate(self, request):
        if self.gate is not None:
            await self.gate.wait()
        raise RuntimeError("the device fell over")

    def close(self):
        pass


def _manager(settings: Settings, gate=None):
    import asyncio  # noqa: F401

    from backends.model import Unit
    from kf_lsp.core.jobs import JobManager, Resources

    import tempfile

    ws = tempfile.mkdtemp(prefix="kf-views-")  # job records go under its .kf/
    res = Resources(lambda p: ws)
    res.pool_factory = lambda backend, device: _FailingPool(gate)

    async def device_for(kernel, s):
        return "sycl", 0, "cpu: fake"

    res.device_for = device_for  # type: ignore[method-assign]
    client = _FakeClient()
    st = State()
    return JobManager(st, client, res, lambda: settings), client, st, Unit(path=PATH, text=TEXT, kernel=K)


def test_an_exception_inside_a_job_is_reported_and_ends_that_job_only():
    import asyncio

    async def run():
        jobs, client, st, unit = _manager(Settings())
        job, err = jobs.start_benchmark(unit)
        assert err is None
        await asyncio.wait_for(jobs._jobs[job.id].task, 60)  # a guard against hanging, never the claim
        assert st.snapshot.jobs[job.id].state == "error"
        assert client.shown and client.shown[0][0] == "error" and "the device fell over" in client.shown[0][1]
        finished = [p for m, p in client.notes if m == cmd.JOB_FINISHED]
        assert finished and finished[0]["state"] == "error" and "fell over" in finished[0]["error"]

    asyncio.run(run())


def test_job_limit_queues_or_refuses():
    import asyncio

    async def run():
        gate = asyncio.Event()
        jobs, client, st, unit = _manager(Settings(max_jobs=1, queue_jobs=False), gate)
        first, _ = jobs.start_benchmark(unit)
        for _ in range(3000):  # it starts at the loop's next turns (a thread picks the device): no fixed sleep
            if st.snapshot.jobs[first.id].state == "running":
                break
            await asyncio.sleep(0.01)
        assert st.snapshot.jobs[first.id].state == "running"
        second, err = jobs.start_optimize(unit)
        assert second is None and "kf.maxJobs" in err
        jobs.settings = lambda: Settings(max_jobs=1, queue_jobs=True)
        queued, err = jobs.start_optimize(unit)
        assert err is None and queued.state == "queued"
        assert jobs.stop(queued.id) and jobs.stop(first.id)
        await asyncio.wait_for(jobs.shutdown(), 60)
        assert {st.snapshot.jobs[i].state for i in (first.id, queued.id)} == {"cancelled"}

    asyncio.run(run())


# -- issue 22: one measurement per figure, honest notes, a device line said once -------------


def _retimed(v: Variant, speedup: float, median: float) -> Variant:
    """The same variant after the final re-time: its speedup and median are the re-time's,
    its stored evaluation (spread, bandwidth) is still the search's first look."""
    from evolver.records import Block

    blocks = [Block("final", speedup, speedup * 0.98, speedup * 1.02, median * speedup, m)
              for m in (median * 0.99, median, median * 1.01)]
    return msgspec.structs.replace(v, speedup=speedup, speedup_low=speedup * 0.98, speedup_high=speedup * 1.02,
                                   time_median=median, blocks=blocks)


def test_lens_hover_and_applied_hover_give_the_time_of_the_speedups_measurement():
    v = variant(1024, 2.31)  # first look: candidate median 1.5e-3 / 2.31 = 649.4 us
    final = _retimed(v, 2.09, 717.7e-6)
    key = SearchKey("s1", PATH, "saxpy", K.code_hash, "sycl", "cpu: AMD EPYC")
    s = summarize(key, "budget", 16, [reference(), final], [final])
    assert s.retimed
    lens = titles(views.code_lenses(ENTRY, snap(searches={KEY: s}), URI))[1]
    assert lens == "2.09x faster variant (717.7 us) - Apply", lens
    hover = views.hover_markdown(K, snap(searches={KEY: s}))
    assert "2.09x" in hover and "time 717.7 us" in hover and "649.4 us" not in hover, hover
    # after Apply the file holds the variant: the hover shows it with the same figures
    applied = msgspec.structs.replace(ENTRY, current={"saxpy": final.id})
    k2 = applied.kernels[0]
    changed = msgspec.structs.replace(k2, code_hash="0" * 64)  # the applied code is other code
    h2 = views.hover_markdown(changed, snap(searches={KEY: s}), final.id)
    assert "2.09x" in h2 and "time 717.7 us" in h2 and "649.4 us" not in h2, h2
    # rates derived from time follow it (bandwidth of the same measurement)
    m = views.variant_measurement(final)
    assert abs(m.profile.bandwidth - 2e10 * 649.35e-6 / 717.7e-6) / m.profile.bandwidth < 1e-3


def test_a_stopped_search_says_its_variants_were_not_retimed():
    s = summary(status="cancelled")
    assert not s.retimed
    lens = titles(views.code_lenses(ENTRY, snap(searches={KEY: s}), URI))[1]
    assert "not re-timed" in lens and "stopped" in lens, lens
    apply = [a.title for a in views.code_actions(ENTRY, URI, _at(K.name_range.start.line), snap(searches={KEY: s}))
             if a.title.startswith("Apply")]
    assert apply and all("not re-timed" in t and "[" in t for t in apply), apply  # with its interval
    assert "not re-timed" in views.hover_markdown(K, snap(searches={KEY: s}))
    # a finished, re-timed search needs no such note
    final = _retimed(variant(1024, 2.31), 2.09, 717.7e-6)
    key = SearchKey("s1", PATH, "saxpy", K.code_hash, "sycl", "cpu: AMD EPYC")
    done = summarize(key, "budget", 16, [reference(), final], [final])
    assert "not re-timed" not in " ".join(titles(views.code_lenses(ENTRY, snap(searches={KEY: done}), URI)))


def test_the_device_line_says_a_compile_only_target_once():
    none = DeviceInfo("cuda", -1, "no CUDA GPU: compile only (sm_90)", "none", "sm_90")
    label = views.device_label(none)
    assert label == "none here (cuda compiled for sm_90 only)", label
    assert label.count("sm_90") == 1
    assert views.device_label(DEVICE) == "sycl cpu AMD EPYC (opencl:cpu)"
    gpu = DeviceInfo("cuda", 0, "NVIDIA H200", "gpu", "sm_90")
    assert views.device_label(gpu) == "cuda gpu NVIDIA H200 (sm_90)"


def test_job_ids_are_unique_and_a_job_whose_process_died_reads_interrupted(tmp_path):
    import json
    import subprocess

    from kf_lsp.core.jobs import JOB_ID, JobManager, Resources, new_job_id

    ids = {new_job_id("optimize") for _ in range(2000)}
    assert len(ids) == 2000 and all(JOB_ID.match(i) for i in ids)
    # a record left by a process killed while its job ran (nothing wrote "interrupted")
    dead = subprocess.Popen(["true"])
    dead.wait()
    jid = new_job_id("optimize")
    (tmp_path / ".kf" / "jobs").mkdir(parents=True)
    view = JobView(jid, "optimize", PATH, "saxpy", "running", done=7, budget=32, started=time.time() - 60)
    (tmp_path / ".kf" / "jobs" / f"{jid}.json").write_text(json.dumps({**msgspec.to_builtins(view), "pid": dead.pid}))
    jobs = JobManager(State(), _FakeClient(), Resources(lambda p: str(tmp_path)), lambda: Settings())
    got = jobs.stored(jid, [str(tmp_path / ".kf")])
    assert got is not None and got.state == "interrupted" and "7 of 32" in got.message and got.ended > 0
    assert jobs.stored("optimize-" + "0" * 8 + "-000000", [str(tmp_path / ".kf")]) is None
    assert jobs.stored("../../etc/passwd", [str(tmp_path / ".kf")]) is None


# -- a CUDA file that cannot be compiled here (issue 17) ------------------------------------

HOST_FILE = os.path.join(REPO, "tests", "kernels", "cuda_real", "vector_add_host.cu")


def test_a_file_that_cannot_compile_says_so_once_and_offers_no_optimize(monkeypatch):
    from backends.cuda import nvcc

    monkeypatch.setenv("KF_NVCC", "/nonexistent/nvcc")
    nvcc.find_nvcc.cache_clear()
    try:
        text = open(HOST_FILE).read() + open(HOST_FILE).read().split("int main")[0].replace(
            "vectorAdd", "vectorAdd2").replace("static void check", "static void check2")
        entry = parse_entry(HOST_FILE, text, 1, True)
    finally:
        nvcc.find_nvcc.cache_clear()
    assert len(entry.kernels) == 2 and entry.blocker is not None
    assert "needs nvcc" in entry.blocker.message and entry.blocker.line == 2  # `#include <stdlib.h>`
    snap = State().snapshot
    lenses = views.code_lenses(entry, snap, "file:///x.cu")
    assert not [ln for ln in lenses if ln.command and ln.command.command in (cmd.OPTIMIZE, cmd.BENCHMARK)]
    actions = views.code_actions(entry, "file:///x.cu", lsp.Range(lsp.Position(20, 0), lsp.Position(20, 0)), snap)
    assert not [a for a in actions if a.command and a.command.command in (cmd.OPTIMIZE, cmd.BENCHMARK)]
    said = [d for d in views.diagnostics(entry, snap) if "needs nvcc" in d.message]
    assert len(said) == 1 and said[0].range.start.line == 2


def test_a_kernel_whose_compile_failed_offers_no_optimize():
    text = open(HOST_FILE).read()
    entry = parse_entry(HOST_FILE, text, 1, True)
    k = entry.kernels[0]
    state = State()
    failed = EvalResult(Verdict.REFERENCE_FAILED, "reference does not compile: x.cu:20:5: error: oops",
                        [Diagnostic(HOST_FILE, 19, 4, "error", "oops", "nvcc")])
    state.set_benchmark(kernel_key(HOST_FILE, k.name), Benchmark(k.code_hash, failed, time.time()))
    entry = msgspec.structs.replace(entry, blocker=None)
    lenses = views.code_lenses(entry, state.snapshot, "file:///x.cu")
    assert not [ln for ln in lenses if ln.command and ln.command.command == cmd.OPTIMIZE]
    assert [d for d in views.diagnostics(entry, state.snapshot) if d.message == "oops"]
