"""The worker's compile-ahead helper (backends/judge/ahead.py): a child process with a device
session of its own that compiles the candidates queued by the worker into the disk cache
(compile_cache.compile_unit), one after another.

A process, not a thread: the SYCL runtime compiles one program at a time per process (two
threads' compiles took as long as both in turn), and a process can be stopped outright
(SIGSTOP) while the worker times trials, and let go on after (SIGCONT). It dies with the
worker (PR_SET_PDEATHSIG, and the end of its input); a helper that fails to start or dies
is dropped and the worker compiles everything itself, as without it.

    worker -> helper (stdin, JSON lines): {"queue": [[key, CompileUnit], ...]} | {"drop": key}
    helper -> worker (stdout, lines): "start KEY" | "done KEY"
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time

import msgspec

from backends.judge import compile_cache
from backends.session import CompileFailure, CompileUnit, DeviceSession

MIN_COMPILE_SECONDS = 1.0  # compile ahead only where a candidate's compile took this long: a hit of the
# SYCL runtime's cache still preprocesses the text for its key (0.3-0.5 s idle, 0.7-1.6 s loaded)
HUNG_SECONDS = 120.0  # a compile ahead running this long is stopped (a hostile text can hang a compiler);
# the worker meets the same text with its own time limit if the search asks for it
EVENTS_KEPT, DONE_KEPT = 4096, 4096
MAX_STARTS = 3  # a helper that died (a compiler crash on a hostile text) is started again, this often in all


def idle_core() -> bool:
    """A core nothing else uses (1-minute load average below the core count): on a saturated
    host the helper's compiles only take CPU from the worker's (measured on the shared 2-core
    host at load 11-12: reduction 5.3 vs 6.7 and 5.1 vs 5.6 evaluations/min with and without it).
    KF_COMPILE_AHEAD=1 skips this test."""
    if os.environ.get("KF_COMPILE_AHEAD") == "1":
        return True
    try:
        return os.getloadavg()[0] < _cores()
    except OSError:
        return True


def _cores() -> int:
    """The cores this process may run on (a container's or taskset's share, not the host's)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class Helper:
    """The worker's side (an ahead.AheadCompiler)."""

    def __init__(self, backend: str, device: int):
        self.backend = backend
        self.device = device
        self.proc: subprocess.Popen | None = None
        self.failed = False
        self.busy: str | None = None  # the key being compiled now
        self.busy_since = 0.0
        self.starts = 0
        self.done: set[str] = set()
        self.stopped = False
        self.stopped_at = 0.0
        self.last_compile: float | None = None  # seconds of the last candidate compiled by the worker itself
        # (event, key, time), the latest only: for tests and figures (a server's worker lives for days)
        self.events: collections.deque[tuple[str, str, float]] = collections.deque(maxlen=EVENTS_KEPT)
        self._cv = threading.Condition()

    # -- the process ------------------------------------------------------------------

    def _start(self) -> bool:
        if self.proc is not None and self.proc.poll() is None:
            return True  # (one hung on a text is stopped by its watchdog, _watch, and started again here)
        if self.failed or self.starts >= MAX_STARTS:  # the worker compiles alone
            self.failed = True
            return False
        self.starts += 1
        with self._cv:
            self.busy = None
        try:
            self.proc = subprocess.Popen([sys.executable, "-m", "backends.run.compile_ahead", self.backend,
                                          str(self.device), str(os.getpid())], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True, bufsize=1,
                                         start_new_session=True)  # a terminal's Ctrl-C is the search's
            # to handle (it stops the worker, and the helper with it), never a traceback of the helper's;
            # and the shell's `fg` after Ctrl-Z (SIGCONT to the foreground group) never wakes a helper
            # the worker stopped for its timed trials
        except OSError:
            self.failed = True
            return False
        threading.Thread(target=self._read, args=(self.proc,), name="kf-ahead-reader", daemon=True).start()
        threading.Thread(target=self._watch, args=(self.proc,), name="kf-ahead-watch", daemon=True).start()
        return True

    def _watch(self, proc: subprocess.Popen) -> None:
        """Stop a compile ahead running past HUNG_SECONDS when it happens, not at the next
        request: after a search's last one (the editor's server keeps its worker) a text that
        hangs the compiler would take a core for as long as the worker lives."""
        while proc.poll() is None:
            with self._cv:
                self._cv.wait(min(1.0, HUNG_SECONDS))
                if proc is not self.proc:
                    return
                hung = self.busy if self.busy and not self.stopped and \
                    time.monotonic() - self.busy_since > HUNG_SECONDS else None
            if hung is not None:
                self._kill_hung(proc, hung)
                return

    def _kill_hung(self, proc: subprocess.Popen, key: str) -> None:
        """The helper is stuck on one text: it goes (the next submit starts another, within MAX_STARTS)."""
        proc.kill()
        proc.wait()
        with self._cv:
            self.events.append(("hung", key, time.monotonic()))
            self._cv.notify_all()

    def _read(self, proc: subprocess.Popen) -> None:
        for line in proc.stdout:
            what, _, key = line.strip().partition(" ")
            with self._cv:
                if what == "start":
                    self.busy = key
                    self.busy_since = time.monotonic()
                elif what in ("done", "fail"):
                    self.busy = None
                    if what == "done":  # a failed compile is the worker's to report
                        if len(self.done) >= DONE_KEPT:  # a long-lived worker: forget the old ones
                            self.done.clear()  # (a forgotten one compiles in the worker, a cache hit)
                        self.done.add(key)
                self.events.append((what, key, time.monotonic()))
                self._cv.notify_all()
        with self._cv:
            if proc is self.proc:  # not a helper stopped and replaced meanwhile
                self.busy = None
            self._cv.notify_all()

    def _send(self, obj: dict) -> None:
        try:
            self.proc.stdin.write(json.dumps(obj) + "\n")
            self.proc.stdin.flush()
        except (OSError, ValueError, AttributeError):
            pass  # dead: _start decides whether to start another

    def _key(self, session: DeviceSession, unit: CompileUnit) -> str | None:
        """Which compile of the helper's makes `unit`'s compile here a cache hit: kf's disk cache
        (the normal form: CUDA), else the exact unit (the SYCL runtime's own persistent cache,
        keyed on the exact text and options; inherited SYCL_CACHE_DIR)."""
        if getattr(session, "artifact", None) is not None:
            if os.environ.get("KF_COMPILE_CACHE") == "0":
                return None
            return compile_cache.normal_key(unit, getattr(session, "artifact_salt", lambda: "")())
        if os.environ.get("SYCL_CACHE_PERSISTENT") != "1":
            return None  # nothing the worker could load the helper's work from
        return hashlib.sha256(msgspec.msgpack.encode(unit)).hexdigest()

    # -- ahead.AheadCompiler ----------------------------------------------------------

    def observe(self, seconds: float) -> None:
        self.last_compile = seconds

    def submit(self, session: DeviceSession, units: list[CompileUnit]) -> None:
        if not idle_core():
            if self.proc is not None:
                self._send({"queue": []})
            return
        quick = self.last_compile is not None and self.last_compile < MIN_COMPILE_SECONDS
        queue = []
        for u in [] if quick else units:  # quick compiles: a cache hit would cost about as much
            key = self._key(session, u)
            if key is not None and key not in self.done:
                queue.append([key, msgspec.to_builtins(u)])
        if self._start() and (queue or units):
            self._send({"queue": queue})

    def settle(self, session: DeviceSession, unit: CompileUnit, timeout: float) -> str:
        if self.proc is None:
            return ""
        key = self._key(session, unit)
        if key is None:
            return ""
        with self._cv:
            if key in self.done:
                return "ahead"
            if self.busy != key:
                self._send({"drop": key})
                return ""
            self.resume()
            # never longer than the helper may take on one text: a text that hangs the helper's
            # compile (one reading the helper's own pipes through /proc/self/fd) may compile here
            limit = min(timeout, max(0.0, self.busy_since + HUNG_SECONDS - time.monotonic()))
            self._cv.wait_for(lambda: self.busy != key, limit)
            if self.busy == key and self.proc is not None:
                self._kill_hung(self.proc, key)
            return "waited" if key in self.done else ""

    def pause(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGSTOP)
            except OSError:
                return
            self.stopped = True
            self.stopped_at = time.monotonic()
            _wait_stopped(self.proc.pid)
            self.events.append(("stop", "", time.monotonic()))

    def resume(self) -> None:
        if self.stopped and self.proc is not None:
            try:
                os.kill(self.proc.pid, signal.SIGCONT)
            except OSError:
                pass
            self.stopped = False
            with self._cv:  # time stopped is not time spent compiling (HUNG_SECONDS)
                self.busy_since += time.monotonic() - self.stopped_at
            self.events.append(("cont", "", time.monotonic()))

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stopped = False


def _wait_stopped(pid: int, limit: float = 10.0) -> None:
    """Return once every thread of `pid` is stopped (a thread stops when it next runs; on a
    loaded machine that can take milliseconds)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if all(s in ("T", "t", "Z", "X") for s in thread_states(pid)):
            return
        time.sleep(0.001)


def thread_states(pid: int) -> list[str]:
    """The scheduler state of each thread of `pid` ("T": stopped); [] when it is gone."""
    out = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for t in tasks:
        try:
            with open(f"/proc/{pid}/task/{t}/stat") as f:
                out.append(f.read().rsplit(")", 1)[1].split()[0])
        except (OSError, IndexError):
            pass
    return out


# -- the helper process ------------------------------------------------------------------


def _die_with_parent() -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def main(backend: str, device: int, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as the worker (local_pool._worker_main)
    _die_with_parent()
    if os.getppid() != parent:
        return
    # nothing a runtime prints may mix with the protocol: the protocol gets a descriptor of its
    # own, and descriptor 1 (where the runtime's C++ code writes, e.g. SYCL_UR_TRACE's lines, in
    # chunks that need not end a line) becomes stderr, as in the worker
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    # likewise the queue: a text that includes "/dev/stdin" would read (and swallow) the worker's
    # messages and wait for more; it reads nothing, as in the worker
    inp = os.fdopen(os.dup(0), "r")
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    from backends.run.sessions import open_session

    session = open_session(backend, device)
    queue: list[tuple[str, CompileUnit]] = []
    cv = threading.Condition()
    closed = False

    def read() -> None:
        nonlocal closed, queue
        for line in inp:
            msg = json.loads(line)
            with cv:
                if "queue" in msg:
                    queue = [(k, msgspec.convert(u, CompileUnit)) for k, u in msg["queue"]]
                elif "drop" in msg:
                    queue = [(k, u) for k, u in queue if k != msg["drop"]]
                cv.notify_all()
        with cv:
            closed = True
            cv.notify_all()

    threading.Thread(target=read, daemon=True).start()
    while True:
        with cv:
            cv.wait_for(lambda: queue or closed)
            if closed:
                return
            key, unit = queue.pop(0)
        print("start", key, file=out, flush=True)
        try:
            ok = not isinstance(compile_cache.compile_unit(session, unit), CompileFailure)
        except Exception as e:  # the worker compiles it itself
            print(f"kf compile-ahead: {type(e).__name__}: {e}", file=sys.stderr)
            ok = False
        print("done" if ok else "fail", key, file=out, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
