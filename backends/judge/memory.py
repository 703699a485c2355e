"""Memory planned from the sizes before anything runs: a size that cannot fit is said, never an
out-of-memory crash.

Each problem size needs its buffers with their guards (GUARD_BYTES on both sides of each)
once while it is checked: the original's outputs are copied to the host and its buffers
freed before the candidate runs (harness.py). The default size needs them twice: the
original and the candidate are timed side by side, on two sets they swap every trial; each
trial's new inputs are generated into them in place (backends/judge/inputs.py), never into a
third set. On the host, the inputs, the original's
outputs and the candidate's (read back to compare), and the float64 copies the comparison
makes of the largest output. On a CPU device host and device memory are the same memory.

The device's memory is what the session reports as free now (other processes share a GPU),
else its total; `KF_DEVICE_MEMORY_GIB` sets it (to leave room for others on a shared device).
kf uses at most USABLE of it.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import msgspec

from backends.judge.verify import GUARD_BYTES
from backends.kernel import dtypes
from backends.kernel.expressions import ExprError, evaluate
from backends.model import Spec

__all__ = ["Need", "need", "device_limit", "device_free", "host_free", "fits", "describe", "USABLE"]

USABLE = 0.9  # of the free memory; the runtime, the flush and digest buffers need the rest


class Need(msgspec.Struct, frozen=True):
    device: int  # bytes on the device at once
    host: int  # bytes on the host at once (the same memory as the device's on a CPU device)
    one_set: int  # one set of buffers with guards
    sets: int  # sets alive at once on the device
    biggest: str  # the largest buffer's name
    biggest_bytes: int = 0  # and its bytes


def need(spec: Spec, env: Mapping[str, int | float], sets: int = 1) -> Need | None:
    """What one problem size needs; None when a length cannot be evaluated (the harness says why)."""
    sizes: dict[str, int] = {}
    try:
        for b in spec.buffers:
            sizes[b.name] = max(0, int(evaluate(b.length, env))) * dtypes.itemsize(b.dtype)
    except (ExprError, ValueError, TypeError):
        return None
    if not sizes:
        return Need(0, 0, 0, sets, "")
    one = sum(n + 2 * GUARD_BYTES for n in sizes.values())
    inputs = sum(sizes[b.name] for b in spec.buffers if b.role != "out")
    outputs = [(sizes[b.name], b) for b in spec.buffers if b.role != "in"]
    out_bytes = sum(n for n, _ in outputs)
    largest = max((n // max(dtypes.itemsize(b.dtype), 1) for n, b in outputs), default=0)
    host = inputs + 2 * out_bytes + 2 * 8 * largest
    biggest = max(spec.buffers, key=lambda b: sizes[b.name]).name
    return Need(one * sets, host, one, sets, biggest, sizes[biggest])


def _override() -> int | None:
    text = os.environ.get("KF_DEVICE_MEMORY_GIB")
    if not text:
        return None
    try:
        return int(float(text) * 2**30)
    except ValueError:
        return None


def device_limit(session: Any) -> int:
    """The device's whole memory as kf may use it (KF_DEVICE_MEMORY_GIB, else its total); 0: unknown."""
    forced = _override()
    if forced is not None:
        return forced
    return int(getattr(getattr(session, "info", None), "memory_bytes", 0) or 0)


def device_free(session: Any) -> int:
    """Bytes kf may allocate on the device now; 0: unknown."""
    forced = _override()
    if forced is not None:
        return int(forced * USABLE)
    fn = getattr(session, "free_memory", None)
    free = 0
    if fn is not None:
        try:
            free = int(fn() or 0)
        except Exception:
            free = 0
    if not free:
        free = device_limit(session)
    return int(free * USABLE)


def host_free() -> int:
    """Bytes of host memory available now (MemAvailable); 0: unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(int(line.split()[1]) * 1024 * USABLE)
    except (OSError, ValueError, IndexError):
        pass
    return 0


def fits(n: Need, session: Any) -> tuple[bool, str]:
    """Whether `n` fits now; else why, in words (sizes in GiB, what is free)."""
    dev = device_free(session)
    cpu = getattr(getattr(session, "info", None), "kind", "") == "cpu"
    host = host_free()
    if cpu and _override() is None:  # device memory is host memory: both needs from one pool
        total = n.device + n.host
        limit = max(dev, host) if host else dev
        if limit and total > limit:
            return False, f"needs {_gib(total)} of memory (buffers and the host's copies), {_gib(limit)} available"
        return True, ""
    if dev and n.device > dev:
        forced = " (KF_DEVICE_MEMORY_GIB)" if _override() is not None else ""
        return False, f"needs {_gib(n.device)} of device memory, {_gib(dev)} available{forced}"
    if host and n.host > host and _override() is None:
        return False, f"needs {_gib(n.host)} of host memory for its copies, {_gib(host)} available"
    return True, ""


def describe(n: Need) -> str:
    """'the largest buffer y: 512 MiB; 1.5 GiB of buffers with their guards, 2 sets at once (...)':
    which buffer to shrink, and by how much, without reading the plan's code."""
    text = f"the largest buffer {n.biggest}: {_gib(n.biggest_bytes)}; " if n.biggest else ""
    text += f"{_gib(n.one_set)} of buffers with their guards"
    if n.sets > 1:
        text += f", {n.sets} sets at once (the original and the candidate are timed side by side)"
    return text


def _gib(n: int) -> str:
    if n >= 2**30:
        return f"{n / 2**30:.1f} GiB"
    return f"{n / 2**20:.0f} MiB"
