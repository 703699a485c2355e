"""The database: round trips, content addressing, WAL, two processes writing at once."""

import multiprocessing as mp
import sqlite3
import time

from backends.model import EvalResult, Verdict
from evolver.records import Prompt, SearchConfig, Variant
from evolver.store import Store, search_key, variant_id


def variant(search, i, ok=True):
    region = f"// @kf ...\nvoid k() {{ /* {i} */ }}\n"
    tun = {"B": i}
    return Variant(id=variant_id(region, tun), search=search, parent=None, operator="tune", region=region,
                   tunables=tun, verdict=Verdict.CORRECT if ok else Verdict.WRONG, message="",
                   speedup=1.0 + i / 100 if ok else None, cell=[0, 0, 0] if ok else None, created=time.time(),
                   result=EvalResult(Verdict.CORRECT if ok else Verdict.WRONG))


def test_variant_id_is_content_addressed():
    assert variant_id("a", {"X": 1, "Y": 2}) == variant_id("a", {"Y": 2, "X": 1})
    assert variant_id("a", {"X": 1}) != variant_id("a", {"X": 2})
    assert variant_id("a\r\nb", {}) == variant_id("a\nb", {})


def test_round_trip_and_dedup(tmp_path):
    db = str(tmp_path / ".kf" / "kf.db")
    with Store(db) as s:
        key = search_key(str(tmp_path / "k.cpp"), "k", "hash", "sycl", "cpu")
        assert s.open_search(key, SearchConfig()) is True
        assert s.open_search(key) is False
        assert s.search(key.id) == key and s.searches(str(tmp_path / "k.cpp"), "k") == [key]
        vs = [variant(key.id, i, ok=i % 3 != 0) for i in range(10)]
        for x in vs:
            assert s.put_variant(x)
        assert not s.put_variant(vs[0])  # the same id is stored once
        assert s.variants(key.id) == vs
        assert len(s.variants(key.id, ok_only=True)) == 6 and s.count(key.id) == 10
        assert s.has_variant(key.id, vs[1].id) and s.variant(key.id, vs[1].id) == vs[1]
        s.put_elite(key.id, [0, 0, 0], vs[1].id, vs[1].speedup)
        s.put_elite(key.id, [0, 0, 0], vs[2].id, vs[2].speedup)
        assert [(c, e.id) for c, e in s.elites(key.id)] == [([0, 0, 0], vs[2].id)]
        s.put_finals(key.id, [vs[2], vs[1]])
        assert [f.id for f in s.finals(key.id)] == [vs[2].id, vs[1].id]
        p = Prompt(id="p1", parent=None, sections={"philosophy": "be fast"}, created=1.0)
        s.put_prompt(key.id, p)
        assert s.prompts(key.id) == [p]
        assert s.config(key.id) == SearchConfig()
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def _writer(db: str, search: str, start: int, n: int) -> None:
    s = Store(db)
    for i in range(start, start + n):
        s.put_variant(variant(search, i))
        if i % 10 == 0:
            s.put_elite(search, [0, 0, i % 4], variant(search, i).id, 1.0)
    s.close()


def test_two_processes_write_one_database(tmp_path):
    db = str(tmp_path / "kf.db")
    key = search_key(str(tmp_path / "k.cpp"), "k", "h", "sycl", "cpu")
    with Store(db) as s:
        s.open_search(key)
    ctx = mp.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(db, key.id, start, 150)) for start in (0, 100)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with Store(db) as s:
        ids = [v.id for v in s.variants(key.id)]
        assert len(ids) == len(set(ids)) == 250  # overlap 100..149 written by both, stored once
        assert s._query("PRAGMA integrity_check")[0][0] == "ok"


def _dead_pid() -> int:
    p = mp.get_context("spawn").Process(target=time.sleep, args=(0,))
    p.start()
    p.join()
    return p.pid  # exited and reaped: no such process now


def test_leases_claims_and_counted_rejections(tmp_path):
    from evolver.records import Attempt
    from evolver.store import HOST, owner_id

    with Store(str(tmp_path / "kf.db")) as s:
        key = search_key(str(tmp_path / "k.cpp"), "k", "hash", "sycl", "cpu")
        s.open_search(key, SearchConfig())
        assert s.search_status(key.id) == "running"  # this process holds the lease
        dead = f"{HOST}:{_dead_pid()}"
        # a variant claimed by this (live) process cannot be claimed by another one...
        v = variant(key.id, 1)
        assert s.claim(key.id, v.id, owner_id())
        assert not s.claim(key.id, v.id, dead)
        # ...a dead process's claim is taken over, and a stored variant is never claimed
        s.heartbeat(key.id, dead)
        w = variant(key.id, 2)
        assert s.claim(key.id, w.id, dead) and s.claim(key.id, w.id, owner_id())
        s.put_variant(v)
        assert not s.claim(key.id, v.id, owner_id())
        # the process ends: its status sticks; a search whose only process died is not running
        assert s.release(key.id, "budget") == "budget" and s.search_status(key.id) == "budget"
        s.open_search(key, SearchConfig())
        s.release(key.id, "cancelled", owner_id())
        s.set_status(key.id, "running")
        s.heartbeat(key.id, dead)
        assert s.search_status(key.id) == "died"
        # the same rejection twice is one row with a count; attempts count their repeats
        r = Variant(id="rejected-x", search=key.id, parent=None, operator="llm", region="", tunables={},
                    verdict=Verdict.REJECTED, message="no code")
        s.put_rejection(r)
        assert s.put_rejection(r).count == 2
        assert [x.count for x in s.variants(key.id) if x.id == "rejected-x"] == [2]
        s.put_attempt(key.id, Attempt("known", "llm", "same idea -> 1.10x", key=v.id))
        s.put_attempt(key.id, Attempt("known", "llm", "same idea -> 1.10x", key=v.id))
        assert [a.count for a in s.attempts(key.id, "known")] == [2]
