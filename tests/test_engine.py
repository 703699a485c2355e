"""The search end to end on the real SYCL CPU device through the real pool: tuning finds a
verified speedup, rejections and bad variants are stored with their reason, cancellation,
resume, and a search killed with SIGKILL resumes without losing or repeating anything."""

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time

import msgspec
import pytest

from backends.model import EvalOptions, Verdict
from backends.run.local_pool import EvalPool
from backends.kernel.splice import region_text
from backends.kernel.load import load_unit
from evolver.descriptors import DEFAULT_GRID
from evolver.engine import Search
from evolver.operators import Proposal, Rejection
from evolver.records import Budget, EvaluationDone, Finished, NewElite, SearchConfig, SearchError
from evolver.store import Store
from evolver.tuning import TuningOperator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRANSPOSE = os.path.join(ROOT, "examples", "sycl", "transpose.cpp")
SAXPY = os.path.join(ROOT, "examples", "sycl", "saxpy.cpp")


def small_transpose(tmp_path, tune_y="4, 16", tune_x="8, 16", original=None):
    """transpose with a 4-point space around its default (WG_Y=4, WG_X=16); on the CPU device
    taller, narrower work-groups are about twice as fast (measured: 16 x 8 ~2.5x).
    `original=(1, 1)` starts from a deliberately slow shape instead: one work-item per
    work-group is about 30 ms at 1024 x 1024, 3-5x the tuned shapes' time, a win a loaded
    machine still verifies (the 2-6 ms default's 2x is within the noise of a preempted trial)."""
    text = open(TRANSPOSE).read()
    if original is not None:
        text = text.replace("#define WG_Y 4\n", f"#define WG_Y {original[0]}\n")
        text = text.replace("#define WG_X 16\n", f"#define WG_X {original[1]}\n")
    text = text.replace("// @kf tune WG_Y = 1, 2, 4, 8, 16", f"// @kf tune WG_Y = {tune_y}")
    text = text.replace("// @kf tune WG_X = 4, 8, 16, 32, 64", f"// @kf tune WG_X = {tune_x}")
    text = text.replace("// @kf rows = 2048", "// @kf rows = 1024").replace("// @kf cols = 2048", "// @kf cols = 1024")
    path = tmp_path / "transpose.cpp"
    path.write_text(text)
    return str(path)


@pytest.fixture(scope="module")
def pool():
    with EvalPool("sycl", [0]) as p:
        yield p


def config(evaluations, **kw):
    return SearchConfig(budget=Budget(evaluations=evaluations), eval_seconds=0.15, **kw)


def run(search):
    events = []
    fin = asyncio.run(search.run(events.append))
    return fin, events


