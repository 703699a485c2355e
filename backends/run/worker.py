"""The evaluation worker: a spawned process that owns one device session.

Generated kernels are untrusted code: they run here, never in the editor's server or
the command line's process. The worker talks to its pool over a pipe, in msgpack:
  pool -> worker: ("eval", EvalRequest) | ("devices", backend) | ("peak",) | ("stats",) | ("stop",)
  worker -> pool: ("stage", what, seconds) | ("result", EvalResult, healthy) | ("devices", [...])
                  | ("resume", SkippedSize): the original poisoned the device at a size kf chose;
                    the worker exits and the pool evaluates again in a fresh one without that size
                  | ("peak", bytes_per_s) | ("stats", {cache: counters}) | ("error", text)
"stage" messages name what is running and how long it may take, so the pool can kill a
hung kernel and say where it hung.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import msgspec

from backends.model import DeviceInfo, EvalRequest, EvalResult
from backends.run.sessions import open_session

_encoder = msgspec.msgpack.Encoder()


def list_devices(backend: str) -> list[DeviceInfo]:
    try:
        if backend == "sycl":
            from backends.sycl.devices import list_devices as sycl_devices

            return sycl_devices()
        if backend == "cuda":
            from backends.cuda.devices import list_devices as cuda_devices

            return cuda_devices()
    except Exception as e:  # a missing runtime means no devices, with the reason logged
        print(f"kf worker: no {backend} devices: {type(e).__name__}: {e}", file=sys.stderr)
    return []


def main(conn: Any, backend: str, device: int) -> None:
    """Worker entry point (multiprocessing spawn target)."""
    # stdout may be an LSP stream in the parent: nothing a runtime prints may reach it.
    try:
        os.dup2(2, 1)
        sys.stdout = sys.stderr
    except OSError:
        pass
    from backends.judge import ahead
    from backends.judge.harness import FreshWorkerNeeded, evaluate
    from backends.run import compile_ahead

    session = None
    helper = None  # the compile-ahead helper (backends/run/compile_ahead.py), started on first use

    def send(*msg: Any) -> None:
        try:
            conn.send_bytes(_encoder.encode(msg))
        except (BrokenPipeError, EOFError, ConnectionResetError):
            # the pool that owns us is gone (its process was killed): nobody to tell, nothing to
            # keep; end quietly instead of a traceback in the host's log
            os._exit(0)

    while True:
        try:
            raw = conn.recv_bytes()
        except (EOFError, OSError):
            return
        kind, *rest = msgspec.msgpack.decode(raw)
        if kind == "stop":
            if helper is not None:
                helper.close()
            return
        if kind == "devices":
            send("devices", [msgspec.to_builtins(d) for d in list_devices(rest[0])])
            continue
        if kind == "stats":  # what this worker's caches saved (backends/judge/compile_cache.py, reference_cache.py)
            from backends.judge import compile_cache, device_checks, reference_cache

            send("stats", {"compile": compile_cache.stats(), "reference": reference_cache.stats(),
                           "device": device_checks.stats()})
            continue
        if kind == "peak":  # the device's measured copy bandwidth (cached on disk)
            try:
                if session is None:
                    session = open_session(backend, device)
                from backends.judge.harness import peak_bandwidth

                send("peak", peak_bandwidth(session))
            except Exception as e:
                send("error", f"cannot measure {backend} device {device}: {type(e).__name__}: {e}")
            continue
        if kind != "eval":
            send("error", f"unknown message {kind!r}")
            continue
        req = msgspec.convert(rest[0], EvalRequest)
        try:
            if session is None:
                send("stage", f"opening the {backend} device {device}", 300.0)
                session = open_session(backend, device)
            if helper is None and ahead.enabled(backend):
                helper = compile_ahead.Helper(backend, device)
                ahead.install(helper)
        except Exception as e:
            send("error", f"cannot open {backend} device {device}: {type(e).__name__}: {e}")
            return
        try:
            result, healthy = evaluate(session, req, lambda what, seconds: send("stage", what, seconds),
                                       resumable=True)
        except FreshWorkerNeeded as e:
            send("resume", msgspec.to_builtins(e.skip))
            return  # the context is unusable: the pool starts a fresh worker for the rest
        send("result", msgspec.to_builtins(result), healthy)
        if not healthy:
            return  # a faulted context or a scribbled heap: the pool starts a fresh worker


def decode_result(obj: Any) -> EvalResult:
    return msgspec.convert(obj, EvalResult)
