"""One pool interface for local devices and a Dask cluster, and the factory choosing one.

    pool = make_pool("sycl", [0])                              # local: EvalPool, one spawned worker per device
    pool = make_pool("cuda", remote="tls://gpu-box:8786",      # remote: RemotePool on `kf worker` hosts
                     tls_ca="ca.pem", tls_cert="me.pem", tls_key="me.key", target="cuda-sm_90")
    pool = make_pool("sycl", [0], remote=addr, fallback_local=True)  # local devices if the cluster is down

Both satisfy `Pool`: evaluate_sync(request) / await evaluate(request) -> EvalResult, size
(evaluations that can run at once), backend, close(), and use as a context manager.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any, Protocol, runtime_checkable

from backends.model import EvalRequest, EvalResult

log = logging.getLogger("kf.pools")


@runtime_checkable
class Pool(Protocol):
    backend: str

    @property
    def size(self) -> int: ...

    def evaluate_sync(self, request: EvalRequest, cancel: threading.Event | None = None) -> EvalResult: ...

    async def evaluate(self, request: EvalRequest) -> EvalResult: ...

    def close(self) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc: object) -> None: ...


def remote_from_env() -> str | None:
    """KF_REMOTE: the default Dask scheduler address (the settings' `remote`)."""
    return os.environ.get("KF_REMOTE") or None


def make_pool(backend: str, devices: list[int] | None = None, remote: str | None = None, *,
              target: str | None = None, tls_ca: str | None = None, tls_cert: str | None = None,
              tls_key: str | None = None, security: Any = None, timeout: float | None = None,
              connect_timeout: float = 30.0, fallback_local: bool = False, on_fallback=None) -> Pool:
    """A local EvalPool (remote None), else a RemotePool on the Dask scheduler at `remote`.

    TLS: `security` (a distributed.security.Security), or the three PEM paths. Plain tcp://
    is refused beyond loopback (InsecureAddress). An unreachable scheduler raises
    SchedulerUnreachable, unless `fallback_local`: then a local pool on `devices` is returned
    and `on_fallback(message)` (default: a logged warning) says why. `connect_timeout`: Dask's
    own default (distributed.comm.timeouts.connect, 30 s); at 10 s a scheduler on a loaded host
    was taken for unreachable and the language server's job ran on local devices instead.
    """
    if not remote:
        from backends.run.local_pool import EvalPool

        return EvalPool(backend, devices)
    from backends.run.cluster import RemotePool, SchedulerUnreachable, make_security

    if security is None:
        security = make_security(tls_ca, tls_cert, tls_key)
    try:
        return RemotePool(remote, backend, target=target, security=security, timeout=timeout,
                          connect_timeout=connect_timeout)
    except SchedulerUnreachable as e:
        if not fallback_local:
            raise
        from backends.run.local_pool import EvalPool

        msg = f"{e}; evaluating on local {backend} devices {devices or [0]} instead"
        (on_fallback or log.warning)(msg)
        return EvalPool(backend, devices)


# -- command-line plumbing shared by `kf bench`, `kf optimize` ---------------------------


def add_remote_arguments(parser: Any) -> None:
    """--remote / --target / --tls-* / --fallback-local on an argparse parser."""
    g = parser.add_argument_group("remote evaluation (docs/remote.md)")
    g.add_argument("--remote", metavar="ADDRESS", default=os.environ.get("KF_REMOTE") or None,
                   help="evaluate on a Dask cluster of `kf worker`s at this scheduler (tls://HOST:PORT; "
                        "tcp:// only on loopback); default $KF_REMOTE")
    g.add_argument("--hardware", dest="remote_target", metavar="TAG",
                   help="with --remote: the hardware tag to run on (cuda-sm_90, sycl-cpu...; default any device "
                        "of the kernel's backend)")
    g.add_argument("--tls-ca", metavar="PEM", default=os.environ.get("KF_TLS_CA"), help="CA certificate (default $KF_TLS_CA)")
    g.add_argument("--tls-cert", metavar="PEM", default=os.environ.get("KF_TLS_CERT"),
                   help="this client's certificate (default $KF_TLS_CERT)")
    g.add_argument("--tls-key", metavar="PEM", default=os.environ.get("KF_TLS_KEY"),
                   help="its private key (default $KF_TLS_KEY)")
    g.add_argument("--fallback-local", action="store_true",
                   help="when the scheduler cannot be reached, evaluate on local devices instead")


def pool_from_args(args: Any, backend: str, devices: list[int] | None = None, on_fallback=None) -> Pool:
    """make_pool from the options add_remote_arguments added (RemoteError on bad input)."""
    return make_pool(backend, devices, getattr(args, "remote", None), target=getattr(args, "remote_target", None),
                     tls_ca=getattr(args, "tls_ca", None), tls_cert=getattr(args, "tls_cert", None),
                     tls_key=getattr(args, "tls_key", None), fallback_local=getattr(args, "fallback_local", False),
                     on_fallback=on_fallback)
