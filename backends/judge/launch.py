"""What one launch of a kernel needs: its compile unit with tunables bound, its launch
shape and variables, and buffers with canary guards (inputs: backends/judge/inputs.py).

Shared by the harness and the ncu probe, so both launch a kernel exactly the same way.
A problem found here ends the evaluation with a verdict (EvalFailure), never a crash.
"""

from __future__ import annotations

import os
from typing import Mapping

import numpy as np

from backends.judge import device_checks
from backends.judge.verify import CANARY, GUARD_BYTES, guard_intact
from backends.kernel import dtypes
from backends.kernel.expressions import ExprError, evaluate as eval_expr, resolve
from backends.kernel.tunables import TunableError, bind, defaults
from backends.kernel.values import RangeError, start_value
from backends.model import BufferSpec, Diagnostic, Spec, Unit, Verdict
from backends.session import BufferArg, CompiledKernel, CompileUnit, DeviceSession, KernelArg, ScalarArg

__all__ = ["EvalFailure", "LaunchableKernel", "int_expr", "Buffers", "write_input", "compile_unit_for",
           "with_prelude", "launch_words", "describe_shape", "buffer_sizes", "out_fill",
           "alternate_poison"]


class EvalFailure(Exception):
    """Ends an evaluation early with a verdict."""

    def __init__(self, verdict: Verdict, message: str, diagnostics: list[Diagnostic] | None = None,
                 line: int | None = None):
        super().__init__(message)
        self.verdict = verdict
        self.message = message
        self.diagnostics = diagnostics or []
        self.line = line  # 0-based spec line the problem is about, when known (harness makes a Diagnostic)


class LaunchableKernel:
    """A compiled kernel with what is needed to launch it: its spec, tunables, language."""

    def __init__(self, role: str, unit: Unit, spec: Spec, compiled: CompiledKernel, tunables: dict):
        self.role = role
        self.unit = unit
        self.spec = spec
        self.compiled = compiled
        self.tunables = tunables
        self.language = unit.kernel.language

    def env(self, contract: Spec, overrides: Mapping[str, str]) -> dict[str, int | float]:
        """Variables for one problem size: the contract's (reference) variables, plus any the
        kernel's own spec adds (e.g. a tile count its launch uses), plus tunables."""
        names = {v.name for v in contract.variables}
        merged = Spec(
            buffers=contract.buffers,
            variables=list(contract.variables) + [v for v in self.spec.variables if v.name not in names],
            launch=self.spec.launch,
        )
        try:
            return resolve(merged, overrides, self.tunables)
        except ExprError as e:
            raise EvalFailure(Verdict.SPEC_ERROR, f"{self.role}: {e}") from None

    def launch_shape(self, env: Mapping[str, int | float]) -> tuple[tuple[int, int, int], tuple[int, int, int], int]:
        launch = self.spec.launch
        if launch is None:
            raise EvalFailure(Verdict.SPEC_ERROR, f"{self.role}: the spec has no launch lines")

        words = launch_words(self.language)

        def dims(exprs: list[str], what: str) -> tuple[int, int, int]:
            vals = []
            for e in exprs:
                v = int_expr(e, env, f"{self.role}: `{what}`", launch.line)
                if v <= 0:
                    raise EvalFailure(Verdict.LAUNCH_ERROR if self.role == "candidate" else Verdict.SPEC_ERROR,
                                      f"{self.role}: `{what}` `{e}` = {v}, not positive ({_at(env)})", line=launch.line)
                vals.append(v)
            while len(vals) < 3:
                vals.append(1)
            return (vals[0], vals[1], vals[2])

        shared = int_expr(launch.shared, env, f"{self.role}: shared", launch.line)
        grid, block = dims(launch.grid, words[0]), dims(launch.block, words[1])
        if self.language == "sycl":
            for d, (g, b) in enumerate(zip(grid, block)):
                if g % b:
                    raise EvalFailure(
                        Verdict.LAUNCH_ERROR if self.role == "candidate" else Verdict.SPEC_ERROR,
                        f"{self.role}: `global` is {g} work-items in dimension {d}, not a multiple of the "
                        f"work-group size `local` {b} ({_at(env)}): write `roundup(..., {launch.block[d]})` "
                        "and guard the extra work-items", line=launch.line)
        return grid, block, shared


def launch_words(language: str) -> tuple[str, str]:
    """The spec's words for the launch shape, in the kernel language's terms."""
    return ("global", "local") if language == "sycl" else ("grid", "block")


