"""Background jobs: searches ("optimize") and one-off evaluations ("benchmark").

A job is an asyncio task owned by `JobManager`, which keeps its own registry (pygls does
not stop async commands on $/cancelRequest): a job is stopped by its id, by its kernel,
or by the work-done progress token the editor's progress UI cancels. Jobs never compile
or run anything in the server process: evaluations go to `backends.run.local_pool.EvalPool`
(spawned workers), device probing runs in a thread, and the search is
`evolver.engine.Search`, whose events update the server's State. At most
`settings.max_jobs` jobs run at once; more are queued (or refused, per
`settings.queue_jobs`). An exception inside a job is reported (window/showMessage and the
log) and ends that job only.

Side effects towards the editor go through the `Client` protocol (the server implements
it), so this module knows nothing of pygls.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import secrets
import time
import traceback
from collections import deque
from typing import Any, Callable, Protocol

import msgspec

from backends.model import EvalOptions, EvalRequest, KernelSource, Unit
from evolver.records import EvaluationDone, Event, Finished, NewElite, Progress, SearchError, SearchKey

from .failures import LLMFailure, WatchedClient
from .liveness import hold, is_dead
from .preflight import Front, Refusal, nothing_to_try
from .settings import Settings, llm_endpoints, search_config
from .state import Benchmark, JobView, SearchSummary, State, kernel_key, search_status, summarize

# What a job says while it runs, by the names the language server sends them under
# (server -> client notifications; the MCP front keeps them in the job's view instead).
JOB_STARTED = "kf/jobStarted"
JOB_PROGRESS = "kf/jobProgress"
JOB_FINISHED = "kf/jobFinished"


def progress_message(done: int, budget: int, best: float | None, note: str = "") -> str:
    msg = f"{done}/{budget} evaluations"
    if best is not None:
        msg += f", best {best:.2f}x"
    if note:
        msg += f" - {note}"
    return msg


def percentage(done: int, budget: int) -> int:
    return max(0, min(100, int(100 * done / budget))) if budget > 0 else 0


__all__ = ["Client", "Resources", "JobManager", "load_summary", "variant_payload", "job_payload", "new_job_id",
           "JOB_STARTED", "JOB_PROGRESS", "JOB_FINISHED", "progress_message", "percentage"]

log = logging.getLogger("kf.lsp")


class Client(Protocol):
    def notify(self, method: str, payload: dict) -> None: ...

    def show(self, level: str, message: str, detail: str | None = None) -> None:
        """A message for the user (a pop-up); `detail`, when given, is what the log gets instead."""

    async def progress_begin(self, token: str, title: str, message: str, cancellable: bool) -> bool: ...

    def progress_report(self, token: str, message: str, pct: int | None) -> None: ...

    def progress_end(self, token: str, message: str) -> None: ...

    def publish(self, path: str) -> None:
        """Diagnostics, lenses and hints of this file changed."""


# -- resources: devices, pools and stores, created lazily ------------------------------------


class Resources:
    """Evaluation pools per (backend, device) and stores per workspace, created on first use
    and closed at shutdown."""

    def __init__(self, workspace_for: Callable[[str], str], in_project: Callable[[str], bool] | None = None):
        self.workspace_for = workspace_for
        self.in_project = in_project or (lambda ws: True)
        self.pools: dict[tuple[str, int, str], Any] = {}
        self.stores: dict[str, Any] = {}
        self._device_names: dict[tuple[str, int], str] = {}
        self.pool_factory: Callable[[str, int], Any] | None = None  # tests / remote pools

    async def device_for(self, kernel: KernelSource, settings: Settings) -> tuple[str, int, str] | str:
        """(backend, device, device name) or a one-line reason. Probing runs in a thread
        (it spawns a process the first time per backend)."""
        from backends.run.device_choice import SelectionError, choose, devices

        backend = None if settings.backend == "auto" else settings.backend
        if settings.scheduler:  # the cluster's worker picks the device
            if backend not in (None, kernel.language):
                return f"a {kernel.language} kernel runs on the {kernel.language} backend, not {backend}"
            return kernel.language, 0, f"remote {settings.scheduler_target or kernel.language} at {settings.scheduler}"
        try:
            chosen, device = await asyncio.to_thread(choose, kernel.language, backend, settings.device)
            found = await asyncio.to_thread(devices, chosen)
        except SelectionError as e:
            return str(e)
        if device is None:
            if chosen == "cuda":
                return (f"no CUDA GPU here: running {kernel.name} needs one, or a remote scheduler with one "
                        "(set kf.scheduler, docs/remote.md). Compile errors and compile-only figures are "
                        "shown on open and save")
            return f"no {chosen} device here: running {kernel.name} needs one (kf devices lists them)"
        name = next((f"{d.kind}: {d.name}" for d in found if d.index == device), f"{chosen}:{device}")
        return chosen, device, name

    async def pool(self, backend: str, device: int, settings: Settings, warn: Callable[[str], None]) -> Any:
        """The pool for (backend, device, scheduler), created on first use. A remote pool
        connects in a thread; an unreachable scheduler falls back to local devices (warned)."""
        key = (backend, device, settings.scheduler or "")
        if key not in self.pools:
            if self.pool_factory is not None:
                self.pools[key] = self.pool_factory(backend, device)
            elif settings.scheduler:
                try:
                    from backends.run.pool import make_pool
                except ImportError:
                    warn(f"kf.scheduler {settings.scheduler}: remote evaluation is not available in this "
                         "installation; evaluating on local devices")
                    from backends.run.local_pool import EvalPool

                    self.pools[key] = EvalPool(backend, [device])
                else:
                    env = os.environ.get
                    self.pools[key] = await asyncio.to_thread(
                        make_pool, backend, [device], settings.scheduler, target=settings.scheduler_target,
                        tls_ca=settings.tls_ca or env("KF_TLS_CA"), tls_cert=settings.tls_cert or env("KF_TLS_CERT"),
                        tls_key=settings.tls_key or env("KF_TLS_KEY"), fallback_local=True, on_fallback=warn)
            else:
                from backends.run.local_pool import EvalPool

                self.pools[key] = EvalPool(backend, [device])  # workers start on first use
        return self.pools[key]

    def db_path(self, path: str) -> str:
        """`<workspace>/.kf/kf.db`; for a file in no project (no workspace folder, no .kf or
        .git above it) a database in the user cache, so no `.kf/` appears beside the file."""
        from evolver.store import default_path

        ws = self.workspace_for(path)
        if self.in_project(ws):
            return default_path(ws)
        return os.path.join(user_cache_dir(), "outside", hashlib.sha256(ws.encode()).hexdigest()[:16], "kf.db")

    def store_for(self, path: str) -> Any:
        from evolver.store import Store

        db = self.db_path(path)
        if db not in self.stores:
            self.stores[db] = Store(db)
            ignore_itself(os.path.dirname(db))
        return self.stores[db]

    def existing_store(self, path: str) -> Any | None:
        """The store of this file's workspace if its database exists (never creates one)."""
        db = self.db_path(path)
        if db in self.stores:
            return self.stores[db]
        if os.path.exists(db):
            return self.store_for(path)
        return None

    def close(self) -> None:
        for p in self.pools.values():
            try:
                p.close()
            except Exception:
                log.exception("closing an evaluation pool")
        self.pools.clear()
        for s in self.stores.values():
            try:
                s.close()
            except Exception:
                pass
        self.stores.clear()


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def user_cache_dir() -> str:
    return os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "kf")


