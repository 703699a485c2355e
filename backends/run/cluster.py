"""Remote evaluation on a Dask cluster: the same pool interface as EvalPool.

Client side: `RemotePool(address, ...)` submits each EvalRequest as msgpack bytes to one
fixed, importable function, `evaluate_remote`, with Dask resources naming the hardware it
needs (`cuda-sm_90`, `sycl-cpu`, or `kf-cuda` / `kf-sycl` for any device of a backend).
Worker side: `kf worker SCHEDULER` starts one `KfWorker` process per device (`serve`); it
advertises the device's tag as a resource and runs only `evaluate_remote`, which hands the
request to kf's own spawned evaluation process (backends.run.local_pool.WorkerProcess) bound to that
worker's device: generated kernels never run inside the Dask worker process.

What a KfWorker refuses (docs/remote.md, "Security model"):
  - any task whose function is not `evaluate_remote` with one bytes argument and no
    dependencies (`client.submit(os.system, ...)` fails and never runs);
  - `client.run` / `run_coroutine`, worker plugins, uploads and actors (their handlers are
    replaced by ones that refuse).
Plain tcp:// is refused by kf unless every end is on a loopback address; use TLS
(`tls://`, with certificates: mutual authentication) across machines.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from typing import Any

import msgspec

from backends.model import EvalRequest, EvalResult, Verdict

log = logging.getLogger("kf.remote")

DEFAULT_TIMEOUT_FLOOR = 600.0  # seconds; the overall client-side backstop (see _timeout_for)
LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


class RemoteError(Exception):
    """A remote pool cannot be used: one line for humans."""


class InsecureAddress(RemoteError):
    pass


class SchedulerUnreachable(RemoteError):
    pass


class NoMatchingWorker(RemoteError):
    """No worker of the cluster has the hardware a request needs."""


class TaskRefused(PermissionError):
    """Raised on a kf worker for anything but kf's own evaluation entry point."""


# ---------------------------------------------------------------------------
# Addresses and TLS
# ---------------------------------------------------------------------------


def _host_of(address: str) -> tuple[str, str]:
    """'tls://10.0.0.1:8786' -> ('tls', '10.0.0.1'); a bare 'host:port' is tcp."""
    proto, sep, rest = address.partition("://")
    if not sep:
        proto, rest = "tcp", address
    rest = rest.strip()
    if rest.startswith("["):  # [::1]:8786
        host = rest[1:].partition("]")[0]
    elif rest.count(":") > 1:  # a bare IPv6 address without port
        host = rest
    else:
        host = rest.partition(":")[0]
    return proto.lower(), host


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_address(address: str, security: Any = None, what: str = "scheduler") -> str:
    """Refuse an unencrypted connection beyond this machine. Returns the address with a
    protocol. tls:// needs certificates (`security`)."""
    if not address or not address.strip():
        raise RemoteError(f"no Dask {what} address given")
    address = address.strip()
    proto, host = _host_of(address)
    if "://" not in address:
        address = f"tcp://{address}"
    if proto == "tls":
        if security is None or not getattr(security, "require_encryption", False):
            raise InsecureAddress(f"{address}: a tls:// {what} needs certificates (--tls-ca, --tls-cert, --tls-key)")
        return address
    if proto in ("tcp", "inproc") and (proto == "inproc" or is_loopback(host)):
        return address
    if proto == "tcp":
        raise InsecureAddress(
            f"{address}: kf refuses plain tcp:// to a non-loopback {what} (kernel sources and results would cross "
            f"the network unauthenticated and in the clear); use tls:// with --tls-ca/--tls-cert/--tls-key "
            f"(docs/remote.md), or a loopback address (127.0.0.1, ::1, localhost)"
        )
    raise InsecureAddress(f"{address}: unsupported protocol {proto!r} (kf speaks tls://, or tcp:// on loopback)")