def describe_shape(language: str, grid, block, shared: int) -> str:
    """A launch shape in the kernel language's words (SYCL: work-items, work-groups)."""
    if language == "sycl":
        return (f"global {tuple(grid)} work-items, local (work-group) {tuple(block)}, "
                f"local memory {shared} bytes")
    return f"grid {tuple(grid)} blocks, block {tuple(block)} threads, dynamic shared memory {shared} bytes"


def _at(env: Mapping[str, int | float]) -> str:
    return ", ".join(f"{k}={v}" for k, v in env.items() if isinstance(v, int)) or "default sizes"


def int_expr(expr: str, env: Mapping[str, int | float], what: str, line: int | None = None) -> int:
    try:
        v = eval_expr(expr, env)
    except ExprError as e:
        raise EvalFailure(Verdict.SPEC_ERROR, f"{what}: {e}", line=line) from None
    if isinstance(v, float):
        if not v.is_integer():
            raise EvalFailure(Verdict.SPEC_ERROR, f"{what}: `{expr}` = {v} is not a whole number", line=line)
        v = int(v)
    return v


def out_fill(b: BufferSpec, env: Mapping[str, int | float], alternate: bool = False) -> bytes:
    """The bytes an `out` buffer's elements hold before a run: its `start` value, or the
    poison (`alternate`: a second, finite poison, to see whether the kernel reads it)."""
    if b.start is not None:
        try:
            v = start_value(b.dtype, eval_expr(b.start, env))
        except (ExprError, RangeError) as e:
            raise EvalFailure(Verdict.SPEC_ERROR, f"start value of {b.name}: {e}", line=b.line) from None
        return np.array([v], dtype=dtypes.numpy_dtype(b.dtype)).tobytes()
    return alternate_poison(b.dtype) if alternate else dtypes.poison_pattern(b.dtype)


def alternate_poison(dtype: str) -> bytes:
    """A second poison, unlike the first: finite for floats (a kernel adding into NaN keeps
    NaN, which would look unwritten), another odd byte for integers."""
    if dtypes.is_float(dtype):  # far from ordinary outputs, yet adding a small value changes it
        return np.array([1000.5 if dtype == "f16" else 1234567.875], dtype=dtypes.numpy_dtype(dtype)).tobytes()
    return b"\x3c" * dtypes.itemsize(dtype)


def buffer_sizes(spec: Spec, env: Mapping[str, int | float]) -> dict[str, int]:
    """Bytes of every buffer at one problem size; a length that is negative or does not fit in
    memory is a spec error naming the buffer's line, before anything is allocated."""
    sizes: dict[str, int] = {}
    for b in spec.buffers:
        n = int_expr(b.length, env, f"length of {b.name}", b.line)
        if n < 0:
            raise EvalFailure(Verdict.SPEC_ERROR, f"length of {b.name} `{b.length}` = {n}, "
                              "not a number of elements", line=b.line)
        sizes[b.name] = n * dtypes.itemsize(b.dtype)
    total = sum(sizes.values())
    if total > MAX_BYTES:
        big = max(spec.buffers, key=lambda b: sizes[b.name])
        raise EvalFailure(Verdict.SPEC_ERROR, f"the buffers need {total / 2**30:.1f} GiB "
                          f"({big.name}: `{big.length}` = {sizes[big.name] // dtypes.itemsize(big.dtype)} elements), "
                          f"more than kf allocates ({MAX_BYTES / 2**30:.0f} GiB, KF_MAX_BUFFER_GIB): use a smaller size",
                          line=big.line)
    return sizes


MAX_BYTES = int(float(os.environ.get("KF_MAX_BUFFER_GIB", "64")) * 2**30)


