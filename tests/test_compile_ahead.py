"""Compiles started ahead (backends/judge/ahead.py, backends/run/compile_ahead.py) on the real
SYCL runtime (CPU device): the helper process is stopped during every timed trial, what it
compiled is what the next candidate's compile finds, and only the same compile counts."""

from __future__ import annotations

import msgspec
import pytest

from backends.judge import ahead
from backends.judge.harness import evaluate
from backends.judge.launch import compile_unit_for
from backends.kernel.load import load_unit
from backends.model import EvalOptions, EvalRequest
from backends.run.compile_ahead import Helper, thread_states
from backends.session import CompileUnit

from evalcases import EXAMPLES, KERNELS

GUARD_S = 180.0  # a guard for a helper starting and compiling on a loaded 2-core machine, not a pace:
# every wait below returns as soon as what it waits for happens
QUICK = EvalOptions(seeds=1, check_extra_sizes=False, min_trials=3, max_trials=6, target_seconds=0.05,
                    warmup_seconds=0.01, profile=False, timeout_s=10.0)  # the trials are what matters here


def _good(wg: int):
    return load_unit(str(KERNELS / "sycl" / "good.cpp"), tunables={"WG_SIZE": wg})


@pytest.fixture()
def session():
    from backends.sycl.session import SyclSession

    return SyclSession(0)


def test_a_compile_ahead_never_runs_beside_a_timed_trial_and_the_next_candidate_finds_it(session, monkeypatch):
    monkeypatch.setenv("KF_COMPILE_AHEAD", "1")  # also on a loaded CI machine (no idle core)
    ref = load_unit(str(EXAMPLES / "sycl" / "saxpy.cpp"))
    helper = Helper("sycl", 0)
    ahead.install(helper)
    seen: list[str] = []
    timed = session.timed_launch

    def watched(*args, **kwargs):
        seen.extend(thread_states(helper.proc.pid))  # every thread of the helper, at every timed trial
        return timed(*args, **kwargs)

    monkeypatch.setattr(session, "timed_launch", watched)
    try:
        first, _ = evaluate(session, EvalRequest(ref, _good(64), "sycl", 0, QUICK, nonce=11, ahead=[_good(256)]))
        assert first.ok, first.message
        assert "compiled ahead" not in first.message
        with helper._cv:  # the helper has taken the next candidate up (on a loaded machine its start-up
            # can outlast the first evaluation; a candidate it has not started is the worker's to compile)
            assert helper._cv.wait_for(lambda: helper.busy is not None or helper.done, GUARD_S), list(helper.events)
        second, _ = evaluate(session, EvalRequest(ref, _good(256), "sycl", 0, QUICK, nonce=12, ahead=[]))
    finally:
        ahead.install(None)
        helper.close()
    assert second.ok, second.message
    # the helper's compile was the one used, and the verdict says so in words a user reads
    assert "the candidate was compiled ahead by kf's helper process while the previous candidate was checked; " \
        in second.message, second.message
    assert "(ahead)" not in second.message and "(waited)" not in second.message
    assert [e for e, _, _ in helper.events if e in ("start", "done")] == ["start", "done"]
    assert seen and set(seen) == {"T"}, helper.events  # stopped (SIGSTOP) during every timed trial of both evaluations


def test_only_the_same_compile_counts_as_done_ahead(monkeypatch):
    """A compile ahead stands for exactly the unit it compiled: on SYCL (the runtime's cache is
    keyed on the exact text) a comment or a flag more is another compile; where kf's disk cache
    holds the compiler's output (CUDA), text differing only in comments/whitespace is the same,
    differing code or flags never."""
    unit = compile_unit_for(_good(64), "candidate")[0]

    class Runtime:  # what the helper needs of a session: whether compiles land in kf's disk cache
        pass

    class Disk:
        artifact = from_artifact = object()

        @staticmethod
        def artifact_salt() -> str:
            return "salt"

    commented = msgspec.structs.replace(unit, source=unit.source.replace("size_t stride", "/* ahead */ size_t  stride"))
    recoded = msgspec.structs.replace(unit, source=unit.source.replace("out[i] = sycl::fma", "out[i] = -sycl::fma"))
    flagged = msgspec.structs.replace(unit, options=list(unit.options) + ["-DEXTRA=1"])
    h = Helper("sycl", 0)
    monkeypatch.setenv("SYCL_CACHE_PERSISTENT", "1")
    exact = {u.source + str(u.options): h._key(Runtime(), u) for u in (unit, commented, recoded, flagged)}
    assert len(set(exact.values())) == 4
    assert h._key(Runtime(), CompileUnit(**msgspec.structs.asdict(unit))) == h._key(Runtime(), unit)
    assert h._key(Disk(), commented) == h._key(Disk(), unit)
    assert h._key(Disk(), recoded) != h._key(Disk(), unit)
    assert h._key(Disk(), flagged) != h._key(Disk(), unit)
    monkeypatch.setenv("SYCL_CACHE_PERSISTENT", "0")  # no cache the worker could find the helper's work in
    assert h._key(Runtime(), unit) is None
    assert h.proc is None  # nothing started for keys alone


