"""Which backend and device evaluate a kernel.

A kernel's language decides the backend (CUDA code runs on the cuda backend, SYCL code
on sycl); an explicit choice must agree with it. The device: an explicit index, else a
GPU when one is present, else the first device (SYCL: the CPU).
"""

from __future__ import annotations

from backends.model import DeviceInfo, Language
from backends.run.local_pool import probe_devices

BACKENDS = ("cuda", "sycl")
_cache: dict[str, list[DeviceInfo]] = {}


class SelectionError(Exception):
    pass


def devices(backend: str) -> list[DeviceInfo]:
    if backend not in _cache:
        _cache[backend] = probe_devices(backend)
    return _cache[backend]


def choose(language: Language, backend: str | None = None, device: int | None = None) -> tuple[str, int | None]:
    """Returns (backend, device index); device None means: no device, compile only."""
    want = language
    if backend is not None and backend != want:
        raise SelectionError(f"a {language.upper() if language == 'cuda' else 'SYCL'} kernel runs on the {want} backend, not {backend}")
    found = devices(want)
    if device is not None:
        if not any(d.index == device for d in found):
            listed = ", ".join(f"{d.index}: {d.name}" for d in found) or "none"
            raise SelectionError(f"no {want} device {device} (devices: {listed})")
        return want, device
    if not found:
        return want, None
    gpus = [d for d in found if d.kind == "gpu"]
    return want, (gpus[0] if gpus else found[0]).index
