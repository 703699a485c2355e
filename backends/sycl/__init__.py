"""SYCL backend: kernels compiled at run time (SYCL free-function kernels) and run on any
device dpctl lists, the CPU through Intel's OpenCL CPU runtime by default.

Exports are loaded lazily so that importing `backends.sycl` (or `backends.sycl.build`)
does not import dpctl; `prepare_environment()` runs before dpctl is first imported.
"""

from __future__ import annotations

from backends.sycl.build import cache_root, ensure_shim, prepare_environment

__all__ = [
    "SyclSession",
    "SyclKernel",
    "SyclBuffer",
    "list_devices",
    "prepare_environment",
    "ensure_shim",
    "cache_root",
    "parse_log",
]


def __getattr__(name: str):
    if name in ("SyclSession", "SyclKernel", "SyclBuffer", "parse_log"):
        from backends.sycl import session

        return getattr(session, name)
    if name == "list_devices":
        from backends.sycl.devices import list_devices

        return list_devices
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