def make_security(ca: str | None = None, cert: str | None = None, key: str | None = None, role: str = "client"):
    """A distributed.security.Security for mutual TLS, or None when no file is given.
    `role`: client, worker or scheduler (the same certificate may serve all roles)."""
    if not (ca or cert or key):
        return None
    missing = [n for n, v in (("--tls-ca", ca), ("--tls-cert", cert), ("--tls-key", key)) if not v]
    if missing:
        raise RemoteError(f"TLS needs a CA, a certificate and its key: missing {', '.join(missing)}")
    for path in (ca, cert, key):
        if not os.path.isfile(path):
            raise RemoteError(f"{path}: no such file")
    from distributed.security import Security

    kw: dict[str, Any] = {"tls_ca_file": ca, "require_encryption": True}
    roles = ("client", "worker", "scheduler") if role == "all" else (role,)
    for r in roles:
        kw[f"tls_{r}_cert"] = cert
        kw[f"tls_{r}_key"] = key
    return Security(**kw)


def security_from_env(role: str = "client"):
    """KF_TLS_CA / KF_TLS_CERT / KF_TLS_KEY (the settings' defaults)."""
    return make_security(os.environ.get("KF_TLS_CA"), os.environ.get("KF_TLS_CERT"), os.environ.get("KF_TLS_KEY"), role)


# ---------------------------------------------------------------------------
# Worker side
# ---------------------------------------------------------------------------

_state_lock = threading.Lock()
_states: dict[tuple[str, int], "_DeviceState"] = {}


class _DeviceState:
    def __init__(self, backend: str, device: int):
        from backends.run.local_pool import WorkerProcess

        self.process = WorkerProcess(backend, device)
        self.lock = threading.Lock()


def _device_state(backend: str, device: int) -> _DeviceState:
    with _state_lock:
        st = _states.get((backend, device))
        if st is None:
            st = _states[(backend, device)] = _DeviceState(backend, device)
        return st


def _sanitize(unit):
    # Include directories name the client's file system; nothing of it exists here.
    return msgspec.structs.replace(unit, include_dirs=[]) if unit is not None and unit.include_dirs else unit


def evaluate_remote(payload: bytes) -> bytes:
    """The only task a kf worker runs: msgpack bytes of an EvalRequest in, of an EvalResult
    out. The evaluation runs in kf's spawned worker process bound to THIS worker's device
    (the request's own backend/device fields are replaced)."""
    from distributed import get_worker

    try:
        w = get_worker()
        backend, device = w.kf_backend, w.kf_device  # type: ignore[attr-defined]
    except (ValueError, AttributeError):
        raise TaskRefused("evaluate_remote runs only on a kf worker (kf worker SCHEDULER)") from None
    try:
        req = msgspec.msgpack.decode(payload, type=EvalRequest)
    except (msgspec.DecodeError, msgspec.ValidationError, TypeError) as e:
        return msgspec.msgpack.encode(EvalResult(Verdict.INTERNAL, f"kf worker: not an evaluation request: {e}"))
    language = req.reference.kernel.language
    if language != backend:
        return msgspec.msgpack.encode(EvalResult(
            Verdict.INTERNAL, f"kf worker {w.address}: a {language} kernel sent to a {backend} worker (routing bug)"))
    req = msgspec.structs.replace(req, backend=backend, device=device, reference=_sanitize(req.reference),
                                  candidate=_sanitize(req.candidate))
    st = _device_state(backend, device)
    with st.lock:
        t0 = time.monotonic()
        result = st.process.evaluate(req)
    if not result.wall_seconds:
        result = msgspec.structs.replace(result, wall_seconds=time.monotonic() - t0)
    return msgspec.msgpack.encode(result)


def _is_allowed(run_spec: Any) -> str | None:
    """None when `run_spec` is exactly evaluate_remote(<bytes>); else why it is refused."""
    from dask._task_spec import Task

    if type(run_spec) is not Task:
        return f"not a task ({type(run_spec).__name__})"
    func = run_spec.func
    if func is not evaluate_remote:
        name = getattr(func, "__qualname__", None) or type(func).__name__
        return f"function {getattr(func, '__module__', '?')}.{name} is not kf's evaluation entry point"
    if run_spec.kwargs or len(run_spec.args) != 1 or not isinstance(run_spec.args[0], bytes):
        return "evaluate_remote takes exactly one bytes argument"
    if run_spec.dependencies:
        return "evaluate_remote takes no dependencies"
    return None