def ignore_itself(kf_dir: str) -> None:
    """A `.gitignore` inside `.kf/` so the database never shows in `git status`."""
    if os.path.basename(kf_dir) != ".kf":
        return
    path = os.path.join(kf_dir, ".gitignore")
    if not os.path.exists(path):
        try:
            with open(path, "w") as f:
                f.write("# kf's results database and its files (written by kf)\n*\n")
        except OSError as e:
            log.warning("could not write %s: %s", path, e)


def load_summary(store: Any, path: str, kernel: str, content_hash: str) -> SearchSummary | None:
    """The kernel's search from the store: the one started from this very code if there is
    one, else the latest. Blocking (SQLite): call it in a thread."""
    keys: list[SearchKey] = store.searches(path, kernel)
    if not keys:
        return None
    key = next((k for k in keys if k.reference_hash == content_hash), keys[0])
    config = store.config(key.id)
    budget = config.budget.evaluations if config is not None else 0
    status = store.search_status(key.id)
    if status == "running" and is_dead(store.path, key.id):  # its process died (kf_lsp.liveness)
        status = "interrupted"
    status = search_status(status)  # the store's "died" too
    return summarize(key, status, budget, store.variants(key.id), store.finals(key.id))


def variant_payload(v: Any) -> dict | None:
    if v is None:
        return None
    return {"id": v.id, "operator": v.operator, "speedup": v.speedup, "speedupLow": v.speedup_low,
            "speedupHigh": v.speedup_high, "timeMedian": v.time_median, "tunables": dict(v.tunables),
            "cell": list(v.cell) if v.cell else None, "significant": v.significant}