def test_tuning_finds_a_verified_speedup(pool, tmp_path):
    # from the slow 1 x 1 shape: a 3-5x win that holds under load (from the default 4 x 16, at load
    # 11-14, the final re-time once measured 5.4x [0.78-...]: a preempted trial is as long as the kernel)
    unit = load_unit(small_transpose(tmp_path, "1, 16", "1, 16", original=(1, 1)), "transpose")
    store = Store(str(tmp_path / "kf.db"))
    search = Search(unit, pool, store, config(8, tuning="exhaustive"), grid=DEFAULT_GRID, backend="sycl",
                    device=0)
    fin, events = run(search)
    assert fin.reason == "exhausted" and fin.evaluations == 3  # 4 points, the default is the reference
    assert isinstance(events[-1], Finished) and events[-1] is not None
    done = [e for e in events if isinstance(e, EvaluationDone)]
    assert [e.variant.operator for e in done] == ["reference", "tune", "tune", "tune"]
    assert all(e.variant.ok for e in done), [e.variant.message for e in done]
    assert any(isinstance(e, NewElite) for e in events)
    best = fin.best
    assert best is not None, [(v.tunables, v.speedup, v.speedup_low) for v in search.finals]
    assert best.ok and best.significant and best.speedup_low > 1.0 and best.speedup > 1.2
    assert best.tunables != {"WG_Y": 1, "WG_X": 1}, best.tunables
    # the reported figures come from the final re-time (a new evaluation on fresh inputs)
    assert best in search.finals and best.result.ok
    assert store.finals(search.key.id)[0].id == best.id
    assert store.search_status(search.key.id) == "exhausted"
    # the database holds every evaluation; a new Search on it resumes with nothing to do
    assert len(store.variants(search.key.id)) == 4
    again = Search(unit, pool, store, config(8, tuning="exhaustive"), grid=DEFAULT_GRID, backend="sycl",
                   device=0, retime=0)
    fin2, events2 = run(again)
    assert fin2.reason == "exhausted" and not [e for e in events2 if isinstance(e, EvaluationDone)]
    assert again.archive.best.id == search.archive.best.id
    # a resume without a re-time keeps the stored one (the claim and its figures)
    assert [v.id for v in store.finals(search.key.id)] == [v.id for v in search.finals] and fin2.best.id == best.id
    # the resumed best is the final re-time's, whatever order the stored variants are replayed in:
    # stored figures that make a replay elect the first tuned variant, a re-time that ranked the last first
    t1, t2, t3 = [v for v in store.variants(search.key.id) if v.operator == "tune"]

    def figures(v, speedup, low):
        return msgspec.structs.replace(v, speedup=speedup, speedup_low=low, speedup_high=speedup + 0.1,
                                       significant=True, confirmed=True)

    for v in (figures(t1, 1.95, 1.5), figures(t2, 1.1, 1.05), figures(t3, 2.0, 1.9)):
        store.update_variant(v)
    store.put_finals(search.key.id, [figures(t3, 2.0, 1.9), figures(t1, 1.95, 1.5)], store.final_reference(search.key.id))
    third = Search(unit, pool, store, config(8, tuning="exhaustive"), grid=DEFAULT_GRID, backend="sycl",
                   device=0, retime=0)
    fin3, _ = run(third)
    assert third.archive.best.id == fin3.best.id == t3.id and fin3.best.speedup == 2.0


class Scripted:
    """An operator double: fixed proposals per generation."""

    name = "llm"

    def __init__(self, rounds):
        self.rounds = list(rounds)
        self.seen = []
        self.tokens_used = 0

    async def propose(self, context, count):
        return self.rounds.pop(0) if self.rounds else []

    def observe(self, variant):
        self.seen.append(variant)


def test_rejections_bad_specs_and_contract_changes_are_stored_failures(pool, tmp_path):
    unit = load_unit(SAXPY)
    region = region_text(unit.text, unit.kernel)
    bad_spec = region.replace("// @kf global roundup(n, WG_SIZE)", "// @kf global roundup(n, WG_SIZE")
    renamed = region.replace("float* out, float a", "float* res, float a").replace("out[i] =", "res[i] =")
    op = Scripted([[Rejection("llm", None, "the reply had no code block"),
                    Proposal(bad_spec, {}, "llm", None, note="bad spec"),
                    Proposal(renamed, {}, "llm", None, note="renamed")]])
    store = Store(str(tmp_path / "kf.db"))
    search = Search(unit, pool, store, config(5), operators=[op], grid=DEFAULT_GRID, backend="sycl")
    fin, events = run(search)
    assert fin.reason == "exhausted" and fin.best is None
    errors = [e for e in events if isinstance(e, SearchError)]
    assert errors and errors[0].file == unit.path and errors[0].line is not None
    assert "@kf global" in unit.text.splitlines()[errors[0].line]
    stored = {v.message.split(":")[0] if v.operator == "llm" else v.operator: v for v in store.variants(search.key.id)}
    verdicts = sorted(v.verdict.value for v in store.variants(search.key.id) if v.operator == "llm")
    assert verdicts == ["contract_violation", "rejected", "spec_error"]
    reasons = " | ".join(v.message for v in store.variants(search.key.id))
    assert "no code block" in reasons and "renamed" in reasons
    assert len(op.seen) == 3 and stored