def _kf_worker_class():
    """Built lazily: importing distributed costs a second, and the CLI imports this module."""
    global _KfWorker
    if _KfWorker is not None:
        return _KfWorker
    from distributed import Worker
    from distributed.core import error_message
    from distributed.worker_state_machine import ExecuteFailureEvent

    class KfWorker(Worker):
        """A Dask worker that runs kf's evaluation entry point and nothing else."""

        REFUSED_HANDLERS = ("run", "run_coroutine", "upload_file", "update_data", "actor_execute", "actor_attribute",
                            "plugin-add", "plugin-remove", "benchmark_disk", "benchmark_memory", "benchmark_network")

        def __init__(self, *args: Any, kf_backend: str, kf_device: int, kf_tag: str, **kwargs: Any):
            resources = dict(kwargs.pop("resources", None) or {})
            resources.update({"kf": 1, f"kf-{kf_backend}": 1, kf_tag: 1})
            super().__init__(*args, resources=resources, plugins=(), **kwargs)
            self.kf_backend, self.kf_device, self.kf_tag = kf_backend, kf_device, kf_tag
            for name in self.REFUSED_HANDLERS:
                if name in self.handlers:
                    self.handlers[name] = self._refuse_handler(name)

        @staticmethod
        def _refuse_handler(name: str):
            def refuse(*args: Any, **kwargs: Any) -> dict:
                log.warning("kf worker: refused a %r request", name)
                return error_message(TaskRefused(f"a kf worker refuses {name!r}: it runs only kf evaluations"))
            return refuse

        async def plugin_add(self, plugin: Any = None, name: str | None = None, catch_errors: bool = True):
            # Never unpickled, never set up (plugins from the scheduler arrive here too).
            log.warning("kf worker: refused worker plugin %r", name)
            err = TaskRefused(f"a kf worker refuses worker plugins ({name or 'unnamed'})")
            if not catch_errors:
                raise err
            return error_message(err)

        async def execute(self, key: Any, *, stimulus_id: str):
            ts = self.state.tasks.get(key)
            why = _is_allowed(ts.run_spec) if ts is not None else None
            if ts is not None and why is not None:
                log.warning("kf worker: refused task %r: %s", key, why)
                return ExecuteFailureEvent.from_exception(
                    TaskRefused(f"a kf worker runs only backends.run.cluster.evaluate_remote(<EvalRequest bytes>): {why}"),
                    key=key, run_id=ts.run_id, stimulus_id=f"kf-refused-{time.time()}")
            return await super().execute(key, stimulus_id=stimulus_id)

        async def close(self, *args: Any, **kwargs: Any):
            with _state_lock:
                states = list(_states.values())
                _states.clear()
            for st in states:
                try:
                    st.process.close()
                except Exception:  # closing must go on
                    pass
            return await super().close(*args, **kwargs)

    _KfWorker = KfWorker
    return KfWorker


_KfWorker: Any = None


async def _serve(config: dict) -> None:
    security = make_security(config.get("tls_ca"), config.get("tls_cert"), config.get("tls_key"), role="worker")
    address = check_address(config["scheduler"], security)
    host = config.get("host")
    if host is None and not address.startswith("tls://"):
        host = "127.0.0.1"  # plain tcp is only for loopback: never listen beyond it
    Worker = _kf_worker_class()
    worker = Worker(address, kf_backend=config["backend"], kf_device=int(config["device"]), kf_tag=config["tag"],
                    nthreads=int(config.get("nthreads") or 1), host=host, security=security,
                    name=config.get("name"), dashboard=False, validate=False)
    await worker
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    closed = asyncio.ensure_future(worker.finished())
    waiter = asyncio.ensure_future(stop.wait())
    await asyncio.wait([closed, waiter], return_when=asyncio.FIRST_COMPLETED)
    if not closed.done():
        await worker.close(reason="kf worker stopped")


