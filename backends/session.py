"""The one interface every runtime backend implements, used by the evaluation harness.

A DeviceSession lives inside an evaluation worker process (never in the editor's
server): it compiles a unit, owns device memory, launches and times. It knows nothing
of specs, verdicts or searches; the harness (backends/judge/harness.py) builds those on top,
so every defence against fooled measurements is written once for all backends.

Errors are values where they are results (a compile failure is data); a device that
refuses a launch or faults raises, so the harness can turn it into a verdict.
"""

from __future__ import annotations

from typing import Protocol, Sequence, runtime_checkable

import msgspec
import numpy as np

from backends.model import Diagnostic, DeviceInfo, Language, Profile


class CompileUnit(msgspec.Struct, frozen=True):
    """Exactly what goes to the compiler."""

    path: str  # the user's file; diagnostics are mapped to it through `#line` directives
    source: str  # full text to compile (a prelude, then `#line 1 "path"`, then the file)
    entry: str  # the kernel's name, or a name expression for a template: "saxpy<256>"
    language: Language
    include_dirs: list[str] = []
    options: list[str] = []  # extra compiler options (CUDA: the project's flags, backends/kernel/project_flags.py)
    compiler: str = ""  # CUDA: "nvcc" or "nvrtc" (chosen per file: backends/cuda/compiler.py); "": decide here
    probe_params: int = 0  # CUDA: ask the compiler the types of this many kernel parameters (backends/cuda/probes.py)
    # the unit's preamble (its leading #includes) recurs: the original's, and a candidate's that is the same
    # text; a backend may precompile it where that is sound (SYCL: backends/sycl/pch.py)
    precompile: bool = False


class CompileFailure(msgspec.Struct, frozen=True):
    diagnostics: list[Diagnostic]  # errors first; at least one error
    log: str  # the compiler's whole log
    compiler: str = ""  # which compiler said so: "nvcc 13.0.88", "nvrtc 13.5"


class CompiledKernel(Protocol):
    """A loaded kernel, ready to launch. Opaque to the harness except for these fields."""

    entry: str
    resources: Profile  # registers, spills, shared memory... whatever the compiler reports
    warnings: list[Diagnostic]
    log: str


class BufferArg(msgspec.Struct, frozen=True):
    """A pointer argument: `offset` bytes into an allocation (the harness keeps guards around)."""

    buffer: object  # an allocation returned by DeviceSession.alloc
    offset: int


class ScalarArg(msgspec.Struct, frozen=True):
    value: int | float
    dtype: str  # canonical dtype: i32, f32, u64, ...


class NullArg(msgspec.Struct, frozen=True):
    """A pointer argument passed as a null pointer (`@kf bias = null`)."""


KernelArg = BufferArg | ScalarArg | NullArg


class LaunchError(Exception):
    """The runtime refused the launch (bad shape, too many resources). The device is fine."""


class DeviceFault(Exception):
    """The kernel faulted (illegal address, ...). `sticky`: the context is unusable now."""

    def __init__(self, message: str, sticky: bool = True):
        super().__init__(message)
        self.sticky = sticky


Dim3 = tuple[int, int, int]


def host_out(out: np.ndarray | None, nbytes: int) -> np.ndarray:
    """Where a read lands: `out` (checked: uint8, contiguous, `nbytes` long), else a new array."""
    if out is None:
        return np.empty(int(nbytes), dtype=np.uint8)
    if out.dtype != np.uint8 or out.size != nbytes or not out.flags.c_contiguous or not out.flags.writeable:
        raise ValueError(f"read into an array of {out.size} {out.dtype}, expected {nbytes} writable uint8")
    return out


@runtime_checkable
class DeviceSession(Protocol):
    info: DeviceInfo

    def compile(self, unit: CompileUnit) -> CompiledKernel | CompileFailure: ...

    def alloc(self, nbytes: int) -> object: ...

    def free(self, buffer: object) -> None: ...

    def write(self, buffer: object, offset: int, data: np.ndarray) -> None:
        """Copy host bytes in (blocking)."""

    def read(self, buffer: object, offset: int, nbytes: int, out: np.ndarray | None = None) -> np.ndarray:
        """Copy bytes out (blocking); returns a uint8 array: `out` (a uint8 array of `nbytes`
        the caller reuses: a fresh one costs a page fault per page on first touch) when given."""

    def fill(self, buffer: object, offset: int, nbytes: int, pattern: bytes) -> None:
        """Fill with a repeated 1/2/4/8-byte pattern, on the device (blocking)."""

    def launch(
        self, kernel: CompiledKernel, grid: Dim3, block: Dim3, shared: int, args: Sequence[KernelArg]
    ) -> None:
        """Launch and wait for completion. Raises LaunchError or DeviceFault.
        CUDA: grid in blocks; SYCL: grid is the nd_range global size in work-items."""

    def timed_launch(
        self, kernel: CompiledKernel, grid: Dim3, block: Dim3, shared: int, args: Sequence[KernelArg]
    ) -> float:
        """Launch once and return its duration in seconds, measured around the launch with
        device events where the backend has them, else a host clock around launch + full
        synchronize. Waits for completion."""

    @property
    def timing_method(self) -> str: ...

    def flush_caches(self) -> None:
        """Evict the data caches (L2 on GPUs, LLC on CPUs) so a trial does not time a warm cache."""

    def measure_peak_bandwidth(self) -> float:
        """Bytes/s of a large device-to-device copy, counting bytes read plus written."""

    def close(self) -> None: ...