def job_payload(j: JobView, **extra: Any) -> dict:
    return {"jobId": j.id, "kind": j.kind, "uri": _uri(j.path), "kernel": j.kernel, "state": j.state,
            "done": j.done, "budget": j.budget, "bestSpeedup": j.best_speedup, "message": j.message, **extra}


def _uri(path: str) -> str:
    from pygls.uris import from_fs_path

    return from_fs_path(path) or path


def new_job_id(kind: str) -> str:
    """Unique across processes and restarts (time and randomness), so an id from an earlier
    server never names another job: `optimize-mdw3k2x1-5f0a9c`."""
    ms = int(time.time() * 1000)
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    stamp = ""
    while ms:
        ms, r = divmod(ms, 36)
        stamp = digits[r] + stamp
    return f"{kind}-{stamp}-{secrets.token_hex(3)}"


JOB_ID = __import__("re").compile(r"^(optimize|benchmark)-[0-9a-z]{1,16}-[0-9a-f]{6}$")
KEEP_RECORDS = 200  # job records kept per workspace


class _Job:
    def __init__(self, view: JobView, task: asyncio.Task | None = None, settings: Settings | None = None,
                 record: str | None = None):
        self.view = view
        self.task = task
        self.settings = settings  # a call's own choice (an LLM endpoint by name...); None: the server's
        self.record = record  # .kf/jobs/<id>.json: what a later process answers for this id
        self.last_report: tuple[str, int | None] | None = None  # the progress last sent (not repeated)
        self.failure: LLMFailure | None = None  # the first classified LLM failure of the job (said once)
        self.stale = False  # the kernel was edited while it ran
        self.stopped = False  # someone asked it to stop (kf.stop, the agent's stop, the progress UI)


def _interrupted(v: JobView) -> str:
    """Why a job ended with its server, and what is kept: a per-call client (a new server for
    every call) reads this in the next call, so it must not promise stored work that is not."""
    if v.kind != "optimize":
        return "the server stopped before the benchmark finished"
    if v.done > 0:
        return (f"the server stopped before the search finished (after {v.done} of {v.budget} evaluations; "
                f"they are stored: optimize resumes from them)")
    return ("the server stopped before the job evaluated anything, so nothing is stored: a job ends with the "
            "kf process that started it (call optimize with wait_seconds, or keep the server running)")