def serve(config: dict) -> None:
    """One Dask worker process for one device (run by `kf worker`, not by hand)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s kf-worker[%(process)d] %(levelname)s %(message)s")
    asyncio.run(_serve(config))


class WorkerSupervisor:
    """`kf worker`: one KfWorker process per device, restarted when one dies."""

    def __init__(self, scheduler: str, devices: list, *, nthreads: int = 1, tls: tuple = (None, None, None),
                 host: str | None = None, restart: bool = True, name: str | None = None):
        self.scheduler, self.devices, self.nthreads, self.tls, self.host = scheduler, devices, nthreads, tls, host
        self.restart, self.name = restart, name or f"{os.uname().nodename}-{os.getpid()}"
        self.procs: dict[int, subprocess.Popen] = {}
        self._stop = False

    def _config(self, i: int) -> dict:
        d = self.devices[i]
        ca, cert, key = self.tls
        return {"scheduler": self.scheduler, "backend": d.backend, "device": d.index, "tag": d.tag,
                "nthreads": self.nthreads, "tls_ca": ca, "tls_cert": cert, "tls_key": key, "host": self.host,
                "name": f"{self.name}-{d.backend}{d.index}"}

    def _start(self, i: int) -> None:
        self.procs[i] = subprocess.Popen([sys.executable, "-m", "backends.run.cluster", json.dumps(self._config(i))])

    def run(self, on_event=None) -> int:
        say = on_event or (lambda msg: None)
        signal.signal(signal.SIGTERM, lambda *a: setattr(self, "_stop", True))
        for i in range(len(self.devices)):
            self._start(i)
            d = self.devices[i]
            say(f"worker for {d.tag} device {d.index} ({d.name}): pid {self.procs[i].pid}")
        deaths: list[float] = []
        try:
            while not self._stop:
                time.sleep(0.2)
                for i, p in list(self.procs.items()):
                    code = p.poll()
                    if code is None or self._stop:
                        continue
                    now = time.monotonic()
                    deaths = [t for t in deaths if now - t < 60] + [now]
                    if not self.restart or len(deaths) > 5 * len(self.devices):
                        say(f"worker pid {p.pid} exited ({code}); not restarting")
                        self._stop = True
                        break
                    say(f"worker pid {p.pid} exited ({code}); restarting it")
                    self._start(i)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()
        return 0

    def stop(self) -> None:
        self._stop = True
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for p in self.procs.values():
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)


# ---------------------------------------------------------------------------
# Client side
# ---------------------------------------------------------------------------


def _timeout_for(request: EvalRequest) -> float:
    """Generous: kf's own stage deadlines on the worker kill a hung kernel long before."""
    o = request.options
    return DEFAULT_TIMEOUT_FLOOR + 20.0 * (o.timeout_s + o.target_seconds)


