"""Compiles started ahead: the candidates a search will ask next (EvalRequest.ahead) are
compiled by a helper beside the evaluation, so that when their turn comes the compile is a
hit of the disk cache (compile_cache.compile_unit). On a CPU device a compile takes seconds
(the SYCL run-time compiler: 3-8 s for the reduction example on 2 cores) and dominates a
tuning evaluation; compiled ahead it overlaps the previous candidate's verification.

Never while a trial is timed: `quiet()` (around the timing loop) stops the helper before the
first timed trial and lets it go on after the last one (the worker's helper is a process:
SIGSTOP/SIGCONT), so a concurrent compile can never slow either kernel's trials.

The helper itself lives in the pool's worker (backends/run/compile_ahead.py) and is installed
here; without one (evaluations in-process, KF_COMPILE_AHEAD=0) everything below does nothing.
What the helper compiles is only a cache entry under the unit's normal-form key: a candidate
still loads afresh and is judged as every candidate is.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator, Protocol

from backends.session import CompileUnit, DeviceSession


class AheadCompiler(Protocol):
    def submit(self, session: DeviceSession, units: list[CompileUnit]) -> None:
        """Compile these next (replacing what was queued and not started); none: get ready."""

    def settle(self, session: DeviceSession, unit: CompileUnit, timeout: float) -> str:
        """Before `unit` is compiled here: if the helper is compiling it now, wait for it (its
        result lands in the disk cache); drop it from the queue otherwise. Says what happened:
        "ahead" (compiled ahead), "waited", "" (not the helper's)."""

    def observe(self, seconds: float) -> None:
        """A candidate compiled here, not ahead, took this long."""

    def pause(self) -> None: ...

    def resume(self) -> None: ...


def enabled(backend: str) -> bool:
    """Compile ahead for this backend? SYCL only: there a compile takes seconds and nothing else
    hides it (on a CPU device the in-thread overlap is off, harness._overlap). On a GPU the
    candidate already compiles in a thread beside the original's work, NVRTC in a fraction of a
    second; a helper there would hold a second device context. KF_COMPILE_AHEAD=0 turns it off,
    =1 on for any backend. Asked by the search (whether its requests carry candidates ahead) and
    by the worker (whether it starts a helper)."""
    forced = os.environ.get("KF_COMPILE_AHEAD")
    return forced != "0" if forced is not None else backend == "sycl"


_current: AheadCompiler | None = None


def install(compiler: AheadCompiler | None) -> None:
    global _current
    _current = compiler


def current() -> AheadCompiler | None:
    return _current


def submit(session: DeviceSession, units: list[CompileUnit]) -> None:
    """Compile these ahead; none: more will come (the helper gets ready)."""
    if _current is not None:
        _current.submit(session, units)


def settle(session: DeviceSession, unit: CompileUnit, timeout: float) -> str:
    return _current.settle(session, unit, timeout) if _current is not None else ""


def observe(seconds: float) -> None:
    if _current is not None:
        _current.observe(seconds)


@contextmanager
def quiet() -> Iterator[None]:
    """No compile ahead runs inside this block (the timing trials)."""
    c = _current
    if c is not None:
        c.pause()
    try:
        yield
    finally:
        if c is not None:
            c.resume()
