"""What one launch of a kernel needs: its compile unit with tunables bound, its launch
shape and variables, and buffers with canary guards (inputs: backends/judge/inputs.py).

Shared by the harness and the ncu probe, so both launch a kernel exactly the same way.
A problem found here ends the evaluation with a verdict (EvalFailure), never a crash.
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import msgspec
import numpy as np

from backends.judge import device_checks
from backends.judge.memory import device_limit
from backends.judge.verify import GUARD_BYTES, guard_bytes, guard_intact, guard_units
from backends.kernel import dtypes
from backends.kernel.expressions import ExprError, evaluate as eval_expr, resolve
from backends.kernel.lift import LIFTED_FORMS, LiftError, Plan, lift, plan as lift_plan
from backends.kernel.preamble import preamble
from backends.kernel.tunables import TunableError, bind, defaults
from backends.kernel.values import RangeError, start_value
from backends.model import BufferSpec, Diagnostic, Spec, Unit, Verdict
from backends.session import BufferArg, CompiledKernel, CompileUnit, DeviceSession, KernelArg, NullArg, ScalarArg

__all__ = ["EvalFailure", "LaunchableKernel", "int_expr", "Buffers", "write_input", "compile_unit_for",
           "with_prelude", "launch_words", "describe_shape", "buffer_sizes", "out_fill",
           "alternate_poison", "range_work_group", "lifted_plan"]


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

    def __init__(self, role: str, unit: Unit, spec: Spec, compiled: CompiledKernel, tunables: dict,
                 source: str | None = None):
        self.role = role
        self.source = source  # what went to the compiler (a lifted kernel's unit), for its features
        self.unit = unit
        self.spec = spec
        self.compiled = compiled
        self.tunables = tunables
        self.language = unit.kernel.language
        # a SYCL lambda / nd_item function runs as a lifted free-function kernel (kernel/lift.py)
        self.plan: Plan | None = lifted_plan(unit, role) if unit.kernel.form in LIFTED_FORMS else None
        module = getattr(compiled, "compiled", compiled)  # CudaKernel holds its CompiledModule
        self.param_types: dict[int, str] = dict(getattr(module, "param_types", {}) or {})

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
        if self.plan is not None and self.plan.range_launch:
            # a `range` launch: whole work-groups (the spec's `local`, else kf's), the global size
            # rounded up; the lifted kernel's extra work-items return at once
            grid = dims(launch.grid, words[0])
            block = dims(launch.block, words[1]) if launch.block else range_work_group(grid, self.plan.dims)
            return tuple(-(-g // b) * b for g, b in zip(grid, block)), block, shared  # type: ignore[return-value]
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


    def _enums_as_integers(self, params):
        """Scalar parameters of an enum type (`adamMode_t mode`) as the integer type they are passed as."""
        out = []
        for i, p in enumerate(params):
            if not p.is_pointer and dtypes.canonical(p.base_type) is None and \
                    dtypes.canonical(self.param_types.get(i, "") or "") is None:
                from backends.kernel.enums import underlying_type

                dirs = list(self.unit.include_dirs) + [f[2:] for f in self.unit.flags if f.startswith("-I")]
                u = underlying_type(p.base_type, self.unit.text, self.unit.path, dirs)
                if u is not None and dtypes.canonical(u) is not None:
                    p = msgspec.structs.replace(p, base_type=u)
            out.append(p)
        return out

    def args(self, bufs: "Buffers", env: Mapping[str, int | float]) -> list[KernelArg]:
        """The kernel's arguments: its parameters from the buffers and variables, then (a
        lifted kernel) the hidden `size_t`s its plan asks for (range, accessor extents)."""
        params = self.unit.kernel.params
        if self.plan is not None and self.plan.types:  # `T alpha` in a template: the type T is compiled with
            params = [msgspec.structs.replace(p, base_type=self.plan.types.get(p.base_type, p.base_type))
                      for p in params]
        out = bufs.args(self._enums_as_integers(params), env, self.param_types)
        for h in self.plan.hidden if self.plan is not None else []:
            v = int_expr(h.expr, env, f"{self.role}: {h.what}")
            if v < 0:
                raise EvalFailure(Verdict.SPEC_ERROR, f"{self.role}: {h.what} is {v} ({_at(env)})")
            if h.cap is not None and v > h.cap:
                raise EvalFailure(Verdict.SPEC_ERROR,
                                  f"{self.role}: {h.what} needs {v} elements at {_at(env)}, but kf sized its "
                                  f"local memory at compile time for the spec's sizes (at most {h.cap}): "
                                  "derived sizes larger than the default are not supported here")
            out.append(ScalarArg(v, "u64"))
        return out


def range_work_group(grid: tuple[int, int, int], dims: int) -> tuple[int, int, int]:
    """The work-group kf gives a `range` launch: 256 work-items (16x16, 8x8x4), no larger
    than the range needs in each dimension (a power of two)."""
    base = {1: (256, 1, 1), 2: (16, 16, 1)}.get(dims, (8, 8, 4))
    out = []
    for g, b in zip(grid, base):
        p = 1
        while p < g and p < b:
            p *= 2
        out.append(p)
    return out[0], out[1], out[2]


def lifted_plan(unit: Unit, role: str) -> Plan:
    try:
        return lift_plan(unit.text, unit.kernel, unit.path)
    except LiftError as e:
        raise EvalFailure(Verdict.SPEC_ERROR if role == "reference" else Verdict.COMPILE_ERROR,
                          f"{role}: {e.diagnostics[0].format()}", e.diagnostics) from None


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
        value = {"f16": 1000.5, "bf16": 1000.0}.get(dtypes.scalar(dtype), 1234567.875)
        return np.array([value], dtype=dtypes.numpy_dtype(dtype)).tobytes()
    return b"\x3c" * dtypes.numpy_dtype(dtype).itemsize


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


_launches = [0]  # launches prepared (Buffers.args), so a small allocation read before one is read again
_ALIGN = 256  # where each buffer's region starts in a shared allocation (any element type's alignment)


def _written_digest(session: DeviceSession, inputs: Mapping[str, np.ndarray], name: str, buf: object, offset: int,
                    n: int) -> int | None:
    """The device digest of input `name` just written: an InputSet's values are a function of
    its key, so the digest taken the first time it was written (before any kernel ran) holds
    for every later write of the same set (the original's runs, its checks, the candidate's):
    one digest per input set instead of one per run. Plain arrays are digested every time."""
    memo = getattr(inputs, "digests", None)
    if memo is None:
        return device_checks.digest(session, buf, offset, n)
    key = (name, n, getattr(getattr(session, "info", None), "backend", ""))
    if key not in memo:
        memo[key] = device_checks.digest(session, buf, offset, n)
    return memo[key]


class Buffers:
    """One kernel's allocations at one problem size, each buffer with a guard on both sides.

    Guards hold NaN for float buffers and the integer canary otherwise; `alternate_guards`
    (True, or the names of the buffers it applies to) fills them with the second pattern
    instead (huge values of both signs; `guard_phase` says which comes first), for the run
    that shows reads out of bounds (backends/judge/verify.py). `guard` = 0: no guards (the
    compute-sanitizer probe, whose memcheck must see the real ends of the allocations).

    When every buffer is small (below the size checked on the device, device_checks), they
    share one allocation, each between its own guards, written with one copy and read back
    with one after each launch: a run at a small size costs a handful of queue operations
    instead of a dozen (each a wait: milliseconds on a loaded CPU host). A write running
    far past one buffer lands in the next one's guard and is caught there."""

    def __init__(self, session: DeviceSession, spec: Spec, env: Mapping[str, int | float],
                 alternate_poison: bool = False, alternate_guards: bool | set[str] = False,
                 guard_phase: int = 0, guard: int = GUARD_BYTES):
        self.session = session
        self.spec = spec
        self.env = env
        self.alternate = alternate_poison
        self.guard = guard
        self.alloc: dict[str, object] = {}  # the allocation holding each buffer (one shared block when packed)
        self.base: dict[str, int] = {}  # where each buffer's front guard starts in its allocation
        self.nbytes: dict[str, int] = buffer_sizes(spec, env)
        self.inputs: Mapping[str, np.ndarray] = {}
        self.initial: dict[str, np.ndarray] = {}  # inputs as written, read back (where no digest is taken)
        self.digests: dict[str, int | None] = {}  # of each input as written (device_checks)
        self._seen: dict[int, tuple[int, np.ndarray]] = {}  # small allocations read whole, by launch count
        self.guards: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # what each guard holds (front, back)
        self.units: dict[str, tuple[bytes, bytes]] = {}  # their repeating units
        for b in spec.buffers:
            alt = b.name in alternate_guards if isinstance(alternate_guards, (set, frozenset)) else bool(alternate_guards)
            self.guards[b.name] = guard_bytes(b.dtype, alt, guard_phase)
            self.units[b.name] = guard_units(b.dtype, alt, guard_phase)
        limit = device_limit(session)
        total = sum(self.nbytes.values())
        if limit and total > limit:
            big = max(spec.buffers, key=lambda b: self.nbytes[b.name])
            raise EvalFailure(Verdict.SPEC_ERROR, f"the buffers need {total / 2**30:.1f} GiB, "
                              f"more than the device's {limit / 2**30:.1f} GiB ({big.name}: `{big.length}`): use a "
                              "smaller size", line=big.line)
        self.packed = bool(guard) and bool(spec.buffers) and all(self._small(b.name) for b in spec.buffers)
        try:
            if self.packed:
                at = 0
                for b in spec.buffers:
                    self.base[b.name] = at
                    at += -(-(self.nbytes[b.name] + 2 * guard) // _ALIGN) * _ALIGN
                block = self._allocate(spec.buffers[0], at)
                for b in spec.buffers:
                    self.alloc[b.name] = block
                self._span = at
            else:
                for b in spec.buffers:
                    self.base[b.name] = 0
                    self.alloc[b.name] = self._allocate(b, self.nbytes[b.name] + 2 * guard)
        except BaseException:
            self.free()
            raise

    def _allocate(self, b: BufferSpec, nbytes: int) -> object:
        try:
            return self.session.alloc(nbytes)
        except MemoryError:
            raise EvalFailure(Verdict.SPEC_ERROR, f"cannot allocate {b.name} ({self.nbytes[b.name] / 2**20:.0f} MiB) "
                              "on this device: use a smaller size", line=b.line) from None

    def _body(self, b: BufferSpec, inputs: Mapping[str, np.ndarray]) -> np.ndarray:
        """A buffer's contents before a run, as bytes: its input (on the host: small buffers
        only), or its poison/start value."""
        if b.role == "out":
            fill = out_fill(b, self.env, self.alternate)
            return np.frombuffer(fill * (self.nbytes[b.name] // len(fill)), dtype=np.uint8)
        return np.ascontiguousarray(inputs[b.name]).reshape(-1).view(np.uint8)

    def load(self, inputs: Mapping[str, np.ndarray], snapshot: bool = True) -> None:
        """Guards, poisoned outputs and the inputs (`inputs`: an InputSet, written on the device
        (backends/judge/inputs.py), or plain arrays); `snapshot` as for reload."""
        self._write(inputs, snapshot, True, True)

    def reload(self, inputs: Mapping[str, np.ndarray], snapshot: bool = True, outputs: bool = True) -> None:
        """New inputs and poisoned outputs (a timed trial: its guards were checked after the last
        run; small buffers rewrite them with their contents, in the same copy). `snapshot`: keep
        what each input holds now (a device digest, else the bytes written) for `modified_inputs`;
        without it the inputs are not checked after the run. `outputs` False: the outputs already
        hold the poison (poison_outputs since the last run)."""
        self._write(inputs, snapshot, outputs, False)

    def _write(self, inputs: Mapping[str, np.ndarray], snapshot: bool, outputs: bool, guards: bool) -> None:
        g = self.guard
        self._seen.clear()
        self.inputs = inputs
        self.initial.clear()
        self.digests.clear()
        if self.packed:  # every buffer, between its guards, in one copy
            block = np.zeros(self._span, dtype=np.uint8)
            for b in self.spec.buffers:
                at, n = self.base[b.name], self.nbytes[b.name]
                front, back = self.guards[b.name]
                block[at:at + g] = front
                block[at + g:at + g + n] = body = self._body(b, inputs)
                block[at + g + n:at + 2 * g + n] = back
                if b.role == "in" and snapshot:
                    self.initial[b.name] = body
            self.session.write(self.alloc[self.spec.buffers[0].name], 0, block)
            return
        for b in self.spec.buffers:
            buf, n = self.alloc[b.name], self.nbytes[b.name]
            if self._small(b.name):  # guards and contents in one copy
                front, back = self.guards[b.name]
                body = self._body(b, inputs)
                self.session.write(buf, 0, np.concatenate([front, body, back]))
                if b.role == "in" and snapshot:
                    self.initial[b.name] = body
                continue
            if g and guards:
                self._write_guards(b, buf, n)
            if b.role == "out":
                if n and (outputs or b.start is not None):
                    self.session.fill(buf, g, n, out_fill(b, self.env, self.alternate))
            elif n:
                write_input(self.session, inputs, b.name, buf, g)
                if b.role == "in" and snapshot:
                    d = _written_digest(self.session, inputs, b.name, buf, g, n)
                    if d is not None:
                        self.digests[b.name] = d
                    else:  # read back what was written: cheaper than the host's copy of generated values
                        self.initial[b.name] = self.session.read(buf, g, n)

    def read_whole(self, name: str) -> bool:
        """Is `name` read with its guards in one copy (its `read` a view of that copy, `into` unused)?"""
        return self._small(name)

    def _small(self, name: str) -> bool:
        """Written and read whole (guards and contents in one copy each way): a buffer below
        the size checked on the device (device_checks), with guards."""
        return bool(self.guard) and self.nbytes[name] < device_checks.DEVICE_MIN_BYTES

    def _region(self, name: str) -> np.ndarray:
        """A small buffer with its guards as they are now: its allocation is read again after
        any launch (of any kernel: one may write outside its own buffers), else reused."""
        buf = self.alloc[name]
        got = self._seen.get(id(buf))
        if got is None or got[0] != _launches[0]:
            size = self._span if self.packed else self.nbytes[name] + 2 * self.guard
            got = self._seen[id(buf)] = (_launches[0], self.session.read(buf, 0, size))
        at = self.base[name]
        return got[1][at:at + self.nbytes[name] + 2 * self.guard]

    def _write_guards(self, b: BufferSpec, buf: object, n: int) -> None:
        for offset, unit, whole in ((0, self.units[b.name][0], self.guards[b.name][0]),
                                    (GUARD_BYTES + n, self.units[b.name][1], self.guards[b.name][1])):
            if len(unit) <= 8:
                self.session.fill(buf, offset, GUARD_BYTES, unit)  # on the device
            else:  # a 16-byte unit (alternating doubles): written from the host
                self.session.write(buf, offset, whole)

    def reset_outputs(self) -> None:
        """Outputs poisoned again, inout buffers back to their inputs."""
        self._seen.clear()
        for b in self.spec.buffers:
            n = self.nbytes[b.name]
            if not n:
                continue
            at = self.base[b.name] + self.guard
            if b.role == "out":
                self.session.fill(self.alloc[b.name], at, n, out_fill(b, self.env, self.alternate))
            elif b.role == "inout":
                write_input(self.session, self.inputs, b.name, self.alloc[b.name], at)

    def poison_outputs(self) -> None:
        """Every output buffer (inout too) overwritten with the poison: nothing a kernel computed
        stays readable (the original's outputs while a candidate runs)."""
        self._seen.clear()
        for b in self.spec.buffers:
            n = self.nbytes[b.name]
            if n and b.role != "in":
                self.session.fill(self.alloc[b.name], self.base[b.name] + self.guard, n,
                                  dtypes.poison_pattern(b.dtype))

    def read_owned(self, name: str, dtype: str) -> np.ndarray:
        """`read`, as an array no other reader shares (kept after the buffers are freed): a large
        buffer's read is already a fresh copy from the device (copying it again cost ~0.3 s per
        256 MiB); a small one is a view of the allocation's last read, copied."""
        a = self.read(name, dtype)
        return a.copy() if self._small(name) else a

    def read(self, name: str, dtype: str, into: np.ndarray | None = None) -> np.ndarray:
        """A buffer's contents now (not owned: a small one is a view of its allocation's last read).
        `into`: a uint8 array of the buffer's size that a large read lands in (the caller's, reused
        from read to read: fresh host memory costs a page fault per page on first touch)."""
        if self._small(name):
            raw = self._region(name)[self.guard:self.guard + self.nbytes[name]]
        else:
            raw = self.session.read(self.alloc[name], self.base[name] + self.guard, self.nbytes[name], out=into)
        return raw.view(dtypes.numpy_dtype(dtype))

    def check_guards(self) -> tuple[str, str] | None:
        if not self.guard:
            return None
        for b in self.spec.buffers:
            buf, n = self.alloc[b.name], self.nbytes[b.name]
            if self._small(b.name):
                region = self._region(b.name)
                front, back = region[:GUARD_BYTES], region[GUARD_BYTES + n:]
            else:
                front = self.session.read(buf, 0, GUARD_BYTES)
                back = self.session.read(buf, GUARD_BYTES + n, GUARD_BYTES)
            ok, where = guard_intact(front, back, self.guards[b.name])
            if not ok:
                return b.name, where
        return None

    def device_range(self, name: str) -> tuple[DeviceSession, object, int, int] | None:
        """(session, allocation, offset, bytes) of a buffer's contents, for kf's own kernels that
        read it where it is (device_checks.on_device); None for one held packed with others."""
        if self._small(name):
            return None
        return self.session, self.alloc[name], self.base[name] + self.guard, self.nbytes[name]

    def digest(self, name: str) -> int | None:
        """The keyed digest of a buffer's contents now, on the device (None: check on the host)."""
        return device_checks.digest(self.session, self.alloc[name], self.base[name] + self.guard, self.nbytes[name])

    def modified_inputs(self) -> str | None:
        for b in self.spec.buffers:
            if b.role == "in" and self.nbytes[b.name]:
                was = self.digests.get(b.name)
                if was is not None:
                    if self.digest(b.name) == was:
                        continue  # unchanged, checked on the device
                    before = self.inputs[b.name]  # changed: the bytes that differ, from the host's copy
                else:
                    before = self.initial.get(b.name)
                    if before is None:
                        continue  # not snapshot (a timed trial that is not checked)
                now = self.read(b.name, "u8")
                before = np.ascontiguousarray(before).reshape(-1).view(np.uint8)
                if not _same_bytes(now, before):
                    changed = int(np.count_nonzero(now != before))
                    return f"{b.name} ({changed} bytes changed)"
        return None

    def arg(self, name: str) -> BufferArg:
        """The pointer argument of buffer `name` (its first element)."""
        return BufferArg(self.alloc[name], self.base[name] + self.guard)

    def args(self, params, env: Mapping[str, int | float], resolved: Mapping[int, str] | None = None) -> list[KernelArg]:
        """Launch arguments; `resolved`: parameter types as the compiler saw them (typedefs,
        macros, bound template parameters), for parameters whose written type kf does not know.
        Called before every launch: what any Buffers read before is stale after it."""
        _launches[0] += 1
        out: list[KernelArg] = []
        for i, p in enumerate(params):
            if p.is_pointer and p.name in self.spec.nulls:
                out.append(NullArg())  # `@kf NAME = null`
            elif p.is_pointer:
                out.append(self.arg(p.name))
            else:
                dt = dtypes.canonical(p.base_type) or (dtypes.canonical(resolved[i]) if resolved and i in resolved
                                                       else None)
                if dt is None or "x" in dt:
                    seen = f" (the compiler sees `{resolved[i]}`)" if resolved and i in resolved else ""
                    raise EvalFailure(Verdict.SPEC_ERROR, f"parameter {p.name}: unsupported scalar type "
                                                          f"`{p.type}`{seen}")
                value = env[p.name]
                out.append(ScalarArg(float(value) if dtypes.is_float(dt) else int(value), dt))
        return out

    def free(self) -> None:
        freed: set[int] = set()
        for buf in self.alloc.values():
            if id(buf) in freed:
                continue
            freed.add(id(buf))
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


def _same_bytes(a: np.ndarray, b: np.ndarray) -> bool:
    """Bitwise equality of two byte arrays, compared 8 bytes at a time where they allow it."""
    if a.size != b.size:
        return False
    if a.size % 8 == 0 and a.ctypes.data % 8 == 0 and b.ctypes.data % 8 == 0:
        return bool(np.array_equal(a.view(np.uint64), b.view(np.uint64)))
    return bool(np.array_equal(a, b))


def compile_unit_for(unit: Unit, role: str, like: CompileUnit | None = None, precompile: bool = False
                     ) -> tuple[CompileUnit, dict[str, int | float | str]]:
    """What goes to the compiler for `unit`, and the tunable values bound in it. CUDA: the
    project's flags (unit_flags) and the compiler chosen for the file; `like` (the
    original's unit) makes a candidate compile the same way as the original. `precompile`
    (EvalOptions.precompile): the original's preamble may be kept precompiled
    (CompileUnit.precompile), and a candidate's where it is the same."""
    kernel = unit.kernel
    try:
        values = {**defaults(unit.text, kernel), **unit.tunables}
        bound = bind(unit.text, kernel, values)
    except TunableError as e:
        raise EvalFailure(Verdict.SPEC_ERROR, f"{role}: {e}") from None
    path = unit.path.replace("\\", "/").replace('"', '\\"')
    entry = bound.entry
    if kernel.form in LIFTED_FORMS:  # a SYCL lambda / nd_item function: its lifted free-function kernel
        try:
            lifted = lift(bound.text, kernel, unit.path, bound.entry, bound.prelude, values, before=bound.before)
        except LiftError as e:
            raise EvalFailure(Verdict.SPEC_ERROR if role == "reference" else Verdict.COMPILE_ERROR,
                              f"{role}: {e.diagnostics[0].format()}", e.diagnostics) from None
        source, entry = lifted.source, lifted.entry
    else:
        source = with_prelude(bound.text, bound.prelude, path, bound.before)
    include_dirs = list(unit.include_dirs)
    parent = os.path.dirname(os.path.abspath(unit.path))
    if parent not in include_dirs and os.path.isdir(parent):
        include_dirs.append(parent)
    if kernel.language != "cuda":  # SYCL: the project's include directories and macros
        flags, _ = unit_flags(unit)
        include_dirs += [f[2:] for f in flags if f.startswith("-I") and f[2:] not in include_dirs]
        options = [f for f in flags if f.startswith(("-D", "-U"))]
        return CompileUnit(unit.path, source, entry, kernel.language, include_dirs, options,
                           precompile=_recurring_preamble(source, bound.prelude + "".join(d for _, d in bound.before),
                                                           role, like, precompile)), values
    probe = len(kernel.params) if _needs_probe(kernel) else 0
    if like is not None:
        return CompileUnit(unit.path, source, bound.entry, "cuda", include_dirs, list(like.options),
                           like.compiler, probe), values
    from backends.cuda.compiler import blocked, choose_compiler
    from backends.kernel.text import range_to_offsets

    flags, _ = unit_flags(unit)
    project_dirs = [f[2:] for f in flags if f.startswith("-I")] + \
        [f.split("=", 1)[1] for f in flags if f.startswith("--system-include=")]
    choice = choose_compiler(unit.path, unit.text, include_dirs + project_dirs,
                             skip=range_to_offsets(unit.text, kernel.region))
    cu = CompileUnit(unit.path, source, bound.entry, "cuda", include_dirs, flags, choice.compiler, probe)
    stop = blocked(cu, choice)
    if stop is not None:
        verdict = Verdict.REFERENCE_FAILED if role == "reference" else Verdict.COMPILE_ERROR
        raise EvalFailure(verdict, f"{role} cannot be compiled here: {stop.diagnostics[0].format()}",
                          list(stop.diagnostics))
    return cu, values


def _needs_probe(kernel) -> bool:
    """Ask the compiler for the parameters' types when one is written as a type kf does not
    know (a typedef, a macro, a template parameter)."""
    return any(dtypes.canonical(p.base_type) is None for p in kernel.params)


def unit_flags(unit: Unit) -> tuple[list[str], str]:
    """(flags, where from): the Unit's own (set by load_unit from compile_commands.json,
    settings or --flags, with the file's `@kf flags`); for a Unit made without them, the
    file's compile_commands.json entry and `@kf flags` lines."""
    if unit.flags or unit.flags_source:
        return list(unit.flags), unit.flags_source
    from backends.kernel.project_flags import file_flags, flags_for
    from backends.kernel.scanner import find_kernels

    try:
        kernels = find_kernels(unit.text, unit.path, unit.kernel.language)
    except Exception:
        kernels = [unit.kernel]
    found = flags_for(unit.path, spec_flags=file_flags(kernels))
    return found.flags, found.source


def _recurring_preamble(source: str, prelude: str, role: str, like: CompileUnit | None, wanted: bool) -> bool:
    """Is the unit's preamble one that later compiles share (CompileUnit.precompile)? The
    original's where `wanted` (a search), unless kf's tunable #defines sit in it (each
    candidate's would differ); a candidate's only where it is the original's, byte for byte
    (an LLM's rewrite with other includes would build a precompiled preamble used once: a
    compile's worth of time lost)."""
    head = preamble(source)
    if role != "reference":
        return like is not None and like.precompile and head == preamble(like.source)
    return wanted and not any(d in head for d in prelude.splitlines() if d.strip())


def with_prelude(text: str, prelude: str, path: str, before: Sequence[tuple[int, str]] = ()) -> str:
    """The text to compile: `prelude` (added #defines for tunables) goes after the file's
    last #include, so a tunable named like an identifier in a system header (WG, N...)
    cannot break the header; `before` (line, #defines) go just above that line, the include
    of a header that defines the tunable under `#ifndef`; `#line` directives keep every
    diagnostic on the user's lines."""
    if not prelude and not before:
        return f'#line 1 "{path}"\n{text}'
    lines = text.splitlines(keepends=True)
    last = -1
    for i, line in enumerate(lines):
        if line.lstrip().startswith("#") and line.lstrip()[1:].lstrip().startswith("include"):
            last = i
    early: dict[int, str] = {}
    for i, d in before:
        early[i] = early.get(i, "") + d
    out = [f'#line 1 "{path}"\n']
    for i, line in enumerate(lines):
        if i in early:
            out.append(f'{early[i]}#line {i + 1} "{path}"\n')
        out.append(line)
        if i == last and prelude:
            out.append(("" if line.endswith("\n") else "\n") + f'{prelude}#line {i + 2} "{path}"\n')
    if last < 0 and prelude:
        out.insert(1, f'{prelude}#line 1 "{path}"\n')
    return "".join(out)
