"""One SQLite database per workspace: searches, every evaluated variant, prompts, elites.

Default location: ``<workspace>/.kf/kf.db``. WAL mode and a busy timeout let several
processes (the language server, a `kf optimize` in a terminal) share one database;
every write is one short ``BEGIN IMMEDIATE`` transaction committed at once, so a
process killed at any moment loses nothing already written, and nothing half-written
is ever visible.

Records are msgspec Structs, stored as msgpack blobs next to the columns queries need.
Variants are content-addressed: ``variant_id(region, tunables)``; (search, id) is the
primary key, so identical source is stored (and, since the engine looks first,
evaluated) once per search.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import threading
import time
from pathlib import Path
from typing import Iterable

import msgspec

from .records import Attempt, Prompt, SearchConfig, SearchKey, Variant

__all__ = ["Store", "variant_id", "search_key", "default_path", "workspace_of", "LEASE_SECONDS", "owner_id"]

LEASE_SECONDS = 30.0  # a search's process heartbeats every LEASE_SECONDS / 6; silent longer: dead
HOST = socket.gethostname()


def owner_id() -> str:
    """This process, as a lease and claim owner: host:pid."""
    return f"{HOST}:{os.getpid()}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

SCHEMA = """
CREATE TABLE IF NOT EXISTS searches (
  id TEXT PRIMARY KEY, path TEXT NOT NULL, kernel TEXT NOT NULL, reference_hash TEXT NOT NULL,
  backend TEXT NOT NULL, device TEXT NOT NULL, created REAL NOT NULL, updated REAL NOT NULL,
  status TEXT NOT NULL DEFAULT 'new', config BLOB, key BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS searches_kernel ON searches(path, kernel);
CREATE TABLE IF NOT EXISTS variants (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  search TEXT NOT NULL, id TEXT NOT NULL, parent TEXT, operator TEXT NOT NULL,
  verdict TEXT NOT NULL, speedup REAL, cell TEXT, prompt TEXT, generation INTEGER,
  created REAL NOT NULL, evaluated INTEGER NOT NULL, blob BLOB NOT NULL,
  UNIQUE(search, id)
);
CREATE TABLE IF NOT EXISTS prompts (
  search TEXT NOT NULL, id TEXT NOT NULL, parent TEXT, fitness REAL, uses INTEGER,
  created REAL, blob BLOB NOT NULL, PRIMARY KEY(search, id)
);
CREATE TABLE IF NOT EXISTS elites (
  search TEXT NOT NULL, cell TEXT NOT NULL, variant TEXT NOT NULL, speedup REAL,
  updated REAL NOT NULL, PRIMARY KEY(search, cell)
);
CREATE TABLE IF NOT EXISTS leases (
  search TEXT NOT NULL, owner TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
  heartbeat REAL NOT NULL, PRIMARY KEY(search, owner)
);
CREATE TABLE IF NOT EXISTS claims (
  search TEXT NOT NULL, id TEXT NOT NULL, owner TEXT NOT NULL, created REAL NOT NULL,
  PRIMARY KEY(search, id)
);
CREATE TABLE IF NOT EXISTS attempts (
  search TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, operator TEXT NOT NULL,
  count INTEGER NOT NULL, first REAL NOT NULL, last REAL NOT NULL, blob BLOB NOT NULL,
  PRIMARY KEY(search, kind, key)
);
CREATE TABLE IF NOT EXISTS finals (
  search TEXT NOT NULL, rank INTEGER NOT NULL, variant TEXT NOT NULL, blob BLOB NOT NULL,
  created REAL NOT NULL, PRIMARY KEY(search, rank)
);
"""

_enc = msgspec.msgpack.Encoder()
_dec_variant = msgspec.msgpack.Decoder(Variant)
_dec_prompt = msgspec.msgpack.Decoder(Prompt)
_dec_key = msgspec.msgpack.Decoder(SearchKey)
_dec_config = msgspec.msgpack.Decoder(SearchConfig)
_dec_attempt = msgspec.msgpack.Decoder(Attempt)


def _sha(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


def variant_id(region: str, tunables: dict[str, int | float | str]) -> str:
    """sha256 of the region text and the sorted tunable bindings."""
    tun = json.dumps(sorted((k, v) for k, v in tunables.items()))
    return _sha(region.replace("\r\n", "\n"), tun)


def search_key(path: str, kernel: str, reference_hash: str, backend: str, device: str) -> SearchKey:
    path = os.path.realpath(path)
    return SearchKey(_sha(path, kernel, reference_hash, backend, device), path, kernel,
                     reference_hash, backend, device)


def workspace_of(path: str) -> str:
    """The nearest ancestor of `path` holding .kf or .git, else the file's directory."""
    p = Path(os.path.realpath(path))
    start = p if p.is_dir() else p.parent
    for d in [start, *start.parents]:
        if (d / ".kf").is_dir() or (d / ".git").exists():
            return str(d)
    return str(start)


def default_path(workspace: str) -> str:
    return os.path.join(workspace, ".kf", "kf.db")


def _cell_text(cell: list[int] | None) -> str | None:
    return None if cell is None else ",".join(str(c) for c in cell)


class Store:
    """Thread-safe (one connection behind a lock); share it within a process, open one
    per process."""

    def __init__(self, path: str, *, busy_timeout: float = 30.0):
        self.path = path
        if path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None,
                                   check_same_thread=False)
        self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        with self._tx() as db:
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)

    @classmethod
    def for_workspace(cls, workspace: str) -> "Store":
        return cls(default_path(workspace))

    # -- plumbing ---------------------------------------------------------------------

    class _Tx:
        def __init__(self, store: "Store"):
            self.s = store

        def __enter__(self):
            self.s._lock.acquire()
            try:
                self.s._db.execute("BEGIN IMMEDIATE")
            except BaseException:
                self.s._lock.release()
                raise
            return self.s._db

        def __exit__(self, exc_type, exc, tb):
            try:
                self.s._db.execute("ROLLBACK" if exc_type else "COMMIT")
            finally:
                self.s._lock.release()
            return False

    def _tx(self) -> "Store._Tx":
        return Store._Tx(self)

    def _query(self, sql: str, args: Iterable = ()) -> list[tuple]:
        with self._lock:
            return self._db.execute(sql, tuple(args)).fetchall()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- searches ---------------------------------------------------------------------

    def open_search(self, key: SearchKey, config: SearchConfig | None = None) -> bool:
        """Register a search (or touch an existing one). True when it is new."""
        now = time.time()
        with self._tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO searches(id, path, kernel, reference_hash, backend, device, created,"
                " updated, status, config, key) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (key.id, key.path, key.kernel, key.reference_hash, key.backend, key.device, now, now,
                 "running", _enc.encode(config) if config else None, _enc.encode(key)))
            if cur.rowcount == 0:
                db.execute("UPDATE searches SET updated=?, status='running', config=COALESCE(?, config)"
                           " WHERE id=?", (now, _enc.encode(config) if config else None, key.id))
            new = cur.rowcount > 0
        self.heartbeat(key.id)  # this process runs it now (Store.search_status)
        return new

    def set_status(self, search: str, status: str) -> None:
        with self._tx() as db:
            db.execute("UPDATE searches SET status=?, updated=? WHERE id=?", (status, time.time(), search))

    def search(self, search: str) -> SearchKey | None:
        rows = self._query("SELECT key FROM searches WHERE id=?", (search,))
        return _dec_key.decode(rows[0][0]) if rows else None

    def search_status(self, search: str) -> str | None:
        """The stored status; "running" only while a live process holds a lease on it
        (a heartbeat younger than LEASE_SECONDS, and on this host a pid that exists):
        a search whose process died reads "died"."""
        rows = self._query("SELECT status FROM searches WHERE id=?", (search,))
        if not rows:
            return None
        status = rows[0][0]
        if status == "running" and not self.live_owners(search):
            return "died"
        return status

    # -- leases (who runs a search) and claims (who evaluates which variant) -------------

    def _alive(self, host: str, pid: int, heartbeat: float, now: float) -> bool:
        if now - heartbeat > LEASE_SECONDS:
            return False
        return _pid_alive(pid) if host == HOST else True

    def live_owners(self, search: str) -> list[str]:
        now = time.time()
        rows = self._query("SELECT owner, host, pid, heartbeat FROM leases WHERE search=?", (search,))
        return [o for o, h, p, hb in rows if self._alive(h, int(p), float(hb), now)]

    def heartbeat(self, search: str, owner: str | None = None) -> None:
        """Take or renew this process's lease on a search."""
        owner = owner or owner_id()
        host, _, pid = owner.rpartition(":")
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO leases(search, owner, host, pid, heartbeat) VALUES (?,?,?,?,?)",
                       (search, owner, host, int(pid) if pid.isdigit() else 0, time.time()))

    def release(self, search: str, status: str, owner: str | None = None) -> str:
        """Drop this process's lease and its claims; the search takes `status` unless another
        live process still runs it (then it stays "running"). Returns the status now."""
        owner = owner or owner_id()
        with self._tx() as db:
            db.execute("DELETE FROM leases WHERE search=? AND owner=?", (search, owner))
            db.execute("DELETE FROM claims WHERE search=? AND owner=?", (search, owner))
        if self.live_owners(search):
            return "running"
        self.set_status(search, status)
        return status

    def claim(self, search: str, vid: str, owner: str | None = None) -> bool:
        """Claim a variant for evaluation by this process. False when another live process
        holds the claim or the variant is stored already; a dead owner's claim is taken over."""
        owner = owner or owner_id()
        now = time.time()
        with self._tx() as db:
            if db.execute("SELECT 1 FROM variants WHERE search=? AND id=?", (search, vid)).fetchone():
                return False
            row = db.execute("SELECT owner FROM claims WHERE search=? AND id=?", (search, vid)).fetchone()
            if row is not None and row[0] != owner:
                lease = db.execute("SELECT host, pid, heartbeat FROM leases WHERE search=? AND owner=?",
                                   (search, row[0])).fetchone()
                if lease is not None and self._alive(lease[0], int(lease[1]), float(lease[2]), now):
                    return False
            db.execute("INSERT OR REPLACE INTO claims(search, id, owner, created) VALUES (?,?,?,?)",
                       (search, vid, owner, now))
            return True

    def unclaim(self, search: str, vid: str, owner: str | None = None) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM claims WHERE search=? AND id=? AND owner=?", (search, vid, owner or owner_id()))

    # -- attempts (known proposals, prompt evolution) ------------------------------------

    def put_attempt(self, search: str, a: Attempt) -> Attempt:
        """Record an attempt; the same (kind, key) again bumps its count. Returns it as stored."""
        now = time.time()
        key = a.key or a.detail
        with self._tx() as db:
            row = db.execute("SELECT blob FROM attempts WHERE search=? AND kind=? AND key=?",
                             (search, a.kind, key)).fetchone()
            if row is not None:
                old = _dec_attempt.decode(row[0])
                a = msgspec.structs.replace(old, count=old.count + a.count, outcome=a.outcome or old.outcome)
                db.execute("UPDATE attempts SET count=?, last=?, blob=? WHERE search=? AND kind=? AND key=?",
                           (a.count, now, _enc.encode(a), search, a.kind, key))
            else:
                a = msgspec.structs.replace(a, key=key)
                db.execute("INSERT INTO attempts(search, kind, key, operator, count, first, last, blob)"
                           " VALUES (?,?,?,?,?,?,?,?)", (search, a.kind, key, a.operator, a.count, now, now,
                                                       _enc.encode(a)))
        return a

    def attempts(self, search: str, kind: str | None = None) -> list[Attempt]:
        sql, args = "SELECT blob FROM attempts WHERE search=?", [search]
        if kind is not None:
            sql += " AND kind=?"
            args.append(kind)
        return [_dec_attempt.decode(r[0]) for r in self._query(sql + " ORDER BY first", args)]

    def searches(self, path: str | None = None, kernel: str | None = None) -> list[SearchKey]:
        """Searches, most recently updated first; optionally of one file / kernel."""
        sql, args = "SELECT key FROM searches", []
        cond = []
        if path is not None:
            cond.append("path=?")
            args.append(os.path.realpath(path))
        if kernel is not None:
            cond.append("kernel=?")
            args.append(kernel)
        if cond:
            sql += " WHERE " + " AND ".join(cond)
        sql += " ORDER BY updated DESC"
        return [_dec_key.decode(r[0]) for r in self._query(sql, args)]

    def config(self, search: str) -> SearchConfig | None:
        rows = self._query("SELECT config FROM searches WHERE id=?", (search,))
        return _dec_config.decode(rows[0][0]) if rows and rows[0][0] else None

    # -- variants ---------------------------------------------------------------------

    def put_variant(self, v: Variant) -> bool:
        """Store a variant (committed on return). False when (search, id) was already there."""
        with self._tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO variants(search, id, parent, operator, verdict, speedup, cell, prompt,"
                " generation, created, evaluated, blob) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (v.search, v.id, v.parent, v.operator, v.verdict.value, v.speedup, _cell_text(v.cell),
                 v.prompt, v.generation, v.created or time.time(), int(v.result is not None),
                 _enc.encode(v)))
            db.execute("UPDATE searches SET updated=? WHERE id=?", (time.time(), v.search))
            return cur.rowcount > 0

    def update_variant(self, v: Variant) -> None:
        """Replace a stored variant's figures (re-measured, confirmed, a repeat counted)."""
        with self._tx() as db:
            db.execute("UPDATE variants SET verdict=?, speedup=?, cell=?, blob=? WHERE search=? AND id=?",
                       (v.verdict.value, v.speedup, _cell_text(v.cell), _enc.encode(v), v.search, v.id))
            db.execute("UPDATE elites SET speedup=? WHERE search=? AND variant=?", (v.speedup, v.search, v.id))

    def put_rejection(self, v: Variant) -> Variant:
        """Store a rejected reply once: the same one again only bumps its count."""
        with self._tx() as db:
            row = db.execute("SELECT blob FROM variants WHERE search=? AND id=?", (v.search, v.id)).fetchone()
            if row is not None:
                old = _dec_variant.decode(row[0])
                v = msgspec.structs.replace(old, count=old.count + 1, generation=v.generation)
                db.execute("UPDATE variants SET blob=? WHERE search=? AND id=?", (_enc.encode(v), v.search, v.id))
                return v
        self.put_variant(v)
        return v

    def variants_after(self, search: str, seq: int) -> list[tuple[int, Variant]]:
        """(seq, variant) stored after `seq` (another process's work, for a running search)."""
        rows = self._query("SELECT seq, blob FROM variants WHERE search=? AND seq>? ORDER BY seq", (search, seq))
        return [(int(q), _dec_variant.decode(b)) for q, b in rows]

    def last_seq(self, search: str) -> int:
        return int(self._query("SELECT COALESCE(MAX(seq), 0) FROM variants WHERE search=?", (search,))[0][0])

    def has_variant(self, search: str, vid: str) -> bool:
        return bool(self._query("SELECT 1 FROM variants WHERE search=? AND id=?", (search, vid)))

    def variant(self, search: str, vid: str) -> Variant | None:
        rows = self._query("SELECT blob FROM variants WHERE search=? AND id=?", (search, vid))
        return _dec_variant.decode(rows[0][0]) if rows else None

    def variants(self, search: str, *, ok_only: bool = False, operator: str | None = None,
                 limit: int | None = None) -> list[Variant]:
        """Variants of a search in the order they were stored."""
        sql, args = "SELECT blob FROM variants WHERE search=?", [search]
        if ok_only:
            sql += " AND verdict='correct'"
        if operator is not None:
            sql += " AND operator=?"
            args.append(operator)
        sql += " ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [_dec_variant.decode(r[0]) for r in self._query(sql, args)]

    def count(self, search: str, *, evaluated_only: bool = True, candidates_only: bool = True) -> int:
        """Evaluations in a search (rejected proposals and the reference excluded by default)."""
        sql = "SELECT COUNT(*) FROM variants WHERE search=?"
        if evaluated_only:
            sql += " AND evaluated=1"
        if candidates_only:
            sql += " AND operator!='reference'"
        return int(self._query(sql, (search,))[0][0])

    # -- prompts ----------------------------------------------------------------------

    def put_prompt(self, search: str, p: Prompt) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO prompts(search, id, parent, fitness, uses, created, blob)"
                       " VALUES (?,?,?,?,?,?,?)",
                       (search, p.id, p.parent, p.fitness, p.uses, p.created or time.time(), _enc.encode(p)))

    def prompts(self, search: str) -> list[Prompt]:
        rows = self._query("SELECT blob FROM prompts WHERE search=? ORDER BY created", (search,))
        return [_dec_prompt.decode(r[0]) for r in rows]

    # -- archive elites and final figures ----------------------------------------------

    def put_elite(self, search: str, cell: list[int], vid: str, speedup: float | None) -> None:
        with self._tx() as db:
            db.execute("INSERT OR REPLACE INTO elites(search, cell, variant, speedup, updated) VALUES (?,?,?,?,?)",
                       (search, _cell_text(cell), vid, speedup, time.time()))

    def delete_elite(self, search: str, cell: list[int]) -> None:
        with self._tx() as db:
            db.execute("DELETE FROM elites WHERE search=? AND cell=?", (search, _cell_text(cell)))

    def elites(self, search: str) -> list[tuple[list[int], Variant]]:
        """(cell, elite) pairs, fastest first."""
        rows = self._query(
            "SELECT e.cell, v.blob FROM elites e JOIN variants v ON v.search=e.search AND v.id=e.variant"
            " WHERE e.search=? ORDER BY e.speedup DESC", (search,))
        return [([int(x) for x in c.split(",")] if c else [], _dec_variant.decode(b)) for c, b in rows]

    def put_finals(self, search: str, variants: list[Variant], reference: Variant | None = None) -> None:
        """The re-timed top variants (ranked), replacing earlier ones; `reference`: the
        original as measured in the same re-time (its row in every table)."""
        now = time.time()
        with self._tx() as db:
            db.execute("DELETE FROM finals WHERE search=?", (search,))
            for i, v in enumerate(variants):
                db.execute("INSERT INTO finals(search, rank, variant, blob, created) VALUES (?,?,?,?,?)",
                           (search, i, v.id, _enc.encode(v), now))
            if reference is not None:
                db.execute("INSERT INTO finals(search, rank, variant, blob, created) VALUES (?,?,?,?,?)",
                           (search, -1, reference.id, _enc.encode(reference), now))

    def finals(self, search: str) -> list[Variant]:
        rows = self._query("SELECT blob FROM finals WHERE search=? AND rank>=0 ORDER BY rank", (search,))
        return [_dec_variant.decode(r[0]) for r in rows]

    def final_reference(self, search: str) -> Variant | None:
        """The original as measured in the final re-time (None before one ran)."""
        rows = self._query("SELECT blob FROM finals WHERE search=? AND rank=-1", (search,))
        return _dec_variant.decode(rows[0][0]) if rows else None