def test_cancel_emits_finished_and_keeps_what_was_evaluated(pool, tmp_path):
    unit = load_unit(small_transpose(tmp_path, "1, 2, 4, 8, 16", "4, 8, 16"))
    store = Store(str(tmp_path / "kf.db"))
    search = Search(unit, pool, store, config(20), grid=DEFAULT_GRID, backend="sycl")
    events = []

    async def main():
        task = asyncio.ensure_future(search.run(events.append))
        while sum(isinstance(e, EvaluationDone) for e in events) < 2:  # the reference and one candidate
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert isinstance(events[-1], Finished) and events[-1].reason == "cancelled"
    assert sum(isinstance(e, Finished) for e in events) == 1
    stored = store.variants(search.key.id)
    assert len(stored) >= 2 and {e.variant.id for e in events if isinstance(e, EvaluationDone)} <= \
        {v.id for v in stored}
    assert store.search_status(search.key.id) == "cancelled"


CHILD = textwrap.dedent("""
    import asyncio, sys
    sys.path.insert(0, {root!r})
    from backends.run.local_pool import EvalPool
    from backends.kernel.load import load_unit
    from evolver.descriptors import DEFAULT_GRID
    from evolver.engine import Search
    from evolver.records import Budget, SearchConfig
    from evolver.store import Store
    if __name__ == "__main__":
        unit = load_unit({path!r}, "transpose")
        with EvalPool("sycl", [0]) as pool:
            s = Search(unit, pool, Store({db!r}), SearchConfig(budget=Budget(evaluations=6), eval_seconds=0.15),
                       grid=DEFAULT_GRID, backend="sycl")
            asyncio.run(s.run())
""")


def test_kill_9_then_resume_loses_nothing_and_repeats_nothing(pool, tmp_path):
    path = small_transpose(tmp_path, "1, 2, 4, 8, 16", "4, 8, 16")
    db = str(tmp_path / "kf.db")
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(root=ROOT, path=path, db=db))
    proc = subprocess.Popen([sys.executable, str(script)], cwd=ROOT, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    unit = load_unit(path, "transpose")
    key = None
    try:
        deadline = time.time() + 300  # a guard: a loaded machine starts the child slowly
        while time.time() < deadline:
            if os.path.exists(db):
                s = Store(db)
                keys = s.searches()
                if keys and s.count(keys[0].id) >= 2:
                    key = keys[0]
                    s.close()
                    break
                s.close()
            assert proc.poll() is None, "the child search ended before it was killed"
            time.sleep(0.2)
        assert key is not None, "the child never stored two evaluations"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the child and its worker: its own session
        proc.wait(10)
    store = Store(db)
    before = {v.id: v for v in store.variants(key.id)}
    assert len(before) >= 3  # the reference and >= 2 candidates survived the kill
    search = Search(unit, pool, store, SearchConfig(budget=Budget(evaluations=6), eval_seconds=0.15),
                    grid=DEFAULT_GRID, backend="sycl", retime=1, retime_seconds=0.3)
    assert search.key == key
    fin, events = run(search)
    new = [e.variant.id for e in events if isinstance(e, EvaluationDone)]
    assert not set(new) & set(before)  # nothing evaluated twice
    after = store.variants(key.id)
    assert [v.id for v in after][: len(before)] == list(before)  # nothing lost
    assert len({v.id for v in after}) == len(after)
    assert fin.reason == "budget" and store.count(key.id) == 6


def test_events_iterator_yields_the_same_stream(pool, tmp_path):
    unit = load_unit(SAXPY)
    search = Search(unit, pool, Store(str(tmp_path / "kf.db")), config(3), operators=[Scripted([])],
                    grid=DEFAULT_GRID, backend="sycl")

    async def collect():
        return [e async for e in search.events()]

    events = asyncio.run(collect())
    assert isinstance(events[0], type(events[0])) and isinstance(events[-1], Finished)
    assert events[-1].reason == "exhausted"
    assert [type(e).__name__ for e in events if isinstance(e, (EvaluationDone, NewElite))] == \
        ["EvaluationDone", "NewElite"]  # the reference, then it takes its cell
