"""What one launch of a kernel needs: its compile unit with tunables bound, its launch
shape and variables, buffers with canary guards, and generated inputs.

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
from backends.model import Diagnostic, Spec, Unit, Verdict
from backends.session import BufferArg, CompiledKernel, CompileUnit, DeviceSession, KernelArg, ScalarArg

__all__ = ["EvalFailure", "LaunchableKernel", "int_expr", "Buffers", "generate_inputs", "compile_unit_for",
           "with_prelude"]


class EvalFailure(Exception):
    """Ends an evaluation early with a verdict."""

    def __init__(self, verdict: Verdict, message: str, diagnostics: list[Diagnostic] | None = None):
        super().__init__(message)
        self.verdict = verdict
        self.message = message
        self.diagnostics = diagnostics or []


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

        def dims(exprs: list[str], what: str) -> tuple[int, int, int]:
            vals = []
            for e in exprs:
                v = int_expr(e, env, f"{self.role}: {what}")
                if v <= 0:
                    raise EvalFailure(Verdict.LAUNCH_ERROR, f"{self.role}: {what} `{e}` = {v}, not positive")
                vals.append(v)
            while len(vals) < 3:
                vals.append(1)
            return (vals[0], vals[1], vals[2])

        shared = int_expr(launch.shared, env, f"{self.role}: shared")
        return dims(launch.grid, "grid"), dims(launch.block, "block"), shared


def int_expr(expr: str, env: Mapping[str, int | float], what: str) -> int:
    try:
        v = eval_expr(expr, env)
    except ExprError as e:
        raise EvalFailure(Verdict.SPEC_ERROR, f"{what}: {e}") from None
    if isinstance(v, float):
        if not v.is_integer():
            raise EvalFailure(Verdict.SPEC_ERROR, f"{what}: `{expr}` = {v} is not a whole number")
        v = int(v)
    return v


class Buffers:
    """One kernel's allocations at one problem size, each with a canary guard on both sides."""

    def __init__(self, session: DeviceSession, spec: Spec, env: Mapping[str, int | float]):
        self.session = session
        self.spec = spec
        self.alloc: dict[str, object] = {}
        self.nbytes: dict[str, int] = {}
        self.initial: dict[str, np.ndarray] = {}
        self.digests: dict[str, int | None] = {}  # of each input as written (device_checks)
        try:
            for b in spec.buffers:
                n = int_expr(b.length, env, f"length of {b.name}")
                if n < 0:
                    raise EvalFailure(Verdict.SPEC_ERROR, f"length of {b.name} `{b.length}` = {n}")
                self.nbytes[b.name] = n * dtypes.itemsize(b.dtype)
                self.alloc[b.name] = session.alloc(self.nbytes[b.name] + 2 * GUARD_BYTES)
        except BaseException:
            self.free()
            raise

    def load(self, inputs: Mapping[str, np.ndarray]) -> None:
        for b in self.spec.buffers:
            buf, n = self.alloc[b.name], self.nbytes[b.name]
            self.session.fill(buf, 0, GUARD_BYTES, CANARY)
            self.session.fill(buf, GUARD_BYTES + n, GUARD_BYTES, CANARY)
            if b.role == "out":
                if n:
                    self.session.fill(buf, GUARD_BYTES, n, dtypes.poison_pattern(b.dtype))
            else:
                self.initial[b.name] = inputs[b.name]
                if n:
                    self.session.write(buf, GUARD_BYTES, inputs[b.name])
                    if b.role == "in":
                        self.digests[b.name] = device_checks.digest(self.session, buf, GUARD_BYTES, n)

    def reset_outputs(self) -> None:
        """Before a timed trial: outputs poisoned again, inout buffers back to their inputs."""
        for b in self.spec.buffers:
            n = self.nbytes[b.name]
            if not n:
                continue
            if b.role == "out":
                self.session.fill(self.alloc[b.name], GUARD_BYTES, n, dtypes.poison_pattern(b.dtype))
            elif b.role == "inout":
                self.session.write(self.alloc[b.name], GUARD_BYTES, self.initial[b.name])

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
                if was is not None and self.digest(b.name) == was:
                    continue  # unchanged, checked on the device
                now = self.session.read(self.alloc[b.name], GUARD_BYTES, self.nbytes[b.name])
                if not np.array_equal(now, self.initial[b.name].view(np.uint8)):
                    changed = int(np.count_nonzero(now != self.initial[b.name].view(np.uint8)))
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


def generate_inputs(spec: Spec, env: Mapping[str, int | float], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Random inputs of ordinary magnitude: floats in [-1, 1), integers in [-64, 64) (or the
    buffer's declared range). Never zeros: they hide unwritten outputs and wrong indexing."""
    data: dict[str, np.ndarray] = {}
    for b in spec.buffers:
        if b.role == "out":
            continue
        n = int_expr(b.length, env, f"length of {b.name}")
        dt = dtypes.numpy_dtype(b.dtype)
        lo = eval_expr(b.low, env) if b.low is not None else None
        hi = eval_expr(b.high, env) if b.high is not None else None
        if dtypes.is_float(b.dtype):
            lo = -1.0 if lo is None else float(lo)
            hi = 1.0 if hi is None else float(hi)
            if dt == np.float32 and hi > lo:  # drawn in float32 directly: 3x faster for large buffers
                a = rng.random(n, dtype=np.float32)
                a *= np.float32(hi - lo)
                a += np.float32(lo)
                data[b.name] = np.minimum(a, np.nextafter(np.float32(hi), np.float32(lo)), out=a)
            else:
                data[b.name] = rng.uniform(lo, hi, size=n).astype(dt)
        else:
            info = np.iinfo(dt)
            lo = (0 if info.min == 0 else -64) if lo is None else int(lo)
            hi = 64 if hi is None else int(hi)
            if hi <= lo:
                raise EvalFailure(Verdict.SPEC_ERROR, f"{b.name}: empty value range {lo}..{hi}")
            data[b.name] = rng.integers(max(lo, info.min), min(hi, int(info.max) + 1), size=n).astype(dt)
    return data


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
