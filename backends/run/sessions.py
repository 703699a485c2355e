"""Opening a device session: in the worker and in its compile-ahead helper (never in a
server process)."""

from __future__ import annotations


def open_session(backend: str, device: int):
    """Import the backend only here, in the worker (importing dpctl or the CUDA driver in a
    server process is neither needed nor safe)."""
    if backend == "sycl":
        from backends.sycl.session import SyclSession

        return SyclSession(device)
    if backend == "cuda":
        if device < 0:
            from backends.cuda.compile_only import CompileOnlySession

            return CompileOnlySession("cuda")
        from backends.cuda.session import CudaSession

        return CudaSession(device)
    raise ValueError(f"unknown backend {backend!r} (expected cuda or sycl)")
