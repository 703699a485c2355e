"""What the server knows about kernels' measurements, searches and jobs: plain data.

`State.snapshot` is an immutable `Snapshot`; every update builds a new one (copy on
write of the small dicts involved), so a handler takes one reference and reads a
consistent picture while jobs keep updating. Views (kf_lsp.views) are pure functions of
a Snapshot and the index's entries.

Kernels are keyed by `kernel_key(path, name)`: the real path and the kernel's name.
"""

from __future__ import annotations

import functools
import os
import time
from typing import Callable, Literal

import msgspec

from backends.model import EvalResult
from evolver.records import SearchKey, Variant

__all__ = ["kernel_key", "Benchmark", "SearchSummary", "JobView", "Snapshot", "State", "summarize",
           "applicable", "JobState", "SearchStatus", "search_status"]

JobKind = Literal["optimize", "benchmark"]
# One vocabulary for every front (the language server's kf/job* notifications, kf mcp's job_status):
JobState = Literal["queued", "running", "done", "cancelled", "error", "interrupted"]
# a stored search's status, as the fronts show it (the store's "died" is "interrupted" here)
SearchStatus = Literal["none", "running", "budget", "time", "tokens", "patience", "exhausted", "cancelled", "error",
                       "interrupted", "unknown"]
SEARCH_STATUSES: frozenset[str] = frozenset(SearchStatus.__args__)  # type: ignore[attr-defined]


def search_status(stored: str | None) -> str:
    """A status from the store (or a running job) in the fronts' vocabulary."""
    if stored is None:
        return "none"
    if stored in ("died", "interrupted"):
        return "interrupted"
    return stored if stored in SEARCH_STATUSES else "unknown"


@functools.lru_cache(maxsize=4096)
def _real(path: str) -> str:
    return os.path.realpath(path)


def kernel_key(path: str, name: str) -> str:
    """(realpath is cached: views call this per kernel, thousands of times on a big file)"""
    return f"{_real(path)}::{name}"


class Benchmark(msgspec.Struct, frozen=True):
    """A one-off evaluation of a kernel's code as it was (content_hash)."""

    content_hash: str
    result: EvalResult
    when: float = 0.0


class SearchSummary(msgspec.Struct, frozen=True):
    """A kernel's latest search, as the views need it."""

    id: str
    path: str
    kernel: str
    reference_hash: str  # KernelSource.content_hash of the code the search started from
    backend: str
    device: str
    status: str  # SearchStatus: running / budget / time / exhausted / cancelled / error / interrupted ...
    done: int  # evaluations
    budget: int
    reference: Variant | None = None
    best: Variant | None = None  # verified, significantly faster (re-timed when finished)
    top: list[Variant] = []  # verified, significantly faster, best first (for actions)
    retimed: bool = False  # top/best come from the final re-timing

    def find(self, variant_id: str) -> Variant | None:
        for v in ([self.best] if self.best else []) + self.top:
            if v.id == variant_id or v.id.startswith(variant_id):
                return v
        return None


class JobView(msgspec.Struct, frozen=True):
    id: str
    kind: JobKind
    path: str
    kernel: str
    state: JobState
    done: int = 0
    budget: int = 0
    best_speedup: float | None = None
    message: str = ""
    token: str | None = None  # the work-done progress token
    search: str | None = None
    started: float = 0.0  # when it started running (time.time())
    ended: float = 0.0  # when it ended (0: not yet)

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")

    def elapsed(self, now: float | None = None) -> float:
        """Seconds it has run: frozen once it ended."""
        if not self.started:
            return 0.0
        end = self.ended or (time.time() if now is None else now)
        return max(0.0, end - self.started)


class Snapshot(msgspec.Struct, frozen=True):
    searches: dict[str, SearchSummary] = {}  # kernel key -> latest search
    benchmarks: dict[str, Benchmark] = {}  # kernel key -> latest benchmark
    jobs: dict[str, JobView] = {}  # job id -> job (finished ones kept briefly)

    def job_for(self, key: str, kind: JobKind | None = None) -> JobView | None:
        """The active job on a kernel (optimize first)."""
        found = [j for j in self.jobs.values() if j.active and kernel_key(j.path, j.kernel) == key
                 and (kind is None or j.kind == kind)]
        found.sort(key=lambda j: (j.kind != "optimize", j.state != "running"))
        return found[0] if found else None


def _significant(v: Variant) -> bool:
    return v.ok and v.significant and v.operator != "reference" and (v.speedup or 0.0) > 1.0


def summarize(key: SearchKey, status: str | None, budget: int, variants: list[Variant],
              finals: list[Variant], keep: int = 5) -> SearchSummary:
    """A SearchSummary from what the store holds. Finals (re-timed at the end) win over
    the figures measured during the search."""
    reference = next((v for v in variants if v.operator == "reference"), None)
    done = sum(1 for v in variants if v.operator != "reference" and v.result is not None)
    if finals:
        top = [v for v in finals if _significant(v)]
        retimed = True
    else:
        top = sorted((v for v in variants if _significant(v)), key=lambda v: -(v.speedup or 0.0))
        retimed = False
    seen: set[str] = set()
    unique = []
    for v in top:
        if v.id not in seen:
            seen.add(v.id)
            unique.append(v)
    top = unique[:keep]
    return SearchSummary(id=key.id, path=key.path, kernel=key.kernel, reference_hash=key.reference_hash,
                         backend=key.backend, device=key.device, status=search_status(status) if status else "unknown",
                         done=done,
                         budget=max(budget, done), reference=reference, best=top[0] if top else None,
                         top=top, retimed=retimed)


def applicable(summary: SearchSummary | None, content_hash: str) -> bool:
    """The search's variants were measured against this very code."""
    return summary is not None and summary.reference_hash == content_hash


class State:
    """The mutable holder of the current Snapshot; `on_change(keys)` is called after each update."""

    def __init__(self, on_change: Callable[[set[str]], None] | None = None):
        self.snapshot = Snapshot()
        self.on_change = on_change

    def _changed(self, keys: set[str]) -> None:
        if self.on_change is not None:
            try:
                self.on_change(keys)
            except Exception:
                pass

    def set_search(self, key: str, summary: SearchSummary) -> None:
        s = self.snapshot
        self.snapshot = msgspec.structs.replace(s, searches={**s.searches, key: summary})
        self._changed({key})

    def set_benchmark(self, key: str, bench: Benchmark) -> None:
        s = self.snapshot
        self.snapshot = msgspec.structs.replace(s, benchmarks={**s.benchmarks, key: bench})
        self._changed({key})

    def set_job(self, job: JobView) -> None:
        s = self.snapshot
        jobs = {**s.jobs, job.id: job}
        if len(jobs) > 64:  # forget the oldest finished jobs
            old = sorted((j for j in jobs.values() if not j.active), key=lambda j: j.started)
            for j in old[: len(jobs) - 64]:
                jobs.pop(j.id, None)
        self.snapshot = msgspec.structs.replace(s, jobs=jobs)
        self._changed({kernel_key(job.path, job.kernel)})

    def update_job(self, job_id: str, **changes: object) -> JobView | None:
        j = self.snapshot.jobs.get(job_id)
        if j is None:
            return None
        j = msgspec.structs.replace(j, **changes)
        self.set_job(j)
        return j


def now() -> float:
    return time.time()
