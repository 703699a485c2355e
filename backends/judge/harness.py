"""One evaluation: compile, verify against the reference, time, profile. Runs in a worker.

Written once over the DeviceSession interface so that every defence holds on every
backend (../docs/evaluation.md lists them):
- reference and candidate never share memory; inputs are fresh per (size, seed) and mixed
  with a per-request nonce, so a stored answer cannot match;
- outputs are poisoned before every run, inputs are compared bitwise after every run,
  canary guards around every buffer catch writes out of bounds;
- timing alternates reference and candidate trial by trial (drift hits both), flushes
  caches and re-poisons outputs between trials, and the output of the last timed run is
  verified too, so a kernel cannot behave during checks and skip work while timed.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Callable

import msgspec
import numpy as np

from backends.kernel import dtypes
from backends.session import (
    CompileFailure,
    DeviceFault,
    DeviceSession,
    LaunchError,
)
from backends.kernel.expressions import ExprError, evaluate as eval_expr
from backends.model import (
    Build,
    CheckReport,
    Diagnostic,
    EvalRequest,
    EvalResult,
    KernelMeasurement,
    Profile,
    Spec,
    Unit,
    Verdict,
)
from backends.kernel.spec import check_contract
from backends.judge.stats import compare, summarize
from backends.judge.launch import (
    Buffers,
    EvalFailure,
    LaunchableKernel,
    compile_unit_for,
    generate_inputs,
    int_expr,
)
from backends.judge import original as original_checks
from backends.judge.launch import describe_shape
from backends.judge.sizes import derived_sizes
from backends.judge.evidence import run_label
from backends.judge import compile_cache, device_checks, python_reference, reference_cache
from backends.judge.launch import buffer_sizes
from backends.judge.verify import ACCURACY_FACTOR, ORIGINAL_LIMIT, compare_output, in_tolerances, poison_mask
from backends.kernel.expressions import resolve
from backends.kernel.pyref import is_stub

Reporter = Callable[[str, float], None]
"""report(what is happening now, seconds it may take): lets the pool name a hang."""

COMPILE_SECONDS = 180.0
LAUNCH_SECONDS = 60.0


def _build(unit: Unit, cu, out, diagnostics=None) -> Build | None:
    """The Build of the original: compiler (from what compiled it), flags and their source."""
    if unit.kernel.language != "cuda":
        compiler = getattr(out, "compiler", "") if out is not None else ""
        return Build(compiler) if compiler else None
    from backends.judge.launch import unit_flags

    flags, source = (list(cu.options), "") if cu is not None else unit_flags(unit)
    if cu is not None:
        source = unit_flags(unit)[1]
    compiler = getattr(out, "compiler", "") or getattr(getattr(out, "compiled", None), "compiler", "")
    why = ""
    if cu is not None and cu.compiler == "nvcc":
        why = _why_nvcc(unit, cu)
    elif diagnostics:
        why = diagnostics[0].message
        compiler = compiler or "nvrtc"
    return Build(compiler or (cu.compiler if cu is not None else ""), flags, source, why)


def _why_nvcc(unit: Unit, cu) -> str:
    try:
        from backends.cuda.compiler import choose_compiler
        from backends.kernel.text import range_to_offsets

        dirs = list(cu.include_dirs) + [f[2:] for f in cu.options if f.startswith("-I")]
        return choose_compiler(unit.path, unit.text, dirs, range_to_offsets(unit.text, unit.kernel.region)).reason
    except Exception:
        return ""


def _spec_errors(unit: Unit) -> list[Diagnostic]:
    return [d for d in unit.kernel.spec_errors if d.severity == "error"]


class Evaluation:
    """State of one request; `run()` returns (result, worker_still_healthy)."""

    def __init__(self, session: DeviceSession, request: EvalRequest, report: Reporter):
        self.session = session
        self.req = request
        self.report = report
        self.opts = request.options
        self.healthy = True
        self.compile_seconds = 0.0
        self.checks: list[CheckReport] = []
        self.diagnostics: list[Diagnostic] = []
        self.spread: dict[str, float] = {}  # buffer -> the original's own spread (original.py)
        self.notes: list[str] = []  # for the verdict: skipped derived sizes, a nondeterministic original
        self.at: tuple[dict[str, int], int, bool] | None = None  # the (sizes, seed) running now
        self.reference_key: str | None = None  # the original's compile digest (compile_cache)
        # the oracle (`_compare`): how far a nondeterministic original widens the comparison, and
        # with a Python reference the largest errors against it seen in this evaluation
        self.widen: dict[str, tuple[float, float]] = {}  # buffer -> (extra rtol, extra atol), original.py
        self.original_error: dict[str, float] = {}  # buffer -> the original's error over its repeated runs
        self.original_excess: dict[str, float] = {}  # the same in multiples of the tolerance
        self.skipped: dict[str, list[str]] = {}  # why -> the derived sizes skipped for it
        self.skip_details: dict[str, str] = {}  # why -> what happened at the first of them
        self._bounds: dict[tuple, tuple[float, float, str]] = {}  # (buffer, length) -> accumulation widening
        self._bounds_of: dict | None = None  # ... for this input set
        self.seen: dict[str, dict[str, float]] = {}  # buffer -> {"original": err, "candidate": err}
        self.rules: dict[str, set[str]] = {}  # buffer -> the rules its checks passed by
        self.reference_unit = None  # the original's CompileUnit: candidates compile the same way
        self.build: Build | None = None

    # -- steps -----------------------------------------------------------------------

    def _compile(self, unit: Unit, role: str) -> LaunchableKernel:
        if unit.kernel.spec is None:
            raise EvalFailure(
                Verdict.SPEC_ERROR if role == "reference" else Verdict.CONTRACT,
                f"{unit.path}:{unit.kernel.name_range.start.line + 1}: kernel {unit.kernel.name} has no "
                f"`@kf` spec (run `kf spec {unit.path}:{unit.kernel.name}` for a draft)",
            )
        errors = _spec_errors(unit)
        if role == "candidate" and unit.kernel.spec is not None and unit.kernel.spec.reference is not None:
            # the original's reference is the oracle; a candidate's own line (resolved next to it) is not used
            errors = [d for d in errors if d.line != unit.kernel.spec.reference.line]
        if errors:
            raise EvalFailure(Verdict.SPEC_ERROR, f"{role}: {errors[0].format()}", errors)
        try:
            cu, values = compile_unit_for(unit, role, like=self.reference_unit if role == "candidate" else None)
        except EvalFailure as f:
            if role == "reference":
                self.build = _build(unit, None, None, f.diagnostics)
            raise
        if role == "reference":
            self.reference_unit = cu
        self.report(f"compiling the {role}", COMPILE_SECONDS)
        t = time.perf_counter()
        if role == "reference":  # compiled once per worker (compile_cache); candidates always afresh
            compiled = compile_cache.compile_original(self.session, cu)
            out, self.reference_key = compiled.kernel, compiled.key
        else:
            out = self.session.compile(cu)
        self.compile_seconds += time.perf_counter() - t
        if role == "reference":
            self.build = _build(unit, cu, out)
        if isinstance(out, CompileFailure):
            first = out.diagnostics[0].format() if out.diagnostics else out.log.strip().splitlines()[0:1]
            verdict = Verdict.COMPILE_ERROR if role == "candidate" else Verdict.REFERENCE_FAILED
            raise EvalFailure(verdict, f"{role} does not compile: {first}", list(out.diagnostics))
        self.diagnostics.extend(out.warnings)
        k = LaunchableKernel(role, unit, unit.kernel.spec, out, values, cu.source)
        if role == "reference":
            self._check_types(k)
        return k

    def _check_types(self, k: LaunchableKernel) -> None:
        """The spec's buffer types against the parameters' types as the compiler resolved them
        (typedefs and macros under the project's flags: `floatX` is `__nv_bfloat16` under
        -DENABLE_BF16): a spec that says float for a bfloat16 buffer would verify nothing."""
        spec = k.spec
        for i, p in enumerate(k.unit.kernel.params):
            seen = k.param_types.get(i)
            b = spec.buffer(p.name) if p.is_pointer else None
            if seen is None or b is None or dtypes.canonical(p.base_type) is not None:
                continue
            dt = dtypes.canonical(seen)
            if dt is not None and not dtypes.same_memory(dt, b.dtype):
                flags = " ".join(self.build.flags) if self.build and self.build.flags else "no flags"
                raise EvalFailure(Verdict.SPEC_ERROR,
                                  f"buffer '{p.name}' is {b.dtype} in the spec, but the compiler sees `{p.base_type}` "
                                  f"as `{seen}` ({dt}) with {flags}: write `{p.name}: {dt}[...]` or build with the "
                                  "project's flags", line=b.line)

    def _launch(self, k: LaunchableKernel, bufs: Buffers, env, what: str, timed: bool = False) -> float:
        if timed or what == "warm-up" or what.startswith("timing"):
            what = run_label(self.at[0], -1, False) + f", {what}" if self.at else what
        grid, block, shared = k.launch_shape(env)
        args = k.args(bufs, env)
        self.report(f"running the {k.role} ({what})", self._launch_deadline)
        try:
            if timed:
                return self.session.timed_launch(k.compiled, grid, block, shared, args)
            self.session.launch(k.compiled, grid, block, shared, args)
            return 0.0
        except LaunchError as e:
            verdict = Verdict.LAUNCH_ERROR if k.role == "candidate" else Verdict.SPEC_ERROR
            raise EvalFailure(verdict, f"{k.role} launch refused ({what}): {describe_shape(k.language, grid, block, shared)}: {e}",
                              line=k.spec.launch.line if k.spec.launch else None) from None
        except DeviceFault as e:
            if e.sticky:
                self.healthy = False
            verdict = Verdict.CRASH if k.role == "candidate" else Verdict.REFERENCE_FAILED
            raise EvalFailure(verdict, f"{k.role} faulted ({what}): {e}") from None

    @property
    def _launch_deadline(self) -> float:
        """A launch (with its checks) taking longer than this is a hang: the pool kills it."""
        return self.opts.timeout_s if self.opts.timeout_s > 0 else LAUNCH_SECONDS

    def _sizes(self, contract: Spec, tunables=None) -> list[tuple[str, dict[str, str], bool]]:
        """(label, overrides, derived): the default size, the spec's check sizes, then the
        derived sizes kf adds (backends/judge/sizes.py)."""
        sizes = [("default size", {}, False)]
        if self.opts.check_extra_sizes:
            for c in contract.checks:
                label = ", ".join(f"{k}={v}" for k, v in c.assignments.items())
                sizes.append((label, dict(c.assignments), False))
            for d in derived_sizes(contract, tunables, [c.assignments for c in contract.checks]):
                sizes.append((f"{d.label} (derived)", d.overrides, True))
        return sizes

    def _run_checked(self, k: LaunchableKernel, contract: Spec, env, inputs, what: str) -> Buffers:
        """Run `k` once on fresh buffers; returns them (caller frees) after the safety checks."""
        bufs = Buffers(self.session, contract, env)
        try:
            bufs.load(inputs)
            self._launch(k, bufs, env, what)
            self._after_run(k, bufs, what)
            return bufs
        except BaseException:
            bufs.free()
            raise

    def _after_run(self, k: LaunchableKernel, bufs: Buffers, what: str) -> None:
        oob = bufs.check_guards()
        if oob:
            if k.role == "candidate":
                self.healthy = False  # it may have scribbled on memory we do not guard
                raise EvalFailure(Verdict.OUT_OF_BOUNDS, f"candidate writes out of bounds of {oob[0]} ({what}): {oob[1]}")
            raise EvalFailure(Verdict.REFERENCE_FAILED, f"the original kernel writes out of bounds of {oob[0]} ({what}): {oob[1]}")
        modified = bufs.modified_inputs()
        if modified:
            if k.role == "candidate":
                raise EvalFailure(Verdict.INPUT_MODIFIED, f"candidate modifies input {modified} ({what})")
            raise EvalFailure(
                Verdict.REFERENCE_FAILED,
                f"the original kernel modifies input {modified}: declare it `inout` in the spec",
            )

    @staticmethod
    def _tolerance(contract: Spec, b) -> tuple[float, float]:
        """(rtol, atol) as written (`@kf tol`) or the dtype's default; a default atol is a
        fraction of the expected outputs' magnitude (`_scaled`), a written one is absolute."""
        rtol, atol = dtypes.default_tolerance(b.dtype)
        rtol = contract.rtol if contract.rtol is not None else rtol
        atol = contract.atol if contract.atol is not None else atol
        return rtol, atol

    @staticmethod
    def _scaled(contract: Spec) -> bool:
        return contract.atol is None

    def _note_errors(self, name: str, check) -> None:
        seen = self.seen.setdefault(name, {})
        if check.original_error is not None:
            seen["original"] = max(seen.get("original", 0.0), check.original_error)
        seen["candidate"] = max(seen.get("candidate", 0.0), check.max_abs_err)
        if check.rule:
            self.rules.setdefault(name, set()).add(check.rule)

    def _accumulation(self, contract: Spec, b, inputs: dict | None, n_out: int) -> tuple[float, float, str]:
        """How far the rounding of an accumulation widens the tolerance of float output `b`:
        k terms per output element (k >= 2: a sum, a dot product) summed in float in some
        order err by up to original.accumulation_bound, whatever the oracle; a reordering
        of a float sum is not an error (docs/evaluation.md, "Tolerances")."""
        if inputs is None or not dtypes.is_float(b.dtype):
            return 0.0, 0.0, ""
        if self._bounds_of is not inputs:  # kept for the input set being compared now
            self._bounds_of, self._bounds = inputs, {}
        key = (b.name, n_out)
        if key not in self._bounds:
            lengths = {x.name: inputs[x.name].size for x in contract.buffers if x.name in inputs}
            lengths[b.name] = n_out
            rtol_x, atol_x, k, rms = original_checks.accumulation_bound(b, contract, inputs, lengths)
            self._bounds[key] = (rtol_x, atol_x, f"for the rounding of {k} terms per element") if k >= 2 \
                else (0.0, 0.0, "")
        return self._bounds[key]

    def _disagrees(self, contract: Spec, check, what: str) -> EvalFailure:
        """The original against the Python reference, beyond what rounding explains: an error
        of the kernel or of the reference (never a yardstick), at the `@kf reference` line."""
        ref = contract.reference
        message = (f"the original disagrees with the Python reference {python_reference.describe(ref)}: "
                   f"{check.message} ({what}): fix the kernel or the reference")
        unit = self.req.reference
        return EvalFailure(Verdict.REFERENCE_FAILED, message, [_spec_diagnostic(unit, ref.line, message)])

    def _compare(self, rb: Buffers | None, cb: Buffers, contract: Spec, sizes, seed, what, derived: bool = False,
                 expected: dict | None = None, inputs: dict | None = None) -> CheckReport:
        """Every output of the candidate against the oracle: a Python reference's `expected`
        outputs (judged by accuracy, with the original's own error when there is an original,
        rb), else the original's outputs (rb) within the tolerance, widened for the rounding
        of an accumulation and for a nondeterministic original (docs/evaluation.md, "The
        oracle"). An original that disagrees with the reference raises REFERENCE_FAILED."""
        worst: CheckReport | None = None
        max_abs = max_rel = 0.0
        nonfinite = 0
        shown = None  # the passing buffer the report describes (one that needed the accuracy rule, else the first)
        oracle = "python reference" if expected is not None else "original"
        for b in contract.buffers:
            if b.role == "in":
                continue
            rtol, atol = self._tolerance(contract, b)
            poisoned = b.role == "out" and b.start is None
            n_out = cb.nbytes[b.name] // dtypes.numpy_dtype(b.dtype).itemsize  # scalars (a float4 is 4)
            extra_rtol, extra_atol, why = self._accumulation(contract, b, inputs, n_out)
            if expected is not None:
                got = cb.read(b.name, b.dtype)
                orig = rb.read(b.name, b.dtype) if rb is not None else None
                written = ~poison_mask(orig, b.dtype) if orig is not None and poisoned else \
                    np.ones(got.shape, dtype=bool)
                check = compare_output(b.name, b.dtype, expected[b.name], got, rtol, atol, poisoned,
                                       scale_atol=self._scaled(contract), written=written, original=orig,
                                       extra_rtol=extra_rtol, extra_atol=extra_atol, extra_why=why,
                                       original_error=self.original_error.get(b.name, 0.0),
                                       original_excess=self.original_excess.get(b.name, 0.0))
                if check.verdict is Verdict.REFERENCE_FAILED:
                    raise self._disagrees(contract, check, what)
            else:
                seen = self.seen.get(b.name, {}).get("original")
                if contract.reference is not None and seen:  # the timed runs: no reference there, the original
                    extra_atol += (1 + ACCURACY_FACTOR) * seen
                    why = "for the original's error against the Python reference"
                elif b.name in self.widen:
                    w_rtol, w_atol = self.widen[b.name]
                    extra_rtol, extra_atol = max(extra_rtol, w_rtol), max(extra_atol, w_atol)
                    why = "for the original's nondeterminism"
                elif self.spread.get(b.name):
                    extra_atol = max(extra_atol, original_checks.SPREAD_FACTOR * self.spread[b.name])
                    why = "for the original's nondeterminism"
                check = device_checks.compare(b.name, b.dtype, rb, cb, rtol, atol,  # by digest where it can
                                              poisoned=poisoned, scale_atol=self._scaled(contract),
                                              extra_atol=extra_atol, extra_rtol=extra_rtol, extra_why=why)
            max_abs, max_rel = max(max_abs, check.max_abs_err), max(max_rel, check.max_rel_err)
            nonfinite += check.nonfinite_count
            if check.ok:
                self._note_errors(b.name, check)
                if shown is None or check.rule == "no worse than the original":
                    shown = (b.name, check)
            if not check.ok and worst is None:
                worst = CheckReport(
                    sizes, seed, False, b.name, check.mismatches, check.mismatch_count,
                    check.max_abs_err, check.max_rel_err, f"{check.message} ({what})",
                    check.nonfinite_count, derived, oracle, check.rule, check.rtol, check.atol,
                    check.original_error,
                )
                worst_verdict = check.verdict
        if worst is not None:
            self.checks.append(worst)
            raise EvalFailure(worst_verdict, worst.message)
        name, c = shown if shown is not None else (None, None)
        return CheckReport(sizes, seed, True, name, max_abs_err=max_abs, max_rel_err=max_rel, nonfinite_count=nonfinite,
                           derived=derived, oracle=oracle, rule=c.rule if c else "", rtol=c.rtol if c else None,
                           atol=c.atol if c else None, original_error=c.original_error if c else None)

    def _python_key(self, contract: Spec) -> str:
        """The reference's content key (python_reference.reference_key): loading it runs user
        code, so the pool knows what a hang would be."""
        self.report(f"loading the Python reference {python_reference.describe(contract.reference)}",
                    self._launch_deadline)
        return python_reference.reference_key(self.req.reference.path, contract.reference)

    def _expected(self, contract: Spec, env, inputs, key: tuple | None, what: str) -> dict | None:
        """The Python reference's outputs on these inputs (None without `@kf reference`),
        computed in this worker under the launch deadline, kept with the original's outputs."""
        if contract.reference is None:
            return None
        path = self.req.reference.path
        variables = {v.name: env[v.name] for v in contract.variables if v.name in env}
        sizes = buffer_sizes(contract, env)  # scalars per buffer: a float4[n] buffer is 4n floats
        lengths = {b.name: sizes[b.name] // dtypes.numpy_dtype(b.dtype).itemsize for b in contract.buffers}

        _fits_host_memory(contract, lengths, what)

        def compute() -> dict:
            self.report(f"running the Python reference {python_reference.describe(contract.reference)} ({what})",
                        self._launch_deadline)
            return python_reference.expected_outputs(path, contract, variables, inputs, lengths, what)

        store = reference_cache.store_for(self.session) if key is not None and reference_cache.enabled() else None
        if store is None:
            return compute()
        return dict(store.expected(key + (self._python_key(contract),), compute))

    def _original_checks(self, ref: LaunchableKernel, contract: Spec, env, inputs, rb, what: str,
                         store=None, expected: dict | None = None) -> None:
        """The original against its own spec (backends/judge/original.py): once per request,
        or once per compiled original while its outputs are reused (the store keeps what the
        checks found: the original's own spread and notes; a failure is never kept)."""
        checked_key = self.reference_key if contract.reference is None else (
            f"{self.reference_key}:{self._python_key(contract)}")
        if store is not None:
            found = store.checked.get(checked_key)
            if found is not None:
                self.spread, notes = dict(found[0]), list(found[1])
                self.widen, self.original_error = dict(found[2]), dict(found[3])
                self.original_excess = dict(found[4])
                self.notes.extend(notes)
                return

        def run(alternate: bool) -> dict:
            bufs = Buffers(self.session, contract, env, alternate_poison=alternate)
            try:
                bufs.load(inputs)
                self._launch(ref, bufs, env, f"{what}, checking the original")
                self._after_run(ref, bufs, what)
                return {b.name: bufs.read(b.name, b.dtype).copy() for b in contract.buffers if b.role != "in"}
            finally:
                bufs.free()

        def against(b, values):  # one run of the original measured against the Python reference
            rtol, atol = self._tolerance(contract, b)
            poisoned = b.role == "out" and b.start is None
            written = ~poison_mask(values, b.dtype) if poisoned else np.ones(values.shape, dtype=bool)
            extra_rtol, extra_atol, why = self._accumulation(contract, b, inputs, values.size)
            return compare_output(b.name, b.dtype, expected[b.name], values, rtol, atol, False,
                                  scale_atol=self._scaled(contract), written=written, extra_rtol=extra_rtol,
                                  extra_atol=extra_atol, extra_why=why)

        first = {b.name: rb.read(b.name, b.dtype).copy() for b in contract.buffers if b.role != "in"}
        grid, block, shared = ref.launch_shape(env)
        found = original_checks.check_original(run, first, contract, lambda b: self._tolerance(contract, b), what,
                                               describe_shape(ref.language, grid, block, shared), inputs, expected,
                                               against if expected is not None else None)
        for name, excess in found.original_excess.items():
            if excess > ORIGINAL_LIMIT:  # some of its runs disagree with the reference (a race, atomics)
                b = contract.buffer(name)
                check = against(b, first[name])
                if check.excess <= ORIGINAL_LIMIT:
                    check = msgspec.structs.replace(check, message=(
                        f"`{name}`: its max abs error over {found.runs} runs on the same inputs is "
                        f"{found.original_error[name]:.3g}, more than {ORIGINAL_LIMIT:g} x the tolerance "
                        f"({in_tolerances(excess)})"))
                raise self._disagrees(contract, check, what)
        self.spread = dict(found.spread)
        self.widen, self.original_error = dict(found.widen), dict(found.original_error)
        self.original_excess = dict(found.original_excess)
        self.notes.extend(found.notes)
        if store is not None:  # measured once per compiled original (and reference) and kept
            store.checked[checked_key] = (dict(found.spread), list(found.notes), dict(found.widen),
                                          dict(found.original_error), dict(found.original_excess))

    def _skip(self, label: str, why: str, detail: str = "") -> None:
        """A derived size kf chose is left out (the verdict's note says which and why: `why`,
        with the first size's `detail`)."""
        label = label.replace(" (derived)", "")
        sizes = self.skipped.setdefault(why, [])
        if not sizes and detail:
            self.skip_details[why] = f"at {label}: {detail}"
        if label not in sizes:
            sizes.append(label)

    def _skipped_note(self) -> None:
        for why, labels in self.skipped.items():
            detail = self.skip_details.get(why)
            self.notes.append("derived size(s) " + "; ".join(labels) + f" skipped: {why}"
                              + (f" ({detail})" if detail else ""))

    def _verify(self, ref: LaunchableKernel, cand: LaunchableKernel | None, contract: Spec) -> None:
        # the original's outputs on worker-secret inputs, reused across evaluations (reference_cache)
        store = reference_cache.store_for(self.session) if (
            self.reference_key and reference_cache.enabled()) else None
        epoch = store.begin(self.reference_key) if store is not None else 0
        cannot = "the original cannot run there (mark a size the kernel needs with `@kf fixed NAME`)"
        for size_index, (label, overrides, derived) in enumerate(self._sizes(contract, ref.tunables)):
            try:
                env_r = ref.env(contract, overrides)
            except EvalFailure:
                if derived:
                    self._skip(label, cannot)
                    continue
                raise
            int_sizes = {k: int(v) for k, v in env_r.items() if isinstance(v, int) and k not in ref.tunables}
            self.at = (int_sizes, 0, derived)
            env_c = cand.env(contract, overrides) if cand else None
            for seed in range(1 if derived or cand is None else self.opts.seeds):
                self.at = (int_sizes, seed, derived)
                what = run_label(int_sizes, seed, derived)
                try:
                    if store is not None:
                        inputs, rb = store.run(self.reference_key, epoch, contract, env_r, size_index, seed,
                                               lambda inp: self._run_checked(ref, contract, env_r, inp, what))
                    else:
                        rng = np.random.default_rng([self.req.nonce, size_index, seed])
                        inputs = generate_inputs(contract, env_r, rng)
                        rb = self._run_checked(ref, contract, env_r, inputs, what)
                except EvalFailure as f:
                    if derived and f.verdict in (Verdict.REFERENCE_FAILED, Verdict.SPEC_ERROR, Verdict.LAUNCH_ERROR):
                        self._skip(label, cannot)
                        break  # the original cannot run at a size kf chose: not the user's problem
                    raise
                try:
                    expected = self._reference_outputs(contract, env_r, inputs, store, epoch, size_index, seed,
                                                       what, derived, label)
                    if expected is False:
                        break  # the Python reference cannot run at a size kf chose
                    try:
                        if size_index == 0 and seed == 0:
                            self._original_checks(ref, contract, env_r, inputs, rb, what, store, expected)
                        if cand is None:
                            self.checks.append(self._original_alone(rb, contract, int_sizes, seed, derived, expected,
                                                                    inputs, what))
                            continue
                        cb = self._run_checked(cand, contract, env_c, inputs, what)
                        try:
                            self.checks.append(self._compare(rb, cb, contract, int_sizes, seed, what, derived,
                                                             expected, inputs))
                        finally:
                            cb.free()
                    except EvalFailure as f:
                        if derived and expected is not None and f.verdict is Verdict.REFERENCE_FAILED \
                                and f.message.startswith("the original disagrees"):
                            self._skip(label, "the original disagrees with the Python reference there",
                                       _reason(f.message, what))
                            break  # a size kf chose, where the original's own answer is wrong: not the candidate's
                        raise
                finally:
                    rb.free()
        self.at = None
        self._skipped_note()
        self._oracle_note(contract, cand is not None)

    def _reference_outputs(self, contract: Spec, env, inputs, store, epoch: int, size_index: int, seed: int,
                           what: str, derived: bool, label: str):
        """The Python reference's outputs for one input set (None without one; False when it
        fails at a derived size, which is then skipped, saying why)."""
        if contract.reference is None:
            return None
        key = (self.reference_key or "", epoch, "python", _env_key(env), size_index, seed) if store is not None else None
        try:
            return self._expected(contract, env, inputs, key, what)
        except EvalFailure as f:
            if derived and f.verdict is Verdict.REFERENCE_FAILED:
                self._skip(label, "the Python reference cannot run there", _reason(f.message, what))
                return False
            raise

    def _original_alone(self, rb, contract: Spec, sizes, seed: int, derived: bool, expected, inputs=None,
                        what: str = "") -> CheckReport:
        """The original evaluated alone: with a Python reference, its error against it (an
        original that disagrees with the reference raises REFERENCE_FAILED)."""
        if expected is None:
            return CheckReport(sizes, seed, True, derived=derived)
        worst = None
        for b in contract.buffers:
            if b.role == "in":
                continue
            got = rb.read(b.name, b.dtype)
            poisoned = b.role == "out" and b.start is None
            written = ~poison_mask(got, b.dtype) if poisoned else np.ones(got.shape, dtype=bool)
            rtol, atol = self._tolerance(contract, b)
            extra_rtol, extra_atol, why = self._accumulation(contract, b, inputs, got.size)
            check = compare_output(b.name, b.dtype, expected[b.name], got, rtol, atol, False,
                                   scale_atol=self._scaled(contract), written=written, original=got,
                                   extra_rtol=extra_rtol, extra_atol=extra_atol, extra_why=why,
                                   original_excess=self.original_excess.get(b.name, 0.0),
                                   original_error=self.original_error.get(b.name, 0.0))
            if check.verdict is Verdict.REFERENCE_FAILED:
                raise self._disagrees(contract, check, what)
            seen = self.seen.setdefault(b.name, {})
            seen["original"] = max(seen.get("original", 0.0), check.original_error or 0.0)
            if (check.original_excess or 0.0) > 1.0:
                seen["beyond"] = max(seen.get("beyond", 0.0), check.original_excess)
            if worst is None or (check.original_excess or 0.0) > (worst[1].original_excess or 0.0):
                worst = (b.name, check)
        name, c = worst
        return CheckReport(sizes, seed, True, name, max_abs_err=c.original_error or 0.0, max_rel_err=c.max_rel_err,
                           derived=derived, oracle="python reference",
                           rule="tolerance" if (c.original_excess or 0.0) <= 1.0 else "", rtol=c.rtol,
                           atol=c.atol, original_error=self.seen[name]["original"])

    def _oracle_note(self, contract: Spec, has_candidate: bool) -> None:
        """One line for the verdict: what the outputs were judged against, both errors, the rule."""
        if contract.reference is None or not self.seen:
            return
        ref = python_reference.describe(contract.reference)
        parts = []
        for name, seen in self.seen.items():
            orig = seen.get("original")
            if has_candidate:
                rules = self.rules.get(name, set())
                rule = ("no worse than the original (its error, in tolerances, at most "
                        f"{ACCURACY_FACTOR:g} x the original's)") if "no worse than the original" in rules \
                    else "within the tolerance"
                parts.append(f"`{name}` max abs error {seen.get('candidate', 0.0):.3g}"
                             + (f" (the original's {orig:.3g})" if orig is not None else "") + f", {rule}")
            elif orig is not None:
                text = f"the original's max abs error in `{name}` is {orig:.3g}"
                if "beyond" in seen:
                    text += (f", beyond the tolerance ({seen['beyond']:.3g} x it: an imprecise original, within the "
                             f"{ORIGINAL_LIMIT:g} x it may err): a candidate passes within the tolerance or with at "
                             f"most {ACCURACY_FACTOR:g} x the original's error")
                else:
                    text += ", within the tolerance"
                parts.append(text)
        if parts:
            self.notes.append(f"judged against the Python reference {ref}: " + "; ".join(parts))

    def _time(self, ref: LaunchableKernel, cand: LaunchableKernel | None, contract: Spec):
        """Alternate reference and candidate trials at the default size."""
        opts = self.opts
        env_r = ref.env(contract, {})
        env_c = cand.env(contract, {}) if cand else None
        timed_sizes = {k: int(v) for k, v in env_r.items() if isinstance(v, int) and k not in ref.tunables}
        self.at = (timed_sizes, -1, False)
        rng = np.random.default_rng([self.req.nonce, 1_000_003])
        inputs = generate_inputs(contract, env_r, rng)
        kernels = [(ref, env_r)] + ([(cand, env_c)] if cand else [])
        bufs = []
        try:
            for k, env in kernels:
                b = Buffers(self.session, contract, env)
                bufs.append(b)
                b.load(inputs)
            # warm-up: module load, first-touch page faults and clocks stay out of the numbers
            for (k, env), b in zip(kernels, bufs):
                start, n = time.perf_counter(), 0
                while n < 2 or (time.perf_counter() - start < opts.warmup_seconds and n < 50):
                    self._launch(k, b, env, "warm-up")
                    n += 1
            samples: list[list[float]] = [[] for _ in kernels]
            start = time.perf_counter()
            trial = 0
            while trial < opts.max_trials:
                order = range(len(kernels)) if trial % 2 == 0 else reversed(range(len(kernels)))
                for i in order:
                    k, env = kernels[i]
                    bufs[i].reset_outputs()
                    self.session.flush_caches()
                    samples[i].append(self._launch(k, bufs[i], env, f"timing trial {trial}", timed=True))
                trial += 1
                if trial >= opts.min_trials and time.perf_counter() - start >= opts.target_seconds:
                    break
            # the last timed run's outputs must be right too (no skipping work while timed)
            for (k, env), b in zip(kernels, bufs):
                self._after_run(k, b, "timed runs")
            if cand is not None:
                self._compare(bufs[0], bufs[1], contract, timed_sizes, -1, "output of the timed runs", inputs=inputs)
            self.at = None
            method = self.session.timing_method
            timings = [summarize(s, method) for s in samples]
            shapes = [k.launch_shape(env) for k, env in kernels]
            return timings, shapes, env_r
        finally:
            for b in bufs:
                b.free()

    def _profile(self, k: LaunchableKernel, timing, shape, contract: Spec, env) -> Profile:
        res = k.compiled.resources
        grid, block, shared = shape
        threads = block[0] * block[1] * block[2]
        if k.language == "sycl":
            blocks = math.prod(g // max(b, 1) for g, b in zip(grid, block))
        else:
            blocks = grid[0] * grid[1] * grid[2]
        moved = _bytes_moved(contract, k.spec, env)
        flops = None
        if k.spec.flops or contract.flops:
            try:
                flops = int(eval_expr(k.spec.flops or contract.flops, env))
            except ExprError:
                flops = None
        peak = peak_bandwidth(self.session)
        bw = moved / timing.median if moved and timing and timing.median > 0 else None
        frac = bw / peak if bw and peak else None
        notes = list(res.notes)
        above = bool(frac and frac > 1.05)
        if above:
            notes.append(
                f"achieved {bw / 1e9:.0f} GB/s is above the measured peak of {peak / 1e9:.0f} GB/s: "
                "the data may stay in cache or the kernel may skip work; treat the timing as suspect"
            )
        occupancy = res.occupancy
        if occupancy is None and self.session.info.backend == "cuda" and res.registers is not None:
            try:
                from backends.cuda.devices import occupancy as cuda_occupancy

                occupancy = cuda_occupancy(
                    res.registers, (res.static_shared or 0) + shared, threads, self.session.info.details
                )
            except Exception:
                occupancy = None
        from backends.kernel.features import extract  # behavioural features from the compiled code (never raises)

        features, feature_source = extract(
            k.language, k.compiled, k.source if k.plan is not None and k.source else k.unit.text,
            Profile(registers=res.registers, spill_stores=res.spill_stores, spill_loads=res.spill_loads,
                    static_shared=res.static_shared, dynamic_shared=shared, occupancy=occupancy,
                    block_threads=threads),
        )
        return Profile(
            registers=res.registers,
            spill_stores=res.spill_stores,
            spill_loads=res.spill_loads,
            stack_bytes=res.stack_bytes,
            static_shared=res.static_shared,
            dynamic_shared=shared,
            occupancy=occupancy,
            block_threads=threads,
            grid_blocks=blocks,
            bytes_moved=moved,
            flops=flops,
            bandwidth=bw,
            peak_bandwidth=peak,
            bandwidth_fraction=frac,
            flop_rate=flops / timing.median if flops and timing and timing.median > 0 else None,
            above_peak=above,
            sub_group_sizes=list(res.sub_group_sizes),
            features=features,
            feature_source=feature_source,
            notes=notes,
        )

    def _with_ncu(self, m: KernelMeasurement, role: str) -> KernelMeasurement:
        """Nsight Compute metrics on request (CUDA), with kf's median held against ncu's
        gpu__time_duration so a disagreement is visible."""
        if not (self.opts.ncu and self.session.info.backend == "cuda" and m.profile and m.timing):
            return m
        from backends.judge import ncu

        unit = self.req.reference if role == "reference" else self.req.candidate
        self.report(f"profiling the {role} with ncu", 600.0)
        metrics = ncu.collect(self.req, role, f"regex:^{unit.kernel.name}(<.*)?$")
        notes = list(m.profile.notes)
        if isinstance(metrics, str):
            notes.append(f"ncu: {metrics}")
            metrics = {}
        elif metrics.get("gpu__time_duration.sum"):
            ncu_t = metrics["gpu__time_duration.sum"]
            notes.append(
                f"ncu gpu__time_duration {ncu_t * 1e6:.1f} us vs kf median {m.timing.median * 1e6:.1f} us "
                f"(kf/ncu = {m.timing.median / ncu_t:.3f})"
            )
        return KernelMeasurement(m.timing, _with(m.profile, ncu=metrics, notes=notes))

    # -- the whole evaluation -------------------------------------------------------------

    def run(self) -> tuple[EvalResult, bool]:
        t0 = time.perf_counter()
        result = self._run()
        result = _with(result, device=self.session.info, compile_seconds=self.compile_seconds,
                       wall_seconds=time.perf_counter() - t0, build=self.build)
        return result, self.healthy

    def _run(self) -> EvalResult:
        req = self.req
        try:
            contract = req.reference.kernel.spec
            if contract is not None and contract.reference is not None and is_stub(req.reference.text,
                                                                                   req.reference.kernel):
                return self._run_stub(contract)
            if req.candidate is not None:
                problems = check_contract(req.reference.kernel, req.candidate.kernel)
                if problems:
                    return EvalResult(Verdict.CONTRACT, "candidate breaks the kernel's contract: " + "; ".join(problems))
            ref = self._compile(req.reference, "reference")
            contract = ref.spec
            cand = self._compile(req.candidate, "candidate") if req.candidate else None
            if not getattr(self.session, "can_run", True):
                return EvalResult(
                    Verdict.COMPILED,
                    f"compiled; not run: {self.session.info.name}",
                    self.diagnostics,
                    reference=KernelMeasurement(profile=ref.compiled.resources),
                    candidate=KernelMeasurement(profile=cand.compiled.resources) if cand else None,
                )
            self._verify(ref, cand, contract)
            self._warn_thin_spec(contract)
            checked = self._checked_sizes()
            if not self.opts.time:
                return EvalResult(Verdict.CORRECT, "correct (not timed)" + checked, self.diagnostics, self.checks)
            timings, shapes, env = self._time(ref, cand, contract)
            ref_m = KernelMeasurement(timings[0], self._profile(ref, timings[0], shapes[0], contract, env) if self.opts.profile else None)
            ref_m = self._with_ncu(ref_m, "reference")
            if cand is None:
                return EvalResult(Verdict.CORRECT, "measured" + checked, self.diagnostics, self.checks, ref_m)
            cand_m = KernelMeasurement(timings[1], self._profile(cand, timings[1], shapes[1], contract, env) if self.opts.profile else None)
            cand_m = self._with_ncu(cand_m, "candidate")
            cmp = compare(timings[0], timings[1])
            verdict_msg = (
                f"correct; {cmp.speedup:.2f}x (95% CI {cmp.low:.2f}-{cmp.high:.2f})"
                + ("" if cmp.significant else ", not significantly faster")
                + checked
            )
            return EvalResult(
                Verdict.CORRECT, verdict_msg, self.diagnostics, self.checks, ref_m, cand_m,
                cmp.speedup, cmp.low, cmp.high, cmp.significant,
            )
        except EvalFailure as f:
            diags = list(f.diagnostics)
            if f.line is not None and not diags and f.verdict is Verdict.SPEC_ERROR:
                diags.append(_spec_diagnostic(req.reference if _is_reference(f.message) else (req.candidate or req.reference),
                                              f.line, _plain(f.message)))
            return EvalResult(f.verdict, f.message, self.diagnostics + diags, self._with_failure(f.message))
        except DeviceFault as e:
            self.healthy = False
            return EvalResult(Verdict.CRASH, f"device fault: {e}", self.diagnostics, self._with_failure(f"device fault: {e}"))
        except MemoryError as e:  # the host ran out at this size (inputs, copies, the Python reference)
            spec = req.reference.kernel.spec
            where = run_label(*self.at) if self.at else "default size"
            message = (f"out of host memory at this size ({where}): {e or 'MemoryError'}: use a smaller size")
            diags = [_spec_diagnostic(req.reference, spec.range.start.line, message)] \
                if spec is not None and spec.range is not None else []
            return EvalResult(Verdict.SPEC_ERROR, message, self.diagnostics + diags, self._with_failure(message))

    # -- no original yet: a stub kernel and a Python reference ------------------------------

    def _run_stub(self, contract: Spec) -> EvalResult:
        """The file's kernel is a stub (no code yet): the Python reference is the oracle. Alone,
        the reference is run at every checked size (it must work before a search writes a
        kernel); with a candidate, the candidate is checked against it and timed alone: there
        is no original to be faster than (the search makes its first correct kernel the
        baseline, evolver/engine.py)."""
        req = self.req
        errors = _spec_errors(req.reference)
        if errors:
            raise EvalFailure(Verdict.SPEC_ERROR, f"reference: {errors[0].format()}", errors)
        cand = None
        if req.candidate is not None:
            problems = check_contract(req.reference.kernel, req.candidate.kernel)
            if problems:
                return EvalResult(Verdict.CONTRACT, "candidate breaks the kernel's contract: " + "; ".join(problems))
            cand = self._compile(req.candidate, "candidate")
            if not getattr(self.session, "can_run", True):
                return EvalResult(Verdict.COMPILED, f"compiled; not run: {self.session.info.name}", self.diagnostics,
                                  candidate=KernelMeasurement(profile=cand.compiled.resources))
        elif not getattr(self.session, "can_run", True):
            return EvalResult(Verdict.COMPILED, f"a stub; not run: {self.session.info.name}", self.diagnostics)
        self._verify_stub(cand, contract)
        checked = self._checked_sizes()
        ref = python_reference.describe(contract.reference)
        if cand is None:
            return EvalResult(Verdict.CORRECT, f"no kernel yet (a stub): the Python reference {ref} ran" + checked
                              + "; `kf optimize` writes a first kernel with the LLM and makes it the baseline",
                              self.diagnostics, self.checks)
        if not self.opts.time:
            return EvalResult(Verdict.CORRECT, "correct (not timed)" + checked, self.diagnostics, self.checks)
        timings, shapes, env = self._time(cand, None, contract)  # the candidate alone
        m = KernelMeasurement(timings[0], self._profile(cand, timings[0], shapes[0], contract, env)
                              if self.opts.profile else None)
        return EvalResult(Verdict.CORRECT, f"correct against the Python reference {ref}; no original to compare "
                          "with (the file's kernel is a stub), so no speedup" + checked, self.diagnostics,
                          self.checks, None, m)

    def _stub_env(self, contract: Spec, overrides, kernel: LaunchableKernel | None) -> dict:
        if kernel is not None:
            return kernel.env(contract, overrides)
        try:
            return resolve(Spec(buffers=contract.buffers, variables=contract.variables, launch=None), overrides, {})
        except ExprError as e:
            raise EvalFailure(Verdict.SPEC_ERROR, f"reference: {e}") from None

    def _verify_stub(self, cand: LaunchableKernel | None, contract: Spec) -> None:
        """The sizes and seeds of `_verify`, with the Python reference's outputs as the only oracle."""
        store = reference_cache.store_for(self.session) if reference_cache.enabled() else None
        key = "python:" + self._python_key(contract)
        epoch = store.begin(key) if store is not None else 0
        for size_index, (label, overrides, derived) in enumerate(self._sizes(contract, cand.tunables if cand else None)):
            try:
                env = self._stub_env(contract, overrides, cand)
            except EvalFailure:
                if derived:
                    self._skip(label, "the spec cannot be evaluated there")
                    continue
                raise
            int_sizes = {v.name: int(env[v.name]) for v in contract.variables
                         if isinstance(env.get(v.name), int)}
            for seed in range(1 if derived or cand is None else self.opts.seeds):
                self.at = (int_sizes, seed, derived)
                what = run_label(int_sizes, seed, derived)
                if store is not None:
                    inputs = store.inputs(epoch, contract, env, size_index, seed)
                else:
                    inputs = generate_inputs(contract, env, np.random.default_rng([self.req.nonce, size_index, seed]))
                self.reference_key = key
                expected = self._reference_outputs(contract, env, inputs, store, epoch, size_index, seed, what,
                                                   derived, label)
                if expected is False:
                    break
                if cand is None:
                    self.checks.append(CheckReport(int_sizes, seed, True, derived=derived, oracle="python reference"))
                    continue
                cb = self._run_checked(cand, contract, env, inputs, what)
                try:
                    self.checks.append(self._compare(None, cb, contract, int_sizes, seed, what, derived, expected,
                                                     inputs))
                finally:
                    cb.free()
        self.at = None
        self._skipped_note()
        self._oracle_note(contract, cand is not None)

    def _with_failure(self, message: str) -> list[CheckReport]:
        """Every failing result names its size and seed in `checks` (the failing run is last)."""
        if self.at is None or (self.checks and not self.checks[-1].ok):
            return self.checks
        sizes, seed, derived = self.at
        return self.checks + [CheckReport(sizes, seed, False, message=message, derived=derived)]

    def _checked_sizes(self) -> str:
        """'; checked n=4194304, 1000 + derived n=1, 37' and the notes, for the verdict line."""
        own, derived = [], []
        for c in self.checks:
            label = ", ".join(f"{k}={v}" for k, v in c.sizes.items())
            bucket = derived if c.derived else own
            if label not in bucket:
                bucket.append(label)
        text = ""
        if own or derived:
            text = "; checked sizes " + " | ".join(own) + (" + derived " + " | ".join(derived) if derived else "")
        for note in self.notes:
            text += "; " + note
        return text

    def _warn_thin_spec(self, contract: Spec) -> None:
        if contract.checks or not self.opts.check_extra_sizes:
            return
        line = contract.range.start.line if contract.range else 0
        derived = sorted({", ".join(f"{k}={v}" for k, v in c.sizes.items()) for c in self.checks if c.derived})
        self.diagnostics.append(Diagnostic(
            self.req.reference.path, line, 0, "warning",
            "the spec lists no `@kf check` sizes: besides the default, only the sizes kf derived were checked ("
            + ("; ".join(derived) or "none") + "); add `@kf check NAME = ...` lines for the sizes the kernel must handle"))


REFERENCE_COPIES = 3
"""A Python reference holds about this many float64 copies of the buffers (kf's inputs as
float64, its own results, their conversion back): what `_fits_host_memory` asks of the host."""


def _available_memory() -> int | None:
    """Bytes of host memory available now (Linux /proc/meminfo), None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _fits_host_memory(contract: Spec, lengths: dict[str, int], what: str) -> None:
    """A size whose Python reference would exhaust the host's memory is a spec error at the
    largest buffer's line, said before anything is allocated, instead of a MemoryError (or
    the machine swapping) in the middle of an evaluation."""
    need = REFERENCE_COPIES * 8 * sum(lengths.values())
    have = _available_memory()
    if have is None or need <= have:
        return
    big = max(contract.buffers, key=lambda b: lengths.get(b.name, 0))
    raise EvalFailure(Verdict.SPEC_ERROR, f"at this size ({what}) the Python reference needs about {need / 2**30:.1f} "
                      f"GiB of host memory (float64 copies of the buffers; {big.name}: `{big.length}` = "
                      f"{lengths[big.name]} elements), more than the {have / 2**30:.1f} GiB available: use a smaller "
                      "size", line=big.line)


def _env_key(env) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in env.items()))


def _reason(message: str, what: str) -> str:
    """The gist of a failure at a skipped size, for the note: without the file, the
    reference's name and the run's label `what`."""
    text = message.split(f" ({what})")[0]
    text = re.sub(r"^\S+:\d+: ", "", text)
    text = re.sub(r"^the original disagrees with the Python reference [^:]+(?: \(KernelBench module\))?: ", "", text)
    text = re.sub(r"^the reference [^:]+(?: \(KernelBench module\))?: ", "", text)
    return text if len(text) <= 300 else text[:297] + "..."


def _is_reference(message: str) -> bool:
    return not message.startswith("candidate")


def _plain(message: str) -> str:
    for prefix in ("reference: ", "candidate: "):
        if message.startswith(prefix):
            return message[len(prefix):]
    return message


def _spec_diagnostic(unit: Unit, line: int, message: str) -> Diagnostic:
    """A spec problem at its `@kf` line, the column of the entry's first word."""
    lines = unit.text.splitlines()
    text = lines[line] if 0 <= line < len(lines) else ""
    i = text.find("@kf")
    col = i + 3 + (len(text[i + 3:]) - len(text[i + 3:].lstrip())) if i >= 0 else 0
    return Diagnostic(unit.path, line, col, "error", message)


def _with(result: EvalResult, **changes) -> EvalResult:
    import msgspec

    return msgspec.structs.replace(result, **changes)


def _bytes_moved(contract: Spec, spec: Spec, env) -> int | None:
    expr = spec.bytes or contract.bytes
    if expr:
        try:
            return int(eval_expr(expr, env))
        except ExprError:
            return None
    total = 0
    for b in contract.buffers:
        n = int_expr(b.length, env, f"length of {b.name}") * dtypes.itemsize(b.dtype)
        total += 2 * n if b.role == "inout" else n
    return total


def evaluate(session: DeviceSession, request: EvalRequest, report: Reporter | None = None) -> tuple[EvalResult, bool]:
    """Evaluate in this process. Returns the result and whether the session is still usable."""
    try:
        return Evaluation(session, request, report or (lambda what, seconds: None)).run()
    except Exception as e:  # a bug in kf: say so, never hide it as a candidate's failure
        import traceback

        return EvalResult(Verdict.INTERNAL, f"internal error: {type(e).__name__}: {e}\n{traceback.format_exc()}"), False


# -- peak bandwidth, measured once per device and cached ---------------------------------


def cache_dir() -> Path:
    base = os.environ.get("KF_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "kf"
    )
    path = Path(base)
    path.mkdir(parents=True, exist_ok=True)
    return path


_PEAKS: dict[str, float] = {}


def _peak_key(info) -> str:
    return f"{info.backend}:{info.name}:{info.index}"


def cached_peak(info) -> float | None:
    """The peak bandwidth measured earlier for this device, if any (no measurement)."""
    try:
        value = json.loads((cache_dir() / "peaks.json").read_text()).get(_peak_key(info))
    except (OSError, ValueError, AttributeError):
        return None
    return float(value) if value is not None else None


def peak_bandwidth(session: DeviceSession) -> float | None:
    info = session.info
    key = _peak_key(info)
    if key in _PEAKS:
        return _PEAKS[key]
    file = cache_dir() / "peaks.json"
    stored_value = cached_peak(info)
    if stored_value is not None:
        _PEAKS[key] = stored_value
        return stored_value
    try:
        value = float(session.measure_peak_bandwidth())
    except Exception:
        return None
    _PEAKS[key] = value
    try:  # re-read so concurrent workers do not drop each other's entries; atomic replace
        try:
            stored = json.loads(file.read_text())
        except (OSError, ValueError):
            stored = {}
        stored[key] = value
        fd, tmp = tempfile.mkstemp(dir=file.parent, prefix=".peaks.")
        with os.fdopen(fd, "w") as f:
            json.dump(stored, f, indent=1)
        os.replace(tmp, file)
    except OSError:
        pass
    return value