def test_a_helper_hung_on_one_text_or_dead_is_replaced_a_bounded_number_of_times(monkeypatch):
    """A hostile text can hang the compiler or kill the helper: a compile ahead running past
    HUNG_SECONDS is stopped and a new helper started, and one that died is started again, at
    most MAX_STARTS in all; after that the worker compiles alone (nothing stays stuck)."""
    import time

    from backends.run import compile_ahead

    monkeypatch.setenv("KF_COMPILE_AHEAD", "1")
    h = Helper("sycl", 0)
    try:
        assert h._start()
        first = h.proc
        h.busy, h.busy_since = "a-hanging-text", time.monotonic() - compile_ahead.HUNG_SECONDS - 1
        with h._cv:  # the watchdog stops the hung helper ...
            h._cv.wait_for(lambda: ("hung", "a-hanging-text") in [(e, k) for e, k, _ in h.events]
                           and h.busy is None, GUARD_S)
        assert h._start()  # ... and another takes its place
        assert first.poll() is not None and h.proc is not first and h.proc.poll() is None
        assert h.busy is None and ("hung", "a-hanging-text") in [(e, k) for e, k, _ in h.events]
        h.proc.kill()  # died (as on a compiler crash): started again, up to MAX_STARTS in all
        h.proc.wait()
        assert h._start() and h.starts == compile_ahead.MAX_STARTS
        h.proc.kill()
        h.proc.wait()
        assert not h._start() and h.failed  # the worker compiles alone from here on
        h.submit(None, [])
        assert h.starts == compile_ahead.MAX_STARTS
    finally:
        h.close()


def test_ctrl_c_to_the_process_group_leaves_the_helper_quiet_and_working(capfd):
    """Ctrl-C in a terminal sends SIGINT to kf's whole process group, the helper included: kf
    decides what it means (it ends its workers, and each helper dies with its worker). The
    helper, like the worker, ignores it: no KeyboardInterrupt traceback on the user's terminal
    and no dead helper to start again mid-search."""
    import os
    import signal

    unit = compile_unit_for(_good(64), "candidate")[0]
    other = compile_unit_for(_good(128), "candidate")[0]
    h = Helper("sycl", 0)
    try:
        assert h._start()

        def compiled(key: str) -> bool:  # the helper says "done"/"fail" for key, or dies
            with h._cv:
                h._send({"queue": [[key, msgspec.to_builtins(u)] for u in [unit if key == "a" else other]]})
                h._cv.wait_for(lambda: any(k == key and e in ("done", "fail") for e, k, _ in h.events)
                               or h.proc.poll() is not None, GUARD_S)
                return any(k == key and e in ("done", "fail") for e, k, _ in h.events)

        assert compiled("a")  # its SYCL session is open (the runtime's own signal handlers installed)
        os.kill(h.proc.pid, signal.SIGINT)
        assert compiled("b"), "the helper died of Ctrl-C"
        assert h.proc.poll() is None and h.starts == 1
    finally:
        h.close()
    err = capfd.readouterr().err
    assert "KeyboardInterrupt" not in err and "Traceback" not in err, err


def test_the_peak_bandwidth_is_measured_with_the_helper_stopped(session, monkeypatch, tmp_path):
    """The device's peak copy bandwidth (measured once, then kept in KF_CACHE_DIR/peaks.json and
    behind every roofline fraction and 'above the peak' note) is a timed measurement too: a
    compile ahead running beside it would leave a low peak on disk for good."""
    from backends.judge import harness

    monkeypatch.setenv("KF_COMPILE_AHEAD", "1")
    monkeypatch.setenv("KF_CACHE_DIR", str(tmp_path))  # no peak measured before
    monkeypatch.setattr(harness, "_PEAKS", {})
    helper = Helper("sycl", 0)
    assert helper._start()
    ahead.install(helper)
    seen: list[str] = []
    timed = session.timed_launch

    def watched(*args, **kwargs):
        seen.extend(thread_states(helper.proc.pid))
        return timed(*args, **kwargs)

    monkeypatch.setattr(session, "timed_launch", watched)
    try:
        assert harness.peak_bandwidth(session) > 0
    finally:
        ahead.install(None)
        helper.close()
    assert seen and set(seen) == {"T"}, seen