class Buffers:
    """One kernel's allocations at one problem size, each with a canary guard on both sides."""

    def __init__(self, session: DeviceSession, spec: Spec, env: Mapping[str, int | float],
                 alternate_poison: bool = False):
        self.session = session
        self.spec = spec
        self.env = env
        self.alternate = alternate_poison
        self.alloc: dict[str, object] = {}
        self.nbytes: dict[str, int] = buffer_sizes(spec, env)
        self.inputs: Mapping[str, np.ndarray] = {}
        self.initial: dict[str, np.ndarray] = {}  # inputs as written, read back (where no digest is taken)
        self.digests: dict[str, int | None] = {}  # of each input as written (device_checks)
        limit = getattr(getattr(session, "info", None), "memory_bytes", 0) or 0
        total = sum(self.nbytes.values())
        if limit and total > limit:
            big = max(spec.buffers, key=lambda b: self.nbytes[b.name])
            raise EvalFailure(Verdict.SPEC_ERROR, f"the buffers need {total / 2**30:.1f} GiB, "
                              f"more than the device's {limit / 2**30:.1f} GiB ({big.name}: `{big.length}`): use a "
                              "smaller size", line=big.line)
        try:
            for b in spec.buffers:
                try:
                    self.alloc[b.name] = session.alloc(self.nbytes[b.name] + 2 * GUARD_BYTES)
                except MemoryError:
                    raise EvalFailure(Verdict.SPEC_ERROR, f"cannot allocate {b.name} "
                                      f"({self.nbytes[b.name] / 2**20:.0f} MiB) on this device: use a smaller size",
                                      line=b.line) from None
        except BaseException:
            self.free()
            raise

    def load(self, inputs: Mapping[str, np.ndarray], snapshot: bool = True) -> None:
        """Guards, poisoned outputs and the inputs (`inputs`: an InputSet, written on the device
        (backends/judge/inputs.py), or plain arrays); `snapshot` as for reload."""
        for b in self.spec.buffers:
            buf, n = self.alloc[b.name], self.nbytes[b.name]
            self.session.fill(buf, 0, GUARD_BYTES, CANARY)
            self.session.fill(buf, GUARD_BYTES + n, GUARD_BYTES, CANARY)
        self.reload(inputs, snapshot)

    def reload(self, inputs: Mapping[str, np.ndarray], snapshot: bool = True, outputs: bool = True) -> None:
        """New inputs and poisoned outputs, guards left as they are (a timed trial checks them
        instead). `snapshot`: keep what each input holds now (a device digest, else a host
        copy) for `modified_inputs`; without it the inputs are not checked after the run.
        `outputs` False: the outputs already hold the poison (poison_outputs since the last run)."""
        self.inputs = inputs
        self.initial.clear()
        self.digests.clear()
        for b in self.spec.buffers:
            buf, n = self.alloc[b.name], self.nbytes[b.name]
            if b.role == "out":
                if n and (outputs or b.start is not None):
                    self.session.fill(buf, GUARD_BYTES, n, out_fill(b, self.env, self.alternate))
            elif n:
                write_input(self.session, inputs, b.name, buf, GUARD_BYTES)
                if b.role == "in" and snapshot:
                    d = device_checks.digest(self.session, buf, GUARD_BYTES, n)
                    if d is not None:
                        self.digests[b.name] = d
                    else:  # read back what was written: cheaper than the host's copy of generated values
                        self.initial[b.name] = self.session.read(buf, GUARD_BYTES, n)

    def reset_outputs(self) -> None:
        """Outputs poisoned again, inout buffers back to their inputs."""
        for b in self.spec.buffers:
            n = self.nbytes[b.name]
            if not n:
                continue
            if b.role == "out":
                self.session.fill(self.alloc[b.name], GUARD_BYTES, n, out_fill(b, self.env, self.alternate))
            elif b.role == "inout":
                write_input(self.session, self.inputs, b.name, self.alloc[b.name], GUARD_BYTES)

    def poison_outputs(self) -> None:
        """Every output buffer (inout too) overwritten with the poison: nothing a kernel computed
        stays readable (the original's outputs while a candidate runs)."""
        for b in self.spec.buffers:
            n = self.nbytes[b.name]
            if n and b.role != "in":
                self.session.fill(self.alloc[b.name], GUARD_BYTES, n, dtypes.poison_pattern(b.dtype))

    def read(self, name: str, dtype: str) -> np.ndarray:
        raw = self.session.read(self.alloc[name], GUARD_BYTES, self.nbytes[name])
        return raw.view(dtypes.numpy_dtype(dtype))

    def check_guards(self) -> tuple[str, str] | None:
        for b in self.spec.buffers:
            buf, n = self.alloc[b.name], self.nbytes[b.name]
            ok, where = guard_intact(
                self.session.read(buf, 0, GUARD_BYTES), self.session.read(buf, GUARD_BYTES + n, GUARD_BYTES)
            )
            if not ok:
                return b.name, where
        return None

    def digest(self, name: str) -> int | None:
        """The keyed digest of a buffer's contents now, on the device (None: check on the host)."""
        return device_checks.digest(self.session, self.alloc[name], GUARD_BYTES, self.nbytes[name])

    def modified_inputs(self) -> str | None:
        for b in self.spec.buffers:
            if b.role == "in" and self.nbytes[b.name]:
                was = self.digests.get(b.name)
                if was is not None:
                    if self.digest(b.name) == was:
                        continue  # unchanged, checked on the device
                    before = _host_input(self.inputs, b.name)
                else:
                    before = self.initial.get(b.name)
                    if before is None:
                        continue  # not snapshot (a timed trial that is not checked)
                now = self.session.read(self.alloc[b.name], GUARD_BYTES, self.nbytes[b.name])
                before = np.ascontiguousarray(before).reshape(-1).view(np.uint8)
                if not _same_bytes(now, before):
                    changed = int(np.count_nonzero(now != before))
                    return f"{b.name} ({changed} bytes changed)"
        return None

    def args(self, params, env: Mapping[str, int | float]) -> list[KernelArg]:
        out: list[KernelArg] = []
        for p in params:
            if p.is_pointer:
                out.append(BufferArg(self.alloc[p.name], GUARD_BYTES))
            else:
                dt = dtypes.canonical(p.base_type)
                if dt is None:
                    raise EvalFailure(Verdict.SPEC_ERROR, f"parameter {p.name}: unsupported scalar type `{p.type}`")
                value = env[p.name]
                out.append(ScalarArg(float(value) if dtypes.is_float(dt) else int(value), dt))
        return out

    def free(self) -> None:
        for buf in self.alloc.values():
            try:
                self.session.free(buf)
            except Exception:
                pass
        self.alloc.clear()