class JobManager:
    def __init__(self, state: State, client: Client, resources: Resources, settings: Callable[[], Settings],
                 front: Front = "editor"):
        self.state = state
        self.front = front  # whose words a refusal uses (kf_lsp/core/preflight.py)
        self.client = client
        self.res = resources
        self.settings = settings
        self._jobs: dict[str, _Job] = {}
        self._closing = False  # shutting down: jobs still running end "interrupted"
        self._running = 0
        self._waiters: deque[asyncio.Future] = deque()
        self.progress_interval = 0.25  # seconds between progress reports of one job
        self.searches: dict[str, Any] = {}  # job id -> live Search
        self._said: set[str] = set()  # messages said once per session

    # -- registry ---------------------------------------------------------------------------

    def active(self) -> list[JobView]:
        return [j.view for j in self._jobs.values() if j.view.active]

    def find(self, job_id: str) -> JobView | None:
        j = self._jobs.get(job_id)
        return j.view if j else None

    def for_kernel(self, path: str, name: str, kind: str | None = None) -> list[JobView]:
        key = kernel_key(path, name)
        return [j.view for j in self._jobs.values() if j.view.active and
                kernel_key(j.view.path, j.view.kernel) == key and (kind is None or j.view.kind == kind)]

    def _set(self, job: _Job, **changes: Any) -> JobView:
        ended = "state" in changes and changes["state"] not in ("queued", "running") and job.view.active
        if ended:
            changes.setdefault("ended", time.time())  # its duration is frozen from now on
        job.view = msgspec.structs.replace(job.view, **changes)
        self.state.set_job(job.view)
        if ended or "search" in changes:
            self._write_record(job)
        return job.view

    # -- job records: an id outlives the process that ran it --------------------------------------

    def _write_record(self, job: _Job) -> None:
        """The job's view (and its search id) in `.kf/jobs/<id>.json` beside the database, so a
        later process asked about this id answers with what became of it. Small and
        synchronous: written at creation, when the search is known and when it ends."""
        if job.record is None:
            return
        try:
            os.makedirs(os.path.dirname(job.record), exist_ok=True)
            data = msgspec.json.encode({**msgspec.to_builtins(job.view), "token": None, "pid": os.getpid()})
            tmp = f"{job.record}.{os.getpid()}.tmp"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, job.record)
        except OSError as e:
            log.debug("job record %s: %s", job.record, e)

    def _record_path(self, path: str, job_id: str) -> str | None:
        try:
            return os.path.join(os.path.dirname(self.res.db_path(path)), "jobs", f"{job_id}.json")
        except Exception:
            return None

    @staticmethod
    def _prune(folder: str) -> None:
        try:
            names = sorted((e for e in os.scandir(folder) if e.name.endswith(".json")),
                           key=lambda e: e.stat().st_mtime)
            for e in names[:max(0, len(names) - KEEP_RECORDS)]:
                os.unlink(e.path)
        except OSError:
            pass

    def stored(self, job_id: str, kf_dirs: list[str]) -> JobView | None:
        """A job of an earlier process, from its record under one of `kf_dirs` (`.kf` folders):
        a job whose record says queued or running, but that no live process runs, was
        interrupted (its process ended first); its evaluations are in the store."""
        if not JOB_ID.match(job_id):
            return None
        for d in kf_dirs:
            path = os.path.join(d, "jobs", f"{job_id}.json")
            try:
                with open(path, "rb") as f:
                    raw = json.loads(f.read())
            except (OSError, ValueError):
                continue
            pid = raw.pop("pid", None)
            try:
                view = msgspec.convert(raw, JobView)
            except msgspec.ValidationError:
                continue
            if view.active and not (pid == os.getpid() and job_id in self._jobs) and not _alive(pid):
                view = msgspec.structs.replace(
                    view, state="interrupted", ended=view.ended or os.path.getmtime(path),
                    message=(f"the kf process that ran this job ended before it finished (after {view.done} of "
                             f"{view.budget} evaluations); a job cannot outlive its server. Its evaluations are "
                             "stored: optimize resumes from them"))
            return view
        return None

    def stop(self, job_id: str, reason: str = "stopped") -> bool:
        j = self._jobs.get(job_id)
        if j is None or not j.view.active or j.task is None:
            return False
        self._set(j, message=reason)
        j.stopped = True  # asked to stop: "cancelled", also if the server shuts down meanwhile
        j.task.cancel(reason)
        return True

    def stop_kernel(self, path: str, name: str, kind: str | None = None, reason: str = "stopped") -> list[str]:
        ids = [v.id for v in self.for_kernel(path, name, kind)]
        return [i for i in ids if self.stop(i, reason)]

    def stop_token(self, token: Any) -> bool:
        for j in self._jobs.values():
            if j.view.token is not None and str(j.view.token) == str(token) and j.view.active:
                return self.stop(j.view.id, "cancelled from the progress UI")
        return False

    async def shutdown(self) -> bool:
        """Cancel every job and wait for them (10 s at most); they end "interrupted" (their
        evaluations are stored: a later search resumes). True when some were running."""
        self._closing = True
        tasks = [j.task for j in self._jobs.values() if j.task is not None and not j.task.done()]
        for t in tasks:
            t.cancel("server shutting down")
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        return bool(tasks)

    # -- concurrency limit ------------------------------------------------------------------

    def _full(self) -> bool:
        return self._running >= self.settings().max_jobs

    async def _acquire(self) -> None:
        loop = asyncio.get_running_loop()
        while self._full():
            fut = loop.create_future()
            self._waiters.append(fut)
            try:
                await fut
            finally:
                if fut in self._waiters:
                    self._waiters.remove(fut)
        self._running += 1

    def wake(self) -> None:
        """Queued jobs re-check the limit (it may have been raised)."""
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)

    def _release(self) -> None:
        self._running = max(0, self._running - 1)
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                break

    # -- starting jobs ----------------------------------------------------------------------

    def _new(self, kind: str, unit: Unit, budget: int, settings: Settings | None = None
             ) -> tuple[_Job | None, str | None]:
        """A registered job, or (None, reason) when refused."""
        existing = self.for_kernel(unit.path, unit.kernel.name, kind)
        if existing:
            return self._jobs[existing[0].id], None
        if self._full() and not self.settings().queue_jobs:
            n = self._running
            return None, (f"{n} job{'s' if n != 1 else ''} already running (kf.maxJobs = "
                          f"{self.settings().max_jobs}); stop one or wait")
        jid = new_job_id(kind)
        view = JobView(id=jid, kind=kind, path=os.path.realpath(unit.path), kernel=unit.kernel.name,  # type: ignore[arg-type]
                       state="queued", budget=budget, token=f"kf-{jid}", started=time.time())
        job = _Job(view, settings=settings, record=self._record_path(unit.path, jid) if kind == "optimize" else None)
        self._jobs[jid] = job
        self.state.set_job(view)
        if kind == "optimize" and job.record is not None:
            self._write_record(job)
            self._prune(os.path.dirname(job.record))
        return job, None

    def optimize_refusal(self, unit: Unit, settings: Settings | None = None) -> Refusal | None:
        """Why a search of this kernel cannot start (nothing to try: no `@kf tune` lines and
        no LLM; a stub and no LLM), or None. Instant: a front asks it before any other work.
        A kernel already being optimized is never refused: its running job is the answer."""
        settings = settings or self.settings()
        if self.for_kernel(unit.path, unit.kernel.name, "optimize"):
            return None
        return nothing_to_try(unit, bool(settings.llm.base_url), self.front,
                              declined=bool(llm_endpoints(self.settings().llm)))

    def start_optimize(self, unit: Unit, budget: int | None = None, eval_seconds: float | None = None,
                       settings: Settings | None = None) -> tuple[JobView | None, str | None]:
        """Start (or find) the kernel's search. Returns (job, None) or (None, reason): a
        search with nothing to try is refused here, before any job exists (`optimize_refusal`).
        `settings`: this call's (an LLM endpoint it chose by name); default the server's."""
        settings = settings or self.settings()
        refusal = self.optimize_refusal(unit, settings)
        if refusal is not None:
            return None, refusal.message
        config = search_config(settings, budget, eval_seconds)
        job, err = self._new("optimize", unit, config.budget.evaluations, settings)
        if job is None:
            return None, err
        if job.task is None:
            job.task = self._spawn(job, lambda: self._optimize(job, unit, config))
        return job.view, None

    def start_benchmark(self, unit: Unit) -> tuple[JobView | None, str | None]:
        job, err = self._new("benchmark", unit, 1)
        if job is None:
            return None, err
        if job.task is None:
            job.task = self._spawn(job, lambda: self._benchmark(job, unit))
        return job.view, None

    # -- running ----------------------------------------------------------------------------

    def _spawn(self, job: _Job, body: Callable[[], Any]) -> asyncio.Task:
        task = asyncio.ensure_future(self._run(job, body))
        task.add_done_callback(lambda t: self._finalize(job, t))
        return task

    def _finalize(self, job: _Job, task: asyncio.Task) -> None:
        """A task cancelled before it ever ran (a queued job stopped at once) still ends."""
        if job.view.active:
            self._set(job, state="interrupted" if self._closing and not job.stopped else
                      "cancelled" if task.cancelled() else "error")
            self.client.notify(JOB_FINISHED, job_payload(job.view, best=None))
            self.client.publish(job.view.path)

    async def _run(self, job: _Job, body: Callable[[], Any]) -> None:
        token = job.view.token or ""
        has_progress = False
        acquired = False
        try:
            if self._full():
                self.client.notify(JOB_STARTED, job_payload(job.view, queued=True))
            await self._acquire()
            acquired = True
            self._set(job, state="running", started=time.time())
            title = f"{'Optimizing' if job.view.kind == 'optimize' else 'Benchmarking'} {job.view.kernel}"
            has_progress = await self.client.progress_begin(token, title, "starting", True)
            if not has_progress:
                self._set(job, token=None)
            self.client.notify(JOB_STARTED, job_payload(job.view))
            best = await body()
            self._set(job, state="done")
            msg = job.view.message or "done"
            if has_progress:  # finished is 100%, also when the space ran out before the budget
                self.client.progress_report(token, msg, 100)
                self.client.progress_end(token, msg)
            self.client.notify(JOB_FINISHED, job_payload(job.view, best=variant_payload(best),
                                                                **self._extra(job)))
        except asyncio.CancelledError:
            v = job.view
            if self._closing and not job.stopped:
                state, reason = "interrupted", _interrupted(v)
            else:
                state, reason = "cancelled", v.message or "stopped"
            self._set(job, state=state, message=reason)
            self._end_live_summary(job, state)
            if state == "interrupted" and v.search:  # the store says so too (the engine wrote "cancelled")
                try:
                    store = self.res.existing_store(v.path)
                    if store is not None and not store.live_owners(v.search):
                        store.set_status(v.search, "interrupted")
                except Exception as e:
                    log.debug("marking %s interrupted: %s", v.search, e)
            if has_progress:
                best = f", best {v.best_speedup:.2f}x (not re-timed)" if (v.best_speedup or 0) > 1.0 else ""
                why = "" if reason in ("stopped", "") else f" ({reason})"
                self.client.progress_end(token, f"stopped after {v.done}/{v.budget} evaluations{best}{why}")
            self.client.notify(JOB_FINISHED, job_payload(
                job.view, best=None if job.stale else self._best_of(job), **self._extra(job)))
        except Exception as e:
            extra: dict[str, Any] = {}
            if isinstance(e, _UserError):
                message = f"kf: {job.view.kernel}: {e}"
                log.warning("job %s: %s", job.view.id, e)
                if "kf.scheduler" in str(e):
                    extra["setting"] = "kf.scheduler"
            else:
                log.error("job %s failed:\n%s", job.view.id, traceback.format_exc())
                message = f"kf: {job.view.kind} of {job.view.kernel} failed: {type(e).__name__}: {e}"
            self._set(job, state="error", message=message)
            said = extra.get("setting") in self._said
            if not said:  # "needs a GPU" once per session, not on every click
                short = getattr(e, "short", None)
                level = "warning" if isinstance(e, _UserError) else "error"
                if short:  # a pop-up line the editor shows whole; the whole message in the log
                    self.client.show(level, f"kf: {short}", detail=message)
                else:
                    self.client.show(level, message)
                if extra.get("setting"):
                    self._said.add(extra["setting"])
            if has_progress:
                self.client.progress_end(token, "failed")
            self.client.notify(JOB_FINISHED, job_payload(job.view, best=None, error=message,
                                                                **self._extra(job), **extra))
        finally:
            self.searches.pop(job.view.id, None)
            if acquired:
                self._release()
            self.client.publish(job.view.path)

    def _end_live_summary(self, job: _Job, status: str) -> None:
        """A search ended by stop or shutdown never reaches its final re-time, so the live
        summary its events kept would stay "running" (views: "so far", no "not re-timed"):
        it takes the job's end status, as the store does."""
        key = kernel_key(job.view.path, job.view.kernel)
        s = self.state.snapshot.searches.get(key)
        if s is not None and s.id == job.view.search and s.status == "running":
            self.state.set_search(key, msgspec.structs.replace(s, status=status))

    def _best_of(self, job: _Job) -> dict | None:
        s = self.state.snapshot.searches.get(kernel_key(job.view.path, job.view.kernel))
        return variant_payload(s.best) if s is not None else None

    async def _optimize(self, job: _Job, unit: Unit, config) -> Any:
        from evolver.descriptors import SEARCH_GRID
        from evolver.engine import Search
        from evolver.tuning import TuningOperator

        settings = job.settings or self.settings()
        k = unit.kernel
        backend, device, device_name, pool = await self._pool_for(unit, settings)
        store = await asyncio.to_thread(self.res.store_for, unit.path)
        operators: list[Any] = [TuningOperator(config.tuning, seed=config.seed)]
        llm_client = None
        if config.llm.base_url:
            from evolver.llm_operator import LLMOperator

            llm_client = WatchedClient(config.llm, lambda f: self._llm_failed(job, f), seed=0)
            operators.append(LLMOperator(config.llm, client=llm_client))
        search = Search(unit, pool, store, config, operators, SEARCH_GRID, backend=backend, device=device,
                        device_name=device_name)
        self.searches[job.view.id] = search
        self._set(job, search=search.key.id)
        held = hold(store.path, search.key.id) if getattr(store, "path", ":memory:") != ":memory:" else None
        key = kernel_key(unit.path, k.name)
        last = [0.0]

        def summary(status: str) -> SearchSummary:
            return summarize(search.key, status, config.budget.evaluations, list(search.variants.values()),
                             list(search.finals))

        def emit(event: Event) -> None:
            try:
                self._on_event(job, key, event, summary, last)
            except Exception:
                log.exception("handling a search event")

        try:
            finished = await search.run(emit)
        finally:
            if held is not None:
                held.release()
            if llm_client is not None:
                try:
                    await llm_client.close()
                except Exception:
                    pass
            for op in operators:
                close = getattr(op, "close", None)
                if close is not None and op is not operators[0]:
                    try:
                        await close()
                    except Exception:
                        pass
        # the final figures (re-timed) from the store
        final = await asyncio.to_thread(load_summary, store, unit.path, k.name, k.code_hash)
        if final is not None:
            self.state.set_search(key, final)
        best = finished.best
        if finished.reason == "error":
            raise _UserError(f"the search of {k.name} could not run: {job.view.message or 'see the log'}")
        note = f"{finished.reason}: {finished.evaluations} evaluations"
        if job.stale:  # its variants apply to the code as it was, not to the file now
            note += (", no best offered: the kernel was edited during the search (its variants apply "
                     "to the code as it was; optimize again)")
            best = None
        else:
            note += f", best {best.speedup:.2f}x" if best is not None and best.speedup else ", no verified improvement"
        if job.failure is not None:
            note += f" (tuning only: {job.failure.summary()})"
        self._set(job, done=finished.evaluations, message=note,
                  best_speedup=best.speedup if best is not None else None if job.stale else job.view.best_speedup)
        return best

    def _on_event(self, job: _Job, key: str, event: Event, summary, last: list[float]) -> None:
        if isinstance(event, SearchError):
            where = f"{os.path.basename(event.file)}:{event.line + 1}: " if event.file and event.line is not None else ""
            log.warning("search %s: %s%s", job.view.kernel, where, event.message)
            self._set(job, message=f"{where}{event.message}")
            return
        if isinstance(event, Finished):
            return
        changes: dict[str, Any] = {}
        if isinstance(event, Progress):
            changes = {"done": event.done, "budget": event.budget, "message": event.message}
            if event.best_speedup is not None:
                changes["best_speedup"] = event.best_speedup
        elif isinstance(event, EvaluationDone):
            changes = {"done": event.done, "budget": event.budget}
        if changes:
            self._set(job, **changes)
        if isinstance(event, (EvaluationDone, NewElite)):
            self.state.set_search(key, summary("running"))
        now = time.monotonic()
        if now - last[0] >= self.progress_interval or isinstance(event, NewElite):
            last[0] = now
            v = job.view
            msg = progress_message(v.done, v.budget, v.best_speedup if (v.best_speedup or 0) > 1.0 else None,
                                   v.message if isinstance(event, Progress) else "")
            msg += self._notes(job)
            report = (msg, percentage(v.done, v.budget))
            if report == job.last_report:  # nothing new to say
                return
            job.last_report = report
            if v.token:
                self.client.progress_report(v.token, msg, report[1])
            self.client.notify(JOB_PROGRESS, job_payload(v, **self._extra(job)))
            self.client.publish(v.path)

    async def _pool_for(self, unit: Unit, settings) -> tuple[str, int, str, Any]:
        """The backend, device and evaluation pool a job on `unit` runs on (a user error
        when the kernel has no spec or no device can run it)."""
        k = unit.kernel
        if k.spec is None:
            raise _UserError(f"kernel {k.name} has no `// @kf` spec: use 'Add benchmark spec' first")
        chosen = await self.res.device_for(k, settings)
        if isinstance(chosen, str):
            short = f"no CUDA GPU here: set kf.scheduler to run {k.name}" if "kf.scheduler" in chosen else None
            raise _UserError(chosen, short)
        backend, device, device_name = chosen
        return backend, device, device_name, await self.res.pool(backend, device, settings, self._warn)

    async def _benchmark(self, job: _Job, unit: Unit) -> None:
        settings = self.settings()
        k = unit.kernel
        backend, device, _, pool = await self._pool_for(unit, settings)
        request = EvalRequest(unit, None, backend, device, EvalOptions(target_seconds=settings.eval_seconds),
                              nonce=time.time_ns() & 0x7FFFFFFF)
        if job.view.token:
            self.client.progress_report(job.view.token, f"compiling and timing {k.name}", None)
        result = await pool.evaluate(request)
        self.state.set_benchmark(kernel_key(unit.path, k.name), Benchmark(k.code_hash, result, time.time()))
        t = result.reference.timing if result.reference else None
        self._set(job, done=1, message=f"{result.verdict.value}" + (f": {t.median * 1e6:.1f} us" if t else
                                                                    f": {result.message}"))
        return None

    # -- what a job must say while it runs ----------------------------------------------------

    def _notes(self, job: _Job) -> str:
        out = ""
        if job.stale:
            out += " - the kernel was edited: these results will not apply to it"
        if job.failure is not None:
            out += f" - tuning only: {job.failure.summary()}"
        return out

    def _say(self, job: _Job) -> None:
        """Report the job's progress now (its notes changed)."""
        v = job.view
        msg = progress_message(v.done, v.budget, v.best_speedup if (v.best_speedup or 0) > 1.0 else None) + \
            self._notes(job)
        job.last_report = (msg, percentage(v.done, v.budget))
        if v.token and v.state == "running":
            self.client.progress_report(v.token, msg, job.last_report[1])
        self.client.notify(JOB_PROGRESS, job_payload(v, **self._extra(job)))

    def _extra(self, job: _Job) -> dict:
        out: dict[str, Any] = {}
        if job.failure is not None:
            out["llmFailure"] = {"kind": job.failure.kind, "message": job.failure.message}
        if job.stale:
            out["stale"] = True
        return out

    def _llm_failed(self, job: _Job, failure: LLMFailure) -> None:
        """The first LLM failure of a job: said once (a message), then in its progress."""
        if job.failure is not None:
            return
        job.failure = failure
        self.client.show("warning", f"kf: optimizing {job.view.kernel}: {failure.summary()}: {failure.message}. "
                                    "The search goes on with tuning only.")
        self._say(job)

    def kernel_changed(self, path: str, name: str, code_hash: str | None) -> None:
        """The editor's text of a kernel now has this hash (None: the kernel is gone). A
        running search of other code is stale: it says so, and offers no best at the end."""
        for v in self.for_kernel(path, name, "optimize"):
            job = self._jobs[v.id]
            live = self.searches.get(v.id)
            if live is None:
                continue
            stale = code_hash != live.reference.kernel.code_hash
            if stale != job.stale:
                job.stale = stale
                if stale:
                    log.info("job %s: kernel %s edited during the search", v.id, name)
                self._say(job)

    async def compile_only(self, unit: Unit) -> None:
        """CUDA with no GPU here: compile the kernel (NVRTC needs none) in a spawned worker;
        the result (compile errors at the user's lines, registers, spills, shared memory)
        becomes the kernel's benchmark, shown in the hover and the diagnostics."""
        from backends.run.local_pool import EvalPool

        key = ("cuda", -1, "compile-only")
        if key not in self.res.pools:
            self.res.pools[key] = self.res.pool_factory("cuda", -1) if self.res.pool_factory else EvalPool("cuda", [-1])
        request = EvalRequest(unit, None, "cuda", -1, EvalOptions(target_seconds=0.01), nonce=time.time_ns() & 0x7FFFFFFF)
        result = await self.res.pools[key].evaluate(request)
        k = unit.kernel
        self.state.set_benchmark(kernel_key(unit.path, k.name), Benchmark(k.code_hash, result, time.time()))
        self.client.publish(unit.path)

    def _warn(self, message: str) -> None:
        self.client.show("warning", f"kf: {message}")


class _UserError(Exception):
    """A job could not run for a reason the user can fix (shown as is; `short`, when given,
    is what a pop-up shows: an editor's message line is one line of ~80 columns, so the
    details go to the log and the job's message)."""

    def __init__(self, message: str, short: str | None = None):
        super().__init__(message)
        self.short = short