def test_what_the_runtime_prints_in_the_helper_never_reaches_its_protocol(session, monkeypatch):
    """The runtime's own output (SYCL_UR_TRACE, a variable users set to debug the runtime, writes
    every call to descriptor 1 from C++, buffered in chunks that need not end a line) must not
    mix with the helper's "start KEY"/"done KEY" lines: a line glued to a trace chunk is lost,
    and a worker waiting for a "done" that never comes waits out its whole compile limit."""
    monkeypatch.setenv("KF_COMPILE_AHEAD", "1")
    monkeypatch.setenv("SYCL_UR_TRACE", "2")  # the helper inherits it; this process's runtime is already up
    unit = compile_unit_for(_good(128), "candidate")[0]
    helper = Helper("sycl", 0)
    try:
        helper.submit(session, [unit])
        key = helper._key(session, unit)
        with helper._cv:
            assert helper._cv.wait_for(lambda: key in helper.done, GUARD_S), list(helper.events)[:5]
    finally:
        helper.close()
    assert [e for e, _, _ in helper.events] == ["start", "done"], list(helper.events)[:5]


def _hostile(tmp_path, include: str, wg: int = 64):
    """good.cpp with an #include of `include` in front (a generated text may include anything)."""
    src = (KERNELS / "sycl" / "good.cpp").read_text()
    path = tmp_path / f"hostile_{abs(hash(include)) % 10**6}_{wg}.cpp"
    path.write_text(f'#include "{include}"\n' + src)
    return compile_unit_for(load_unit(str(path), tunables={"WG_SIZE": wg}), "candidate")[0]


def test_a_text_that_reads_the_helpers_stdin_does_not_stop_the_compiles_after_it(session, monkeypatch, tmp_path):
    """`#include "/dev/stdin"` in the worker reads nothing (its stdin is empty); in the helper it
    read the worker's queue messages as source and waited for more: the helper was stuck and every
    candidate after it was compiled by the worker alone."""
    monkeypatch.setenv("KF_COMPILE_AHEAD", "1")
    hostile, nxt = _hostile(tmp_path, "/dev/stdin"), compile_unit_for(_good(32), "candidate")[0]
    helper = Helper("sycl", 0)
    try:
        helper.submit(session, [hostile])
        with helper._cv:
            assert helper._cv.wait_for(lambda: helper.busy is not None or helper.done, GUARD_S)
        helper.submit(session, [nxt])
        with helper._cv:
            helper._cv.wait_for(lambda: helper._key(session, nxt) in helper.done, GUARD_S)
    finally:
        helper.close()
    assert helper._key(session, nxt) in helper.done, helper.events


def test_a_compile_ahead_that_hangs_is_stopped_on_time_and_the_worker_does_not_wait_it_out(session, monkeypatch,
                                                                                              tmp_path):
    """A text the helper's compile never finishes (here an #include of a FIFO nobody writes): the
    worker, at that candidate's turn, waits no longer than HUNG_SECONDS of the helper's compile
    and stops it, then compiles the text itself under its own limit; and a hung compile ahead the
    search never asks for is stopped when its time is up, not at some later request (there may be
    none: the editor's server keeps its worker after a search)."""
    import os
    import time

    from backends.run import compile_ahead

    monkeypatch.setenv("KF_COMPILE_AHEAD", "1")
    monkeypatch.setattr(compile_ahead, "HUNG_SECONDS", 1.0)
    fifo = tmp_path / "never-written"
    os.mkfifo(fifo)
    first, second = _hostile(tmp_path, str(fifo), 64), _hostile(tmp_path, str(fifo), 128)
    helper = Helper("sycl", 0)
    try:
        helper.submit(session, [first])
        with helper._cv:
            assert helper._cv.wait_for(lambda: helper.busy is not None, GUARD_S)
        stuck = helper.proc
        assert helper.settle(session, first, 30.0) == ""  # the worker's turn: it compiles the text itself
        assert stuck.poll() is not None and ("hung", helper._key(session, first)) in [(e, k) for e, k, _ in helper.events]
        helper.submit(session, [second])  # another helper; no request after this one
        with helper._cv:
            assert helper._cv.wait_for(lambda: helper.busy is not None, GUARD_S)
        deadline = time.monotonic() + GUARD_S
        while helper.proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        helper.close()
    assert ("hung", helper._key(session, second)) in [(e, k) for e, k, _ in helper.events], helper.events


def test_the_shells_fg_does_not_wake_a_helper_stopped_for_timing(monkeypatch):
    """Ctrl-Z on `kf optimize` and then `fg`: the shell sends SIGCONT to the whole foreground
    process group; a helper in the worker's group went on compiling beside the rest of the
    timed trials. Only the worker stops and continues it."""
    import os
    import signal
    import time

    monkeypatch.setenv("KF_COMPILE_AHEAD", "1")
    helper = Helper("sycl", 0)
    try:
        assert helper._start()
        helper.pause()
        os.killpg(os.getpgrp(), signal.SIGCONT)  # what `fg` does (to this test's group; a no-op for running processes)
        time.sleep(0.2)
        states = thread_states(helper.proc.pid)
        helper.resume()
    finally:
        helper.close()
    assert states and set(states) == {"T"}, states