def write_input(session: DeviceSession, inputs: Mapping[str, np.ndarray], name: str, buffer: object,
                offset: int) -> None:
    """One input buffer's values onto the device: generated there for an InputSet, else copied."""
    write = getattr(inputs, "write", None)
    if write is not None:
        write(session, name, buffer, offset)
    else:
        session.write(buffer, offset, np.ascontiguousarray(inputs[name]).reshape(-1).view(np.uint8))


def _host_input(inputs: Mapping[str, np.ndarray], name: str) -> np.ndarray:
    return inputs[name]


def _same_bytes(a: np.ndarray, b: np.ndarray) -> bool:
    """Bitwise equality of two byte arrays, compared 8 bytes at a time where they allow it."""
    if a.size != b.size:
        return False
    if a.size % 8 == 0 and a.ctypes.data % 8 == 0 and b.ctypes.data % 8 == 0:
        return bool(np.array_equal(a.view(np.uint64), b.view(np.uint64)))
    return bool(np.array_equal(a, b))


def compile_unit_for(unit: Unit, role: str) -> tuple[CompileUnit, dict[str, int | float]]:
    kernel = unit.kernel
    try:
        values = {**defaults(unit.text, kernel), **unit.tunables}
        bound = bind(unit.text, kernel, values)
    except TunableError as e:
        raise EvalFailure(Verdict.SPEC_ERROR, f"{role}: {e}") from None
    path = unit.path.replace("\\", "/").replace('"', '\\"')
    source = with_prelude(bound.text, bound.prelude, path)
    include_dirs = list(unit.include_dirs)
    parent = os.path.dirname(os.path.abspath(unit.path))
    if parent not in include_dirs and os.path.isdir(parent):
        include_dirs.append(parent)
    return CompileUnit(unit.path, source, bound.entry, kernel.language, include_dirs), values


def with_prelude(text: str, prelude: str, path: str) -> str:
    """The text to compile: `prelude` (added #defines for tunables) goes after the file's
    last #include, so a tunable named like an identifier in a system header (WG, N...)
    cannot break the header; `#line` directives keep every diagnostic on the user's lines."""
    if not prelude:
        return f'#line 1 "{path}"\n{text}'
    lines = text.splitlines(keepends=True)
    last = -1
    for i, line in enumerate(lines):
        if line.lstrip().startswith("#") and line.lstrip()[1:].lstrip().startswith("include"):
            last = i
    head = "".join(lines[: last + 1])
    if head and not head.endswith("\n"):
        head += "\n"
    tail = "".join(lines[last + 1 :])
    return f'#line 1 "{path}"\n{head}{prelude}#line {last + 2} "{path}"\n{tail}'
