"""Evaluation pool: spawned worker processes, one per device, reused while healthy.

A worker that hangs past its stage's deadline is killed (verdict timeout, naming the
stage); one that dies (a segfaulting kernel) gives verdict crash; either way a fresh
worker is started for the next request and nothing else is lost. Workers are started
with spawn, never fork: forking a process with a thread blocked on stdin (an LSP
server) deadlocks, and a forked CUDA context is unusable.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import queue
import signal
import sys
import tempfile
import threading
import time
from typing import Any

import msgspec

from backends.judge.evidence import COMPILING_MEANWHILE, failed_check
from backends.run import worker
from backends.model import Diagnostic, DeviceInfo, EvalRequest, EvalResult, SkippedSize, Verdict

_encoder = msgspec.msgpack.Encoder()
START_SECONDS = 300.0  # importing a runtime and building the SYCL shim the first time
MAX_CRASHED_SIZES = 4  # sizes kf chose where the original may crash its worker, each then left out


class Cancelled(Exception):
    pass


def _signal_name(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _worker_main(conn, backend: str, device: int, log_path: str | None = None) -> None:
    """A worker ignores Ctrl-C: the terminal sends SIGINT to the whole process group, and
    the parent, not the worker, decides what an interrupt means (it kills its workers).
    Its stderr (a runtime compiler's too) goes to `log_path`: the pool forwards it, and keeps
    its last lines to say what a compiler printed before it crashed. It runs generated code:
    credentials its parent still had are dropped from its environment first, so the compilers
    it starts do not get them either (kf's fronts spawn it without them: kf_lsp/core/secrets.py)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from backends.run.environment import drop_secrets

    drop_secrets(os.environ)
    if log_path:
        try:
            fd = os.open(log_path, os.O_WRONLY | os.O_APPEND)
            os.dup2(fd, 2)
            os.close(fd)
        except OSError:
            pass
    worker.main(conn, backend, device)


LAST_WORDS_BYTES = 4096
LOG_PREFIX = "kf-worker-"  # + backend, "-p" + the owning kf process's pid, "-" + mkstemp's letters, ".log"
_pruned = False


def prune_stale_logs(directory: str | None = None) -> int:
    """Remove the worker logs of kf processes that are gone (killed before they could: a
    `kill -9`, a crash), once per process; a live process's logs are left alone. Returns how
    many were removed."""
    global _pruned
    if directory is None:
        if _pruned:
            return 0
        _pruned = True
    directory = directory or tempfile.gettempdir()
    removed = 0
    try:
        names = [n for n in os.listdir(directory) if n.startswith(LOG_PREFIX) and n.endswith(".log")]
    except OSError:
        return 0
    for name in names:
        owner = name[len(LOG_PREFIX):].split("-")
        pid = next((int(w[1:]) for w in owner[1:2] if w[:1] == "p" and w[1:].isdigit()), None)
        if pid is None or _alive(pid):
            continue
        try:
            os.unlink(os.path.join(directory, name))
            removed += 1
        except OSError:
            pass
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's: alive
        return True
    return True


def _compiler_crash(request: EvalRequest, on_reference: bool, stage: str, how: str, last_words: str,
                    seconds: float) -> EvalResult:
    """A runtime compiler that kills its process (the SYCL compiler on some bfloat16 code) is
    a compile error of what it was compiling, with its last words; the pool starts a fresh
    worker for the next request."""
    unit = request.reference if on_reference or request.candidate is None else request.candidate
    k = unit.kernel
    words = f": {last_words}" if last_words else ""
    message = f"the compiler crashed ({how}) while {stage}{words}"
    diag = Diagnostic(unit.path, k.name_range.start.line, k.name_range.start.column, "error", message,
                      "sycl-rtc" if k.language == "sycl" else "nvrtc")
    verdict = Verdict.REFERENCE_FAILED if on_reference else Verdict.COMPILE_ERROR
    role = "reference" if on_reference else "candidate"
    return EvalResult(verdict, f"{role} does not compile: {message}", [diag], wall_seconds=seconds)


class WorkerProcess:
    """One spawned worker with a pipe; blocking calls, safe to use from one thread at a time."""

    def __init__(self, backend: str, device: int = 0):
        self.backend = backend
        self.device = device
        self._proc: Any = None
        self._conn: Any = None
        self.evaluations = 0
        self.starts = 0
        self._lock = threading.Lock()
        self._busy = False
        self._log_path: str | None = None
        self._log_pos = 0
        self._tail = b""

    @property
    def restarts(self) -> int:
        """Workers started after the first: each one replaced a hung, crashed or faulted worker."""
        return max(0, self.starts - 1)

    def _start(self) -> None:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe(duplex=True)
        self._drop_log()
        try:
            prune_stale_logs()
            fd, self._log_path = tempfile.mkstemp(prefix=f"{LOG_PREFIX}{self.backend}-p{os.getpid()}-", suffix=".log")
            os.close(fd)
        except OSError:
            self._log_path = None
        self._log_pos, self._tail = 0, b""
        proc = ctx.Process(target=_worker_main, args=(child, self.backend, self.device, self._log_path), daemon=True,
                           name=f"kf-{self.backend}-{self.device}")
        proc.start()
        child.close()
        self.starts += 1
        self._proc, self._conn = proc, parent

    def _forward(self) -> None:
        """Copy what the worker wrote to its stderr since last time to ours, keeping the tail."""
        if not self._log_path:
            return
        try:
            if os.path.getsize(self._log_path) <= self._log_pos:
                return
            with open(self._log_path, "rb") as f:
                f.seek(self._log_pos)
                data = f.read()
        except OSError:
            return
        self._log_pos += len(data)
        self._tail = (self._tail + data)[-LAST_WORDS_BYTES:]
        try:
            sys.stderr.write(data.decode("utf-8", "replace"))
            sys.stderr.flush()
        except (OSError, ValueError):
            pass

    def last_words(self, lines: int = 3) -> str:
        """The last lines the worker wrote to stderr (a crashing compiler's message)."""
        self._forward()
        text = self._tail.decode("utf-8", "replace")
        kept = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        return " | ".join(kept[-lines:])

    def _drop_log(self) -> None:
        if self._log_path:
            self._forward()
            try:
                os.unlink(self._log_path)
            except OSError:
                pass
            self._log_path = None

    def alive(self) -> bool:
        return self._proc is not None and self._proc.is_alive()

    def kill(self) -> None:
        with self._lock:
            proc, conn = self._proc, self._conn
            self._proc = self._conn = None
        if proc is not None:
            if proc.is_alive():
                proc.kill()
            proc.join(timeout=5)
        if conn is not None:
            conn.close()
        self._forward()

    def close(self) -> None:
        """Stop the worker. If a thread is waiting on it, only the process is ended here:
        that thread sees it die and cleans up (closing the pipe under it would race)."""
        with self._lock:
            busy, proc, conn = self._busy, self._proc, self._conn
        if busy:
            if proc is not None and proc.is_alive():
                proc.kill()
            return
        if proc is not None and proc.is_alive():
            try:
                conn.send_bytes(_encoder.encode(("stop",)))
                proc.join(timeout=5)
            except (OSError, ValueError):
                pass
        self.kill()
        self._drop_log()

    def _call(self, msg: tuple, cancel: threading.Event | None) -> tuple[str, list, str]:
        """Send `msg`, follow stage messages until a final reply. Returns (kind, payload,
        last stage). On a hang or death the worker is killed and ('timeout'|'died', ...)."""
        with self._lock:
            self._busy = True
        try:
            return self._call_locked(msg, cancel)
        finally:
            with self._lock:
                self._busy = False

    def _call_locked(self, msg: tuple, cancel: threading.Event | None) -> tuple[str, list, str]:
        if not self.alive():
            self.kill()
            self._start()
        proc, conn = self._proc, self._conn
        stage, deadline = "starting the worker", time.monotonic() + START_SECONDS
        try:
            conn.send_bytes(_encoder.encode(msg))
        except (OSError, ValueError):
            self.kill()
            return "died", [_signal_name(proc.exitcode)], stage
        while True:
            if cancel is not None and cancel.is_set():
                self.kill()
                raise Cancelled()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                return "timeout", [], stage
            try:
                ready = conn.poll(min(remaining, 0.1))
            except (OSError, EOFError, ValueError):
                ready = True
            self._forward()
            if not ready:
                if not proc.is_alive():
                    try:
                        if conn.poll():
                            continue
                    except (OSError, EOFError, ValueError):
                        pass
                    code = proc.exitcode
                    self.kill()
                    return "died", [_signal_name(code)], stage
                continue
            try:
                kind, *payload = msgspec.msgpack.decode(conn.recv_bytes())
            except (EOFError, OSError, ValueError):
                proc.join(timeout=5)
                code = proc.exitcode
                self.kill()
                return "died", [_signal_name(code)], stage
            if kind == "stage":
                stage, deadline = payload[0], time.monotonic() + float(payload[1])
                continue
            return kind, payload, stage

    def evaluate(self, request: EvalRequest, cancel: threading.Event | None = None) -> EvalResult:
        self.evaluations += 1
        started = time.perf_counter()
        kind, payload, stage = self._call(("eval", msgspec.to_builtins(request)), cancel)
        if kind in ("timeout", "died") and COMPILING_MEANWHILE in stage and request.options.compile_overlap:
            # the candidate was compiling beside the original's work: either may have hung or
            # crashed the process. Once more with the compile in turn, so the stage says which
            again = msgspec.structs.replace(request, options=msgspec.structs.replace(request.options,
                                                                                       compile_overlap=False))
            return self.evaluate(again, cancel)
        on_reference = "reference" in stage
        skip = self._crashed_at_derived_size(request, kind, payload, stage)
        if skip is not None:  # the original crashed its worker at a size kf chose: on without it
            return self._again_without(request, skip, cancel, started)
        if kind == "result":
            result = worker.decode_result(payload[0])
            if not payload[1]:  # the worker exits by itself after an unhealthy evaluation
                self.kill()
            return result
        if kind in ("timeout", "died"):  # the size, seed and wall time of the run that never returned
            if kind == "timeout" and "Python reference" in stage:  # the user's oracle hung (`@kf reference`)
                verdict, message = (Verdict.REFERENCE_FAILED,
                                    f"timed out while {stage}: the reference is user code and ran past the "
                                    "evaluation's time limit; the worker was killed")
            elif kind == "timeout":
                limit = f" ({request.options.timeout_s:g} s a run)" if request.options.timeout_s > 0 else ""
                verdict, message = ((Verdict.REFERENCE_FAILED, f"the original kernel timed out while {stage}: it ran "
                                     f"past the time limit{limit} and was killed; if it is only slow "
                                     "at this size, raise the limit (`kf bench --timeout S`) or use a smaller size")
                                    if on_reference else (Verdict.TIMEOUT, f"timed out while {stage}; the worker was killed"))
            elif stage.startswith("compiling"):  # the compiler itself crashed: that unit does not compile
                return _compiler_crash(request, on_reference, stage, payload[0], self.last_words(),
                                       time.perf_counter() - started)
            else:
                verdict, message = (Verdict.REFERENCE_FAILED if on_reference else Verdict.CRASH,
                                    f"the evaluation process died ({payload[0]}) while {stage}")
            return EvalResult(verdict, message, checks=failed_check(stage, message),
                              wall_seconds=time.perf_counter() - started)
        self.kill()
        return EvalResult(Verdict.INTERNAL, f"worker error: {payload[0] if payload else kind}")

    @staticmethod
    def _crashed_at_derived_size(request: EvalRequest, kind: str, payload: list, stage: str) -> SkippedSize | None:
        """The size to leave out when the original (never the candidate, nor the user's Python
        reference) crashed or hung its worker at a size kf chose, or poisoned its device there
        (the worker says "resume"); None otherwise. A size already left out is never
        left out again (that would loop)."""
        if kind == "resume":
            skip = msgspec.convert(payload[0], SkippedSize)
        elif kind in ("timeout", "died") and stage.startswith("running the reference ("):
            runs = failed_check(stage, "")
            if not runs or not runs[0].derived:
                return None
            why = (f"it ran past the time limit ({request.options.timeout_s:g} s a run) and was killed"
                   if kind == "timeout" else f"its process died ({payload[0]})")
            skip = SkippedSize(runs[0].sizes, why)
        else:
            return None
        if any(s.sizes == skip.sizes for s in request.options.skip_sizes):
            return None
        return skip

    def _again_without(self, request: EvalRequest, skip: SkippedSize, cancel: threading.Event | None,
                       started: float) -> EvalResult:
        """The evaluation once more in a fresh worker, `skip` left out with the sizes before it;
        after MAX_CRASHED_SIZES such sizes the original's failure is the result."""
        self.kill()  # a worker that asked to resume exits by itself; one that died is gone
        skips = [*request.options.skip_sizes, skip]
        if len(skips) > MAX_CRASHED_SIZES:
            where = "; ".join(", ".join(f"{k}={v}" for k, v in s.sizes.items()) for s in skips)
            message = (f"the original crashed at {len(skips)} sizes kf chose ({where}); at the last: {skip.reason}: "
                       "mark the sizes the kernel needs with `@kf fixed NAME` or `@kf require` what it needs")
            return EvalResult(Verdict.REFERENCE_FAILED, message, wall_seconds=time.perf_counter() - started)
        self.evaluations -= 1  # the same evaluation, continued
        again = msgspec.structs.replace(request, options=msgspec.structs.replace(request.options, skip_sizes=skips))
        result = self.evaluate(again, cancel)
        return msgspec.structs.replace(result, wall_seconds=time.perf_counter() - started)

    def peak_bandwidth(self) -> float | None:
        kind, payload, _ = self._call(("peak",), None)
        return float(payload[0]) if kind == "peak" and payload[0] is not None else None

    def cache_stats(self) -> dict[str, dict[str, int]]:
        """The worker's cache counters: {"compile": {...}, "reference": {...}} ({} if it is not running)."""
        if not self.alive():
            return {}
        kind, payload, _ = self._call(("stats",), None)
        return payload[0] if kind == "stats" else {}

    def list_devices(self) -> list[DeviceInfo]:
        kind, payload, _ = self._call(("devices", self.backend), None)
        if kind != "devices":
            return []
        return [msgspec.convert(d, DeviceInfo) for d in payload[0]]


class EvalPool:
    """Workers for one backend's devices; evaluations run concurrently, one per worker.

    `evaluate_sync` for scripts and the command line; `evaluate` for asyncio callers
    (the search, the language server): the wait happens in a thread, and cancelling the
    awaiting task kills the worker running it.
    """

    def __init__(self, backend: str, devices: list[int] | None = None):
        self.backend = backend
        self.workers = [take_spare(backend, d) or WorkerProcess(backend, d) for d in (devices or [0])]
        self._idle: queue.Queue[WorkerProcess] = queue.Queue()
        for w in self.workers:
            self._idle.put(w)

    @property
    def size(self) -> int:
        return len(self.workers)

    def evaluate_sync(self, request: EvalRequest, cancel: threading.Event | None = None) -> EvalResult:
        w = self._idle.get()
        try:
            req = msgspec.structs.replace(request, backend=self.backend, device=w.device)
            return w.evaluate(req, cancel)
        finally:
            self._idle.put(w)

    async def evaluate(self, request: EvalRequest) -> EvalResult:
        cancel = threading.Event()
        inner = asyncio.ensure_future(asyncio.to_thread(self.evaluate_sync, request, cancel))
        try:
            return await asyncio.shield(inner)
        except asyncio.CancelledError:
            cancel.set()  # the thread kills the worker and ends with Cancelled: collect it
            inner.add_done_callback(lambda f: f.cancelled() or f.exception())
            raise

    def close(self) -> None:
        for w in self.workers:
            w.close()

    def __enter__(self) -> "EvalPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# A worker that listed the devices has already paid for its process start and the runtime's
# import (seconds on a loaded machine); the pool created next for the same backend and
# device 0 takes it over instead of starting another. Unclaimed, it is stopped after a while.
SPARE_SECONDS = 120.0
_spares: dict[tuple[str, int], tuple[WorkerProcess, threading.Timer]] = {}
_spares_lock = threading.Lock()


def _keep_spare(w: WorkerProcess) -> None:
    key = (w.backend, w.device)
    timer = threading.Timer(SPARE_SECONDS, _drop_spare, (key, w))
    timer.daemon = True
    with _spares_lock:
        old = _spares.pop(key, None)
        _spares[key] = (w, timer)
    timer.start()
    if old is not None:
        old[1].cancel()
        old[0].close()


def _drop_spare(key: tuple[str, int], w: WorkerProcess) -> None:
    with _spares_lock:
        if _spares.get(key, (None,))[0] is w:
            del _spares[key]
        else:
            return
    w.close()


def take_spare(backend: str, device: int) -> WorkerProcess | None:
    """The idle worker left by probe_devices for this backend and device, if it is still alive."""
    with _spares_lock:
        entry = _spares.pop((backend, device), None)
    if entry is None:
        return None
    w, timer = entry
    timer.cancel()
    if not w.alive():
        w.close()
        return None
    return w


def probe_devices(backend: str, timeout: float = 120.0) -> list[DeviceInfo]:
    """Devices of a backend, listed from a spawned process (keeps runtimes out of the caller's
    process). The process is kept for the next EvalPool on device 0 (take_spare)."""
    w = WorkerProcess(backend)
    result: list[DeviceInfo] = []
    t = threading.Thread(target=lambda: result.extend(w.list_devices()), daemon=True)
    t.start()
    t.join(timeout)
    if t.is_alive() or not result or not w.alive():
        w.close()
    else:
        _keep_spare(w)
    return result