class RemotePool:
    """Evaluations on a Dask cluster of kf workers; the interface of backends.run.local_pool.EvalPool.

    `target`: a hardware tag (`cuda-sm_90`, `sycl-cpu`) every evaluation must run on; None:
    any device of the request's backend. `timeout`: overall seconds per evaluation (None:
    from the request's options). Raises SchedulerUnreachable / InsecureAddress when the
    cluster cannot be used; evaluate raises NoMatchingWorker when no worker has the hardware.
    """

    def __init__(self, address: str, backend: str | None = None, *, target: str | None = None, security: Any = None,
                 timeout: float | None = None, connect_timeout: float = 30.0, no_worker_timeout: float = 30.0,
                 _client: Any = None):
        self.address = check_address(address, security)
        self.backend = backend or (target.split("-", 1)[0] if target else "sycl")
        self.target = target
        self.security = security
        self.timeout = timeout
        self.no_worker_timeout = no_worker_timeout
        self._owner = _client is None
        self._info: tuple[float, dict] = (0.0, {})
        if _client is not None:
            self.client = _client
            return
        from distributed import Client

        try:
            self.client = Client(self.address, security=security, timeout=connect_timeout, set_as_default=False)
        except (OSError, asyncio.TimeoutError, TimeoutError) as e:
            raise SchedulerUnreachable(f"cannot reach the Dask scheduler at {self.address} within {connect_timeout:g}s: "
                                       f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None

    def for_target(self, target: str) -> "RemotePool":
        """A view on the same connection whose evaluations run on `target` hardware."""
        return RemotePool(self.address, target.split("-", 1)[0], target=target, security=self.security,
                          timeout=self.timeout, no_worker_timeout=self.no_worker_timeout, _client=self.client)

    # -- the cluster's workers --------------------------------------------------------
    def workers(self, max_age: float = 1.0) -> dict:
        t, info = self._info
        if time.monotonic() - t > max_age:
            info = self.client.scheduler_info(n_workers=-1).get("workers", {})
            self._info = (time.monotonic(), info)
        return info

    def capacity(self, resource: str, max_age: float = 1.0) -> int:
        return int(sum((w.get("resources") or {}).get(resource, 0) for w in self.workers(max_age).values()))

    def tags(self) -> set[str]:
        """Hardware tags advertised by the cluster's kf workers."""
        out = set()
        for w in self.workers(0).values():
            out.update(r for r in (w.get("resources") or {}) if r != "kf" and not r.startswith("kf-"))
        return out

    def _resource(self, request: EvalRequest, target: str | None) -> str:
        tag = target or self.target
        return tag if tag else f"kf-{request.reference.kernel.language or request.backend}"

    @property
    def size(self) -> int:
        res = self.target or f"kf-{self.backend}"
        try:
            return max(1, self.capacity(res, max_age=5.0))
        except Exception:
            return 1

    # -- evaluation ---------------------------------------------------------------------
    def submit(self, request: EvalRequest, target: str | None = None):
        """Submit one evaluation; returns the Dask future (bytes of an EvalResult)."""
        resource = self._resource(request, target)
        if self.capacity(resource, max_age=0) < 1:
            have = ", ".join(sorted(self.tags())) or "no kf workers"
            raise NoMatchingWorker(f"no worker of {self.address} has {resource} hardware (the cluster has: {have}); "
                                   f"start one there with `kf worker {self.address}`")
        payload = msgspec.msgpack.encode(request)
        return self.client.submit(evaluate_remote, payload, key=f"kf-eval-{uuid.uuid4().hex}",
                                  resources={resource: 1}, pure=False)

    def evaluate_sync(self, request: EvalRequest, cancel: threading.Event | None = None,
                      target: str | None = None) -> EvalResult:
        from distributed import KilledWorker

        from backends.run.local_pool import Cancelled

        resource = self._resource(request, target)
        fut = self.submit(request, target)
        timeout = self.timeout if self.timeout is not None else _timeout_for(request)
        start = time.monotonic()
        missing_since: float | None = None
        try:
            while True:
                try:
                    out = fut.result(timeout=0.25)
                    return msgspec.msgpack.decode(out, type=EvalResult)
                except KilledWorker as e:
                    return EvalResult(Verdict.INTERNAL, f"remote evaluation lost: the Dask workers running it died "
                                                        f"repeatedly ({e}); the candidate was not judged")
                except (TimeoutError, asyncio.TimeoutError):
                    pass
                except asyncio.CancelledError:
                    return EvalResult(Verdict.INTERNAL, "remote evaluation cancelled by the cluster")
                except TaskRefused as e:
                    return EvalResult(Verdict.INTERNAL, f"a kf worker refused the evaluation: {e}")
                except Exception as e:
                    if fut.status == "error" or fut.done():
                        return EvalResult(Verdict.INTERNAL, f"remote evaluation failed: {type(e).__name__}: {e}")
                    raise
                now = time.monotonic()
                if cancel is not None and cancel.is_set():
                    raise Cancelled()
                if now - start > timeout:
                    return EvalResult(Verdict.TIMEOUT, f"no result from the Dask cluster at {self.address} within "
                                                       f"{timeout:g}s (client-side limit); the evaluation was cancelled")
                if self.capacity(resource, max_age=2.0) < 1:
                    missing_since = missing_since or now
                    if now - missing_since > self.no_worker_timeout:
                        raise NoMatchingWorker(f"no worker of {self.address} with {resource} hardware for "
                                               f"{self.no_worker_timeout:g}s: the evaluation was abandoned")
                else:
                    missing_since = None
        finally:
            if not fut.done():
                fut.cancel()
            fut.release()

    async def evaluate(self, request: EvalRequest, target: str | None = None) -> EvalResult:
        cancel = threading.Event()
        try:
            return await asyncio.shield(asyncio.to_thread(self.evaluate_sync, request, cancel, target))
        except asyncio.CancelledError:
            cancel.set()
            raise

    def close(self) -> None:
        if self._owner and getattr(self, "client", None) is not None:
            try:
                self.client.close(timeout=10)
            except Exception:  # closing must not fail a run
                pass
            self.client = None

    def __enter__(self) -> "RemotePool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":  # `kf worker` starts one of these per device
    # Through the imported module, not __main__: tasks name backends.run.cluster.evaluate_remote.
    from backends.run.cluster import serve as _serve_imported

    _serve_imported(json.loads(sys.argv[1]))
