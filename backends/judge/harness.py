"""One evaluation: compile, verify against the reference, time, profile. Runs in a worker.

Written once over the DeviceSession interface so that every defence holds on every
backend (../docs/evaluation.md lists them):
- reference and candidate never share memory; inputs are fresh per (size, seed) and mixed
  with a per-request nonce, so a stored answer cannot match;
- outputs are poisoned before every run, inputs are compared bitwise after every run,
  canary guards around every buffer catch writes out of bounds;
- timing alternates reference and candidate trial by trial (drift hits both), each trial on
  new inputs generated on the device, flushes caches and re-poisons outputs between trials,
  and verifies the outputs of every timed trial, so a kernel can neither replay answers
  nor behave during checks and skip work while timed; special input values (once per
  evaluation) check it against the original's behaviour beyond [-1, 1).
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Iterable, Mapping

import msgspec
import numpy as np

from backends.kernel import dtypes
from backends.session import (
    CompileFailure,
    CompileUnit,
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
    SkippedSize,
    Spec,
    Unit,
    Verdict,
)
from backends.kernel.spec import check_contract
from backends.judge.stats import RESOLUTION, compare, describe_stop, median_noise, stop_reason, summarize
from backends.judge.launch import (
    Buffers,
    EvalFailure,
    LaunchableKernel,
    buffer_sizes,
    compile_unit_for,
    int_expr,
)
from backends.judge.inputs import SECRET, InputSet, values_mode
from backends.judge import original as original_checks
from backends.judge.launch import describe_shape
from backends.judge.sizes import derived_sizes, random_size
from backends.judge.evidence import COMPILING_MEANWHILE, run_label
from backends.judge import ahead, compile_cache, device_checks, memory, python_reference, reference_cache, sanitizer
from backends.judge.launch import buffer_sizes
from backends.judge.reference_cache import StoredRun
from backends.judge.verify import (ACCURACY_FACTOR, ORIGINAL_LIMIT, compare_output, guard_differs, in_tolerances,
                                   output_scale, poison_mask)
from backends.kernel.expressions import resolve
from backends.kernel.pyref import is_stub

Reporter = Callable[[str, float], None]
"""report(what is happening now, seconds it may take): lets the pool name a hang."""

COMPILE_SECONDS = 180.0
LAUNCH_SECONDS = 60.0
TIMING_TAG = 0x7143  # tells the timed trials' input keys apart from the verification sets'
# trials below 0 of the timing keys (_timing_key): the untimed runs at the timed size or the wide
# random size, each on inputs of its own
SPECIAL_TRIAL, SCALE_TRIAL = -2, -3  # the special values, and the ordinary scale beside them (stored)
WIDE_SPECIAL_TRIAL, WIDE_SCALE_TRIAL = -4, -5  # the same at a wide random size (never stored)
LARGE_OUTPUT_BYTES = 64 << 20  # outputs of at least this size: a timed trial not bit for bit the original's ...
SAMPLE_BLOCKS = 64  # ... is compared on this many blocks (the last one and others drawn in secret) ...
SAMPLE_BLOCK_BYTES = 64 << 10  # ... of this size, with the usual comparison (the whole output where they fail)
WHOLE_ON_HOST_BYTES = 16 << 20  # ... except outputs below this size: compared whole (on the host, cheaply)
SPECIAL_VALUES = ("special input values (magnitudes above and far below the range, zeros, subnormals, NaN and Inf "
                  "scattered among ordinary values where the spec's range "
                  "allows; `// @kf values ordinary` turns them off)")


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


PROBED = frozenset({"residue", "combined", "random"})  # small sizes kf chose
SANITIZED_SIZES = 12  # of them, the first ones run under compute-sanitizer


class SizeCase(tuple):
    """One problem size to check: unpacks as (label, overrides, derived); `kind` is "default",
    "check", or the kind of a size kf chose (backends/judge/sizes.py); `line` the spec line of
    a size the spec lists (a `@kf check` line)."""

    def __new__(cls, label: str, overrides: dict[str, str], derived: bool, kind: str = "default",
                line: int | None = None, probe: bool = False):
        case = super().__new__(cls, (label, overrides, derived))
        case.kind = kind
        case.line = line
        case.probe = probe  # the candidate runs three times here, the original twice (other guard contents)
        return case

    @property
    def label(self) -> str:
        return self[0]

    @property
    def overrides(self) -> dict[str, str]:
        return self[1]

    @property
    def derived(self) -> bool:
        return self[2]


class PendingCompile:
    """A compile running in a thread: SYCL's run-time compiler and NVRTC run beside kernel
    launches (ctypes and the CUDA bindings release the GIL), so the original's work proceeds
    meanwhile. `wait` gives the compiled kernel or CompileFailure (or raises what it raised)."""

    def __init__(self, build: Callable[[], object], unit: Unit, values: dict, source: str | None = None):
        self.unit = unit
        self.values = values
        self.source = source  # what went to the compiler
        self.seconds = 0.0
        self._result: object = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, args=(build,), name="kf-compile", daemon=True)
        self._thread.start()

    def _work(self, build: Callable[[], object]) -> None:
        t = time.perf_counter()
        try:
            self._result = build()
        except BaseException as e:  # handed to the evaluation's thread by wait()
            self._error = e
        finally:
            self.seconds = time.perf_counter() - t

    def done(self) -> bool:
        return not self._thread.is_alive()

    def join(self) -> None:
        self._thread.join()

    def wait(self) -> object:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._result


class Evaluation:
    """State of one request; `run()` returns (result, worker_still_healthy)."""

    def __init__(self, session: DeviceSession, request: EvalRequest, report: Reporter):
        self.session = session
        self.req = request
        self._report = report
        self.pending: PendingCompile | None = None  # the candidate compiling in a thread, if it is
        self.opts = request.options
        self.healthy = True
        self.compile_seconds = 0.0
        self.checks: list[CheckReport] = []
        self.diagnostics: list[Diagnostic] = []
        self.spread: dict[str, float] = {}  # buffer -> the original's own spread (original.py)
        self.notes: list[str] = []  # for the verdict: skipped derived sizes, a nondeterministic original
        self.at: tuple[dict[str, int], int, bool] | None = None  # the (sizes, seed) running now
        self.reference_key: str | None = None  # the original's compile digest (compile_cache)
        self.timing_note = ""  # how timing stopped and what of it was verified, for the verdict
        self.special_checked = False  # the special input values were compared (_special_values)
        self.cases: list[SizeCase] = []  # the sizes checked (after the memory plan)
        # the oracle (`_compare`): how far a nondeterministic original widens the comparison, and
        # with a Python reference the largest errors against it seen in this evaluation
        self.widen: dict[str, tuple[float, float]] = {}  # buffer -> (extra rtol, extra atol), original.py
        self.original_error: dict[str, float] = {}  # buffer -> the original's error over its repeated runs
        self.original_excess: dict[str, float] = {}  # the same in multiples of the tolerance
        self.skipped: dict[str, list[str]] = {}  # why -> the derived sizes skipped for it
        self.skip_details: dict[str, str] = {}  # why -> what happened at the first of them
        self._bounds: dict[tuple, original_checks.Accumulation] = {}  # (buffer, input lengths) -> its widening
        self.seen: dict[str, dict[str, float]] = {}  # buffer -> {"original": err, "candidate": err}
        self.rules: dict[str, set[str]] = {}  # buffer -> the rules its checks passed by
        self.reference_unit = None  # the original's CompileUnit: candidates compile the same way
        self.build: Build | None = None
        self.folded = 0  # seeds at the default size checked by the first timed trials (_folded_seeds)
        self.store: reference_cache.ReferenceStore | None = None  # set by _verify where outputs are reused
        self.epoch = 0
        self.host = _HostArrays()  # where the candidate's outputs are read to be compared (_compare)

    def report(self, what: str, seconds: float) -> None:
        """The stage the pool sees (it names a hang or a death); while the candidate compiles
        in a thread, marked so (evidence.COMPILING_MEANWHILE): a death then is either side's."""
        if self.pending is not None and not self.pending.done():
            what += COMPILING_MEANWHILE
        self._report(what, seconds)

    # -- steps -----------------------------------------------------------------------

    def _unit(self, unit: Unit, role: str) -> tuple[CompileUnit, dict]:
        """What goes to the compiler, after the spec's own errors (raised first)."""
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
            cu, values = compile_unit_for(unit, role, like=self.reference_unit if role == "candidate" else None,
                                          precompile=self.opts.precompile)
        except EvalFailure as f:
            if role == "reference":
                self.build = _build(unit, None, None, f.diagnostics)
            raise
        if role == "reference":
            self.reference_unit = cu
        return cu, values

    def _compile(self, unit: Unit, role: str, background: bool = False,
                 prepared: tuple[CompileUnit, dict] | None = None) -> "LaunchableKernel | PendingCompile":
        """Compile (through compile_cache); `background`: in a thread, returning a
        PendingCompile that `_candidate` finishes (KF_COMPILE_OVERLAP=0: never)."""
        cu, values = prepared or self._unit(unit, role)
        if background and self._overlap():
            self.pending = PendingCompile(lambda: self._compile_now(cu, role), unit, values, cu.source)
            return self.pending
        self.report(f"compiling the {role}", COMPILE_SECONDS)
        t = time.perf_counter()
        out = self._compile_now(cu, role)
        self.compile_seconds += time.perf_counter() - t
        if role == "reference":
            self.build = _build(unit, cu, out)
        return self._loaded(unit, role, out, values, cu.source)

    def _overlap(self) -> bool:
        """Compile the candidate beside the original's work? Where they use different resources:
        a GPU (the compiler on a host core, the checks on the device). On a CPU device both
        compete for the same cores; measured on the 2-core host, a search was no faster with it
        (its compiles slower). KF_COMPILE_OVERLAP=1/0 forces it."""
        forced = os.environ.get("KF_COMPILE_OVERLAP")
        wanted = forced != "0" if forced is not None else getattr(self.session.info, "kind", "") != "cpu"
        return wanted and self.opts.compile_overlap

    def _compile_now(self, cu: CompileUnit, role: str):
        if role == "reference":  # compiled once per worker (compile_cache); candidates load afresh
            compiled = compile_cache.compile_original(self.session, cu)
            self.reference_key = compiled.key
            return compiled.kernel
        t = time.perf_counter()
        how = ahead.settle(self.session, cu, COMPILE_SECONDS)
        if how:  # said plainly: the candidate is still loaded, checked and timed as any other
            self.notes.append("the candidate was compiled ahead by kf's helper process while the previous candidate "
                              "was checked; " + ("the compile here loaded it from the cache" if how == "ahead" else
                                                 f"kf waited {time.perf_counter() - t:.1f} s for that compile to finish"))
        elif time.perf_counter() - t > 1.0:  # waited for a compile ahead that did not finish: this
            self.report("compiling the candidate", COMPILE_SECONDS)  # compile gets its own full limit
        t = time.perf_counter()
        out = compile_cache.compile_unit(self.session, cu)
        if not how:
            ahead.observe(time.perf_counter() - t)  # what a compile costs here: worth compiling ahead?
        return out

    def _submit_ahead(self) -> None:
        """The candidates the search asks next (EvalRequest.ahead) go to the compile-ahead helper
        (backends/judge/ahead.py), bound the way this candidate is; a unit that does not bind is
        left to its own evaluation to report."""
        if self.req.ahead is None or not self.opts.compile_overlap:
            return
        units = []
        for u in self.req.ahead:
            if u.kernel.spec is None or _spec_errors(u):
                continue
            try:
                units.append(compile_unit_for(u, "candidate", like=self.reference_unit)[0])
            except EvalFailure:
                continue
        ahead.submit(self.session, units)

    def _candidate(self, pending: "PendingCompile") -> LaunchableKernel:
        """The candidate compiling in the background, once compiled."""
        self.report("compiling the candidate", COMPILE_SECONDS)
        out = pending.wait()
        self.compile_seconds += pending.seconds
        return self._loaded(pending.unit, "candidate", out, pending.values, pending.source)

    def _loaded(self, unit: Unit, role: str, out, values: dict, source: str | None = None) -> LaunchableKernel:
        if isinstance(out, CompileFailure):
            first = out.diagnostics[0].format() if out.diagnostics else out.log.strip().splitlines()[0:1]
            verdict = Verdict.COMPILE_ERROR if role == "candidate" else Verdict.REFERENCE_FAILED
            raise EvalFailure(verdict, f"{role} does not compile: {first}", list(out.diagnostics))
        self.diagnostics.extend(out.warnings)
        k = LaunchableKernel(role, unit, unit.kernel.spec, out, values, source)
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
        self.report(f"running the {k.role} ({what})", self._launch_deadline + _host_allowance(bufs))
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

    def _sizes(self, contract: Spec, tunables=None, language: str | None = None) -> list["SizeCase"]:
        """(label, overrides, derived) with `kind` and `line`: the default size, the spec's check
        sizes, then the sizes kf adds (backends/judge/sizes.py): residues, all at once, one above
        the default and one drawn from the request's nonce."""
        sizes = [SizeCase("default size", {}, False, "default")]
        if self.opts.check_extra_sizes:
            for c in contract.checks:
                label = ", ".join(f"{k}={v}" for k, v in c.assignments.items())
                sizes.append(SizeCase(label, dict(c.assignments), False, "check", c.line))
            for d in derived_sizes(contract, tunables, [c.assignments for c in contract.checks], language):
                sizes.append(SizeCase(f"{d.label} ({'above the default' if d.kind == 'above' else 'derived'})",
                                      d.overrides, True, d.kind, probe=d.probe))
                if d.note and d.note not in self.notes:
                    self.notes.append(d.note)  # a derived size that is not small, and why (sizes.py)
            r = random_size(contract, self.req.nonce, tunables, language,
                            avoid=[dict(c.overrides) for c in sizes])
            if r is not None:
                sizes.append(SizeCase(f"{r.label} (random)", r.overrides, True, "random", probe=r.probe))
        return sizes

    def _plan(self, ref: LaunchableKernel, contract: Spec, cases: list["SizeCase"]) -> list["SizeCase"]:
        """Memory planned before anything runs (backends/judge/memory.py): a size of the spec's
        own that cannot fit is a spec error naming it and its line; a size kf chose is skipped
        and the verdict says so."""
        kept = []
        for case in cases:
            try:
                env = ref.env(contract, case.overrides)
            except EvalFailure:
                kept.append(case)  # _verify says why (or skips a derived size)
                continue
            names = {x.name for x in contract.variables}
            sizes = ", ".join(f"{k}={v}" for k, v in env.items() if isinstance(v, int) and k in names
                              and k not in ref.tunables) or case.label
            wrapped = _outside_parameter(ref, env)
            if wrapped is not None:
                name, why = wrapped
                if case.derived:
                    self.notes.append(f"size {sizes} ({case.kind}) skipped: {why}")
                    continue
                what = "the default size" if case.kind == "default" else "the check size"
                line = case.line if case.line is not None else next(
                    (v.line for v in contract.variables if v.name == name), None)
                raise EvalFailure(Verdict.SPEC_ERROR, f"{what} {sizes}: {why}; use a smaller size, or a wider "
                                  "parameter type", line=line)
            n = memory.need(contract, env, sets=2 if case.kind == "default" and self.opts.time else 1)
            ok, why = memory.fits(n, self.session) if n is not None else (True, "")
            if ok:
                kept.append(case)
                continue
            if case.derived:
                self.notes.append(f"size {sizes} ({case.kind}) skipped: it {why}")
                continue
            what = "the default size" if case.kind == "default" else "the check size"
            raise EvalFailure(Verdict.SPEC_ERROR, f"{what} {sizes} does not fit: it {why} ({memory.describe(n)}); "
                              "use a smaller size", line=case.line if case.line is not None
                              else _size_line(contract, n.biggest))
        return kept

    def _unrun_sizes(self, ref: LaunchableKernel, contract: Spec) -> str:
        """Compile only (no device here): what the spec's own sizes need, said without a device.
        A value its parameter cannot hold is the spec error it would be on a device; the default
        size's memory is said, since the device's memory is not known here (a `@kf n = 1 << 34`
        otherwise compiled without a word, to fail on the GPU machine)."""
        cases = [SizeCase("default size", {}, False, "default")] + [
            SizeCase("", dict(c.assignments), False, "check", c.line) for c in contract.checks]
        note = ""
        for case in cases:
            try:
                env = ref.env(contract, case.overrides)
            except EvalFailure:
                continue  # said where it runs
            wrapped = _outside_parameter(ref, env)
            if wrapped is not None:
                names = {x.name for x in contract.variables}
                sizes = ", ".join(f"{k}={v}" for k, v in env.items() if isinstance(v, int) and k in names
                                  and k not in ref.tunables)
                what = "the default size" if case.kind == "default" else "the check size"
                line = case.line if case.line is not None else next(
                    (v.line for v in contract.variables if v.name == wrapped[0]), None)
                raise EvalFailure(Verdict.SPEC_ERROR, f"{what} {sizes}: {wrapped[1]}; use a smaller size, or a "
                                  "wider parameter type", line=line)
            n = memory.need(contract, env, sets=2 if self.opts.time else 1) if case.kind == "default" else None
            if n is not None and n.device:
                note = (f"; the default size needs {n.device / 2**30:.3g} GiB of device memory ({memory.describe(n)}), "
                        "planned against the device's memory where it runs")
        return note

    def _run_checked(self, k: LaunchableKernel, contract: Spec, env, inputs, what: str,
                     alternate_guards: bool | set[str] = False, phase: int = 0, probe: bool = False) -> Buffers:
        """Run `k` once on fresh buffers; returns them (caller frees) after the safety checks.
        `alternate_guards`: the guards' second pattern (all buffers, or the named ones).
        `probe` (the original, at the small sizes): run it again with the second pattern; an
        output that changes means it reads outside its buffers, a spec error."""
        bufs = Buffers(self.session, contract, env, alternate_guards=alternate_guards, guard_phase=phase)
        try:
            bufs.load(inputs)
            self._launch(k, bufs, env, what)
            self._after_run(k, bufs, what)
            if probe and k.role == "reference":
                readers = self._guard_readers(k, contract, env, inputs, _outputs(bufs, contract), what, phase)
                if readers:
                    b = contract.buffer(readers[0])
                    raise EvalFailure(Verdict.SPEC_ERROR, f"the original reads outside `{readers[0]}` ({what}): its "
                                      "outputs change with the contents of the memory next to the buffer; declare the "
                                      "length it reads, or `require` the sizes it handles",
                                      line=b.line if b is not None else None)
            return bufs
        except BaseException:
            bufs.free()
            raise

    def _guard_readers(self, k: LaunchableKernel, contract: Spec, env, inputs, base: dict[str, np.ndarray],
                       what: str, phase: int) -> list[str]:
        """The buffers whose guards `k` reads: its outputs (`base`: a run with the ordinary
        guards) change when they hold the second pattern, the same way twice, and do not change
        in a control run with the ordinary guards. A kernel whose outputs change without the
        guards changing (a race, a read of uninitialised local memory: the session's scrub runs
        before each of these runs) is not a guard reader, whatever its outputs did with the
        second pattern: its failure stands as it was found. One run, then two more and one per
        buffer when some output changed."""
        scrub = getattr(self.session, "scrub_local_memory", None)

        def run(alt) -> dict[str, np.ndarray]:
            if scrub is not None:
                scrub()
            b = self._run_checked(k, contract, env, inputs, what + ", other guard contents", alternate_guards=alt,
                                  phase=phase)
            try:
                return _outputs(b, contract)
            finally:
                b.free()

        def differ(a: dict[str, np.ndarray], c: dict[str, np.ndarray]) -> bool:
            return any(guard_differs(a[x.name], c[x.name], x.dtype).any() for x in contract.buffers if x.role != "in")

        on_alt = run(True)
        if not differ(base, on_alt):
            return []
        if differ(base, run(False)) or differ(on_alt, run(True)):
            return []  # not deterministic: the guards do not explain the change
        names = [b.name for b in contract.buffers if differ(base, run({b.name}))]
        return names or [b.name for b in contract.buffers]

    def _after_run(self, k: LaunchableKernel, bufs: Buffers, what: str, candidate_ran: bool = False) -> None:
        """Guards and inputs as kf wrote them? A change is the kernel's verdict; a change in the
        original's buffers found after a candidate ran (`candidate_ran`: they were alive while
        the candidate ran) is the candidate's, never the original's."""
        oob = bufs.check_guards()
        if oob:
            if k.role == "candidate" or candidate_ran:
                self.healthy = False  # it may have scribbled on memory we do not guard
                if k.role != "candidate":
                    raise EvalFailure(Verdict.OUT_OF_BOUNDS, "candidate writes outside its own buffers: the guards of "
                                      f"the original's `{oob[0]}` changed while the candidate ran ({what}): {oob[1]}")
                raise EvalFailure(Verdict.OUT_OF_BOUNDS, f"candidate writes out of bounds of {oob[0]} ({what}): {oob[1]}")
            raise EvalFailure(Verdict.REFERENCE_FAILED, f"the original kernel writes out of bounds of {oob[0]} ({what}): {oob[1]}")
        modified = bufs.modified_inputs()
        if modified:
            if k.role == "candidate":
                raise EvalFailure(Verdict.INPUT_MODIFIED, f"candidate modifies input {modified} ({what})")
            if candidate_ran:
                self.healthy = False
                raise EvalFailure(Verdict.INPUT_MODIFIED, "candidate writes outside its own buffers: the original's "
                                  f"input {modified} changed while the candidate ran ({what})")
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

    def _accumulation(self, contract: Spec, b, inputs: dict | None,
                      n_out: int | Callable[[], int]) -> original_checks.Accumulation:
        """How far the rounding of an accumulation widens the tolerance of float output `b`:
        k terms per output element (k >= 2: a sum, a dot product) summed in float in some
        order err by up to original.accumulation_bound, whatever the oracle; a reordering
        of a float sum is not an error (docs/evaluation.md, "Tolerances"). `n_out`: the
        output's length in scalars (or how to get it: asked once per size). Measured on the
        first input set of each size (the inputs' rms hardly differs between seeds) and kept:
        the timed trials, with new inputs each, reuse the default size's."""
        if inputs is None or not dtypes.is_float(b.dtype):
            return original_checks.Accumulation()
        sizes = {x.name: original_checks._length(inputs, x.name) for x in contract.buffers if x.name in inputs}
        key = (b.name, tuple(sorted(sizes.items())))
        if key not in self._bounds:
            lengths = dict(sizes)
            lengths[b.name] = n_out() if callable(n_out) else n_out
            self._bounds[key] = original_checks.accumulation(b, contract, inputs, lengths)
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
                 expected: dict | None = None, inputs: dict | None = None,
                 magnitude: dict[str, tuple[float, str]] | None = None,
                 bounds: dict[str, original_checks.Accumulation] | None = None) -> CheckReport:
        """Every output of the candidate against the oracle: a Python reference's `expected`
        outputs (judged by accuracy, with the original's own error when there is an original,
        rb), else the original's outputs (rb) within the tolerance, widened for the rounding
        of an accumulation and for a nondeterministic original (docs/evaluation.md, "The
        oracle"). An original that disagrees with the reference raises REFERENCE_FAILED.
        `bounds`: the accumulation widening per output, given instead of measured on `inputs`
        (the special input values)."""
        if isinstance(cb, Buffers):
            cb = _ReadInto(cb, self.host)  # its outputs are compared and dropped: read into reused arrays
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
            acc = bounds.get(b.name, original_checks.Accumulation()) if bounds is not None else \
                self._accumulation(contract, b, inputs, lambda: _length(rb, cb, b))
            extra_rtol, extra_atol, why = acc.rtol, acc.atol, acc.why
            if expected is not None:
                got = cb.read(b.name, b.dtype)
                orig = rb.read(b.name, b.dtype) if rb is not None else None
                written = ~poison_mask(orig, b.dtype) if orig is not None and poisoned else \
                    np.ones(got.shape, dtype=bool)
                check = compare_output(b.name, b.dtype, expected[b.name], got, rtol, atol, poisoned,
                                       scale_atol=self._scaled(contract), written=written, original=orig,
                                       extra_rtol=extra_rtol, extra_atol=extra_atol, extra_why=why,
                                       original_error=self.original_error.get(b.name, 0.0),
                                       original_excess=self.original_excess.get(b.name, 0.0),
                                       sum_scale=acc.sum_scale)
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
                sampled = getattr(cb, "positions_of", None)
                where = sampled(b.name, b.dtype) if sampled is not None else None
                check = device_checks.compare(b.name, b.dtype, rb, cb, rtol, atol,  # by digest where it can
                                              poisoned=poisoned, scale_atol=self._scaled(contract),
                                              extra_atol=extra_atol, extra_rtol=extra_rtol, extra_why=why,
                                              magnitude=(magnitude or {}).get(b.name),
                                              **({"positions_of": where} if where is not None else {}))
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

        first = _outputs(rb, contract)  # a stored run's read-only arrays: the checks only read them
        digests = {name: rb.digest(name) for name in first}

        def run(alternate: bool) -> dict:
            """One more run's outputs; one whose device digest is the first run's is bit for bit
            that run's output, and the first run's array stands for it (not read back: a
            deterministic original's self-checks read 2 x 256 MiB for nothing at a big size)."""
            bufs = Buffers(self.session, contract, env, alternate_poison=alternate)
            try:
                bufs.load(inputs)
                self._launch(ref, bufs, env, f"{what}, checking the original")
                self._after_run(ref, bufs, what)
                return {name: first[name] if digests[name] is not None and bufs.digest(name) == digests[name]
                        else bufs.read_owned(name, contract.buffer(name).dtype) for name in first}
            finally:
                bufs.free()

        def against(b, values):  # one run of the original measured against the Python reference
            rtol, atol = self._tolerance(contract, b)
            poisoned = b.role == "out" and b.start is None
            written = ~poison_mask(values, b.dtype) if poisoned else np.ones(values.shape, dtype=bool)
            acc = self._accumulation(contract, b, inputs, values.size)
            return compare_output(b.name, b.dtype, expected[b.name], values, rtol, atol, False,
                                  scale_atol=self._scaled(contract), written=written, extra_rtol=acc.rtol,
                                  extra_atol=acc.atol, extra_why=acc.why)

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

    def _disagrees_at_derived(self, f: EvalFailure, derived: bool, expected, label: str, what: str) -> bool:
        """At a size kf chose, an original that disagrees with the Python reference there (its own
        answer is wrong: an overflow, a size it does not handle) skips that size, saying so."""
        if not (derived and expected is not None and f.verdict is Verdict.REFERENCE_FAILED
                and f.message.startswith("the original disagrees")):
            return False
        self._skip(label, "the original disagrees with the Python reference there", _reason(f.message, what))
        return True

    def _skip(self, label: str, why: str, detail: str = "") -> None:
        """A derived size kf chose is left out (the verdict's note says which and why: `why`,
        with the first size's `detail`)."""
        label = _plain_label(label)
        sizes = self.skipped.setdefault(why, [])
        if not sizes and detail:
            self.skip_details[why] = f"at {label}: {detail}"
        if label not in sizes:
            sizes.append(label)

    def _was_skipped(self, label: str) -> bool:
        """Whether the derived size `label` was left out (for any reason): compared as whole
        labels (a joined string matched n=10 inside n=100)."""
        plain = _plain_label(label)
        return any(plain in labels for labels in self.skipped.values())

    def _skipped_note(self) -> None:
        for why, labels in self.skipped.items():
            detail = self.skip_details.get(why)
            self.notes.append("derived size(s) " + "; ".join(labels) + f" skipped: {why}"
                              + (f" ({detail})" if detail else ""))

    def _verify(self, ref: LaunchableKernel, cand: "LaunchableKernel | PendingCompile | None",
                contract: Spec) -> LaunchableKernel | None:
        """Every size and seed: the original's outputs (reused across evaluations where they
        can be: reference_cache), then the candidate on its own buffers, compared. `cand` may
        still be compiling (PendingCompile): the original's runs go first meanwhile. The
        original's buffers are copied to the host and freed before the candidate runs, so
        nothing of the original is alive for it to read or write. At the small sizes kf chose
        the candidate runs twice more at the probed ones (backends/judge/sizes.py; docs/evaluation.md)."""
        # the original's outputs on worker-secret inputs, reused across evaluations (reference_cache)
        store = reference_cache.store_for(self.session) if (
            self.reference_key and reference_cache.enabled()) else None
        epoch = store.begin(self.reference_key) if store is not None else 0
        self.store, self.epoch = store, epoch  # the special values' ordinary scale is kept per epoch too
        cases = self.cases = self._plan(ref, contract, self._sizes(contract, ref.tunables, ref.language))
        has_candidate = cand is not None
        self.folded = self._folded_seeds(ref, contract) if has_candidate else 0
        jobs = [(i, case, seed) for i, case in enumerate(cases)
                for seed in range(1 if case.derived or not has_candidate else
                                  self.opts.seeds - (self.folded if case.kind == "default" else 0))]
        prepared: dict[tuple[int, int], object] = {}
        if isinstance(cand, PendingCompile):
            # the candidate compiles in a thread: the original's work meanwhile (stored runs only,
            # so what is prepared is bounded by the store's budget)
            for size_index, case, seed in jobs:
                if cand.done() or store is None:
                    break
                part = self._reference_part(ref, contract, store, epoch, size_index, case, seed)
                if part is not None and not isinstance(part[3], StoredRun):
                    part[3].free()  # too large to keep: run again in turn
                    break
                prepared[(size_index, seed)] = part
            cand = self._candidate(cand)
        dead: set[int] = set()
        try:
            for size_index, case, seed in jobs:
                if size_index in dead:
                    continue
                if (size_index, seed) in prepared:
                    part = prepared.pop((size_index, seed))
                else:
                    part = self._reference_part(ref, contract, store, epoch, size_index, case, seed)
                if part is None:
                    dead.add(size_index)  # the original cannot run at a size kf chose: skipped
                    continue
                env_r, int_sizes, inputs, rb, expected = part
                derived = case.derived
                self.at = (int_sizes, seed, derived)
                what = run_label(int_sizes, seed, derived)
                try:
                    try:
                        if cand is None:
                            self.checks.append(self._original_alone(rb, contract, int_sizes, seed, derived, expected,
                                                                    inputs, what))
                            continue
                        env_c = cand.env(contract, case.overrides)
                        small = case.probe
                        cb = self._run_checked(cand, contract, env_c, inputs, what)
                        try:
                            try:
                                self.checks.append(self._compare(rb, cb, contract, int_sizes, seed, what, derived,
                                                                 expected, inputs))
                            except EvalFailure as f:
                                self._explain_failure(ref, cand, contract, env_r, env_c, inputs, rb, cb, what, f)
                                raise
                            first = _outputs(cb, contract) if small else None
                        finally:
                            cb.free()
                        if small:
                            self._repeat(cand, contract, env_c, inputs, rb, first, int_sizes, seed, what,
                                         size_index % 2, expected)
                    except EvalFailure as f:
                        if not self._disagrees_at_derived(f, derived, expected, case.label, what):
                            raise
                        dead.add(size_index)  # a size kf chose, where the original's own answer is wrong
                finally:
                    rb.free()
        finally:
            for part in prepared.values():
                if part is not None:
                    part[3].free()
        self.at = None
        self._skipped_note()
        randoms = [c.label for c in cases if c.kind == "random" and not self._was_skipped(c.label)]
        if randoms:
            self.notes.append(f"random size {_plain_label(randoms[0])} (drawn from the request's nonce)")
        self._oracle_note(contract, cand is not None)
        if isinstance(cand, PendingCompile):  # no size ran (all skipped): still the candidate's verdict
            cand = self._candidate(cand)
        return cand

    def _folded_seeds(self, ref: LaunchableKernel, contract: Spec) -> int:
        """Seeds after the first at the default size left to the timing loop: where the default
        size's outputs are large (LARGE_OUTPUT_BYTES) and the evaluation is timed, its first
        trials are those seeds, checked as verification checks them (inputs written with a
        digest and checked unchanged after each run, outputs compared in full, not sampled),
        so the full size is not run again for them before timing (a 256 MiB saxpy ran the
        original and the candidate at full size twice more). Not with a Python reference (the
        timed trials compare with the original)."""
        opts = self.opts
        if not opts.time or contract.reference is not None or opts.seeds < 2 or \
                min(opts.min_trials, opts.max_trials) < opts.seeds - 1:
            return 0
        try:
            sizes = buffer_sizes(contract, ref.env(contract, {}))
        except EvalFailure:
            return 0
        out = sum(sizes[b.name] for b in contract.buffers if b.role != "in")
        return opts.seeds - 1 if out >= LARGE_OUTPUT_BYTES else 0

    def _sanitize(self, cand: LaunchableKernel, contract: Spec) -> None:
        """CUDA: the candidate under compute-sanitizer at the small sizes (backends/judge/sanitizer.py);
        a finding is its verdict. Elsewhere, or without the tool, the verdict says it was not run."""
        if self.session.info.backend != "cuda":
            self.notes.append("no sanitizer on this backend: races and uninitialised reads are looked for by "
                              "repeated runs only")
            return
        sizes = [dict(c.overrides) for c in self.cases  # not a random size between small and the default
                 if c.kind in PROBED and (c.probe or c.kind != "random")][:SANITIZED_SIZES] or [{}]
        self.report("running the candidate under compute-sanitizer (racecheck, initcheck, memcheck)", 1800.0)
        found = sanitizer.check(self.req, sizes)
        if isinstance(found, str):
            self.notes.append(f"not checked by compute-sanitizer: {found}")
            return
        bad = [f for f in found if f.errors]
        if bad:
            self._fail_as(bad[0].verdict, "candidate: " + sanitizer.describe(bad[0]))
        problems = [f for f in found if f.problem]
        if problems:
            self.notes.append("compute-sanitizer could not check: " + "; ".join(f"{f.tool}: {f.problem}" for f in problems))
        else:
            self.notes.append(f"compute-sanitizer {', '.join(f.tool for f in found)}: no findings at {len(sizes)} sizes")

    def _reference_part(self, ref: LaunchableKernel, contract: Spec, store, epoch: int, size_index: int,
                        case: "SizeCase", seed: int):
        """(env, sizes, inputs, the original's outputs, the Python reference's outputs or None)
        for one (size, seed), the original's outputs on the host (a StoredRun) and its buffers
        freed; None when the original or the Python reference cannot run at a size kf chose
        (noted: `_skip`). At size 0, seed 0 the original is also checked against its own
        spec; at the probed sizes kf chose, for reads outside its buffers."""
        label, overrides, derived = case
        try:
            env_r = ref.env(contract, overrides)
        except EvalFailure:
            if derived:
                self._skip(label, CANNOT_RUN)
                return None
            raise
        int_sizes = {k: int(v) for k, v in env_r.items() if isinstance(v, int) and k not in ref.tunables}
        if derived:
            crashed = next((s for s in self.opts.skip_sizes if s.sizes == int_sizes), None)
            if crashed is not None:  # an earlier worker died there (the pool started this one)
                self._skip(label, CRASHED_THERE, crashed.reason)
                return None
        self.at = (int_sizes, seed, derived)
        what = run_label(int_sizes, seed, derived)
        probe = case.probe
        phase = size_index % 2

        def run_original(inp):
            return self._run_checked(ref, contract, env_r, inp, what, phase=phase, probe=probe)

        try:
            if store is not None and case.kind != "random":
                inputs, rb = store.run(self.reference_key, epoch, contract, env_r, size_index, seed, run_original)
            else:  # no store, or a size met once (random): inputs from the worker's secret and the nonce
                key = reference_cache.secret_key(self.req.nonce, size_index, seed) if case.kind == "random" else \
                    (self.req.nonce, size_index, seed)
                inputs = InputSet(contract, env_r, key)
                rb = run_original(inputs)
            if not isinstance(rb, StoredRun):
                rb = _to_host(rb, contract)
        except EvalFailure as f:
            if derived and not self.healthy and f.verdict is Verdict.REFERENCE_FAILED:
                # a sticky fault: nothing more can run in this context, the pool goes on in a fresh one
                fault = re.sub(r"^reference faulted \(.*?seed -?\d+[^)]*\): ", "", f.message)
                raise FreshWorkerNeeded(SkippedSize(int_sizes, f"it faulted: {fault}")) from None
            if derived and f.verdict in (Verdict.REFERENCE_FAILED, Verdict.SPEC_ERROR, Verdict.LAUNCH_ERROR):
                m = re.search(r"reads outside `\w+`", f.message)
                self._skip(_plain_label(label) + (f" (it {m.group(0)} there)" if m else ""), CANNOT_RUN)
                return None  # the original cannot run at a size kf chose: not the user's problem
            raise
        try:
            expected = self._reference_outputs(contract, env_r, inputs, store if case.kind != "random" else None,
                                               epoch, size_index, seed, what, derived, label)
            if expected is False:
                rb.free()
                return None  # the Python reference cannot run at a size kf chose
            if size_index == 0 and seed == 0:
                if store is None or self.reference_key not in store.checked:
                    self._original_reads_guards(ref, contract, env_r, inputs, rb, what)
                self._original_checks(ref, contract, env_r, inputs, rb, what, store, expected)
        except BaseException:
            rb.free()
            raise
        return env_r, int_sizes, inputs, rb, expected

    def _original_reads_guards(self, ref: LaunchableKernel, contract: Spec, env, inputs, rb, what: str) -> None:
        """NaN in the original's outputs at the default size: is it a NaN guard it read? (Its
        outputs would then change with the guards' contents.) A spec error at the buffer's
        line, before its own checks take the NaN for something else."""
        outs = _outputs(rb, contract)
        if not any(dtypes.is_float(b.dtype) and np.isnan(outs[b.name]).any() for b in contract.buffers
                   if b.role != "in"):
            return
        readers = self._guard_readers(ref, contract, env, inputs, outs, what, 0)
        if readers:
            b = contract.buffer(readers[0])
            raise EvalFailure(Verdict.SPEC_ERROR, f"the original reads outside `{readers[0]}` ({what}): its outputs "
                              "change with the contents of the memory next to the buffer; declare the length it reads",
                              line=b.line if b is not None else None)

    def _repeat(self, cand: LaunchableKernel, contract: Spec, env, inputs, rb, first: dict[str, np.ndarray],
                sizes, seed: int, what: str, phase: int, expected: dict | None = None) -> None:
        """At a small size: two more runs of the candidate on the same inputs, each checked, with
        the device's local memory scrubbed before each where the session can (CUDA's shared
        memory): one with the guards' second pattern, one as the first. Wrong on the first of
        them only: its output depends on memory outside its buffers (out_of_bounds); wrong on
        the second: it is not deterministic (a race, uninitialised memory)."""
        scrub = getattr(self.session, "scrub_local_memory", None)
        failures: list[EvalFailure | None] = []
        for alternate in (True, False):
            if scrub is not None:
                scrub()
            label = what + (", other guard contents" if alternate else ", repeated")
            cb = self._run_checked(cand, contract, env, inputs, label, alternate_guards=alternate, phase=phase)
            try:
                failures.append(self._check_quietly(rb, cb, contract, sizes, seed, label, expected, inputs))
            finally:
                cb.free()
        on_guards, repeated = failures
        readers = []
        if repeated is None and on_guards is not None:
            readers = self._guard_readers(cand, contract, env, inputs, first, what, phase)
        if readers:
            self._fail_as(Verdict.OUT_OF_BOUNDS, f"candidate reads out of bounds of {_names(readers)} ({what}): its "
                          "output changes with the contents of the memory next to the buffer (kf's guards: NaN, then "
                          f"huge values): {on_guards.message}", on_guards.report)
        wrong = repeated or on_guards  # a failure the guards' contents do not explain
        if wrong is not None:
            self._fail_as(Verdict.NONDETERMINISTIC, f"candidate is not deterministic: right on the first run, wrong on "
                          f"a repeat with the same inputs ({what}; a race between work-items or work-groups, or a read "
                          f"of uninitialised memory): {wrong.message}", wrong.report)

    def _check_quietly(self, rb, cb, contract: Spec, sizes, seed: int, what: str,
                       expected: dict | None = None, inputs: dict | None = None) -> EvalFailure | None:
        """`_compare` without its verdict: the failure (its check report kept aside), or None."""
        n = len(self.checks)
        try:
            self._compare(rb, cb, contract, sizes, seed, what, True, expected, inputs)
            return None
        except EvalFailure as f:
            f.report = self.checks[n] if len(self.checks) > n else None  # kept aside for _fail_as
            del self.checks[n:]
            return f

    def _fail_as(self, verdict: Verdict, message: str, report: CheckReport | None = None) -> None:
        """End with `verdict`: the failing run's report (or one for the size running now) last in checks."""
        at = self.at
        if report is None and at is not None:
            report = CheckReport(at[0], at[1], False, message=message, derived=at[2])
        if report is not None:
            self.checks.append(_with(report, message=message))
        raise EvalFailure(verdict, message)

    def _explain_failure(self, ref: LaunchableKernel, cand: LaunchableKernel, contract: Spec, env_r, env_c, inputs,
                         rb, cb: Buffers, what: str, failure: EvalFailure) -> None:
        """A comparison failed with NaN or Inf on one side: a NaN guard read? The original's
        outputs change with its guards' contents: a spec error; the candidate's: out_of_bounds.
        Returns when neither (the failure stands)."""
        report = self.checks[-1] if self.checks and not self.checks[-1].ok else None
        if report is None or not report.nonfinite_count:
            return
        phase = 0
        readers = self._guard_readers(ref, contract, env_r, inputs, _outputs(rb, contract), what, phase)
        if readers:
            b = contract.buffer(readers[0])
            raise EvalFailure(Verdict.SPEC_ERROR, f"the original reads outside `{readers[0]}` ({what}): its outputs "
                              "change with the contents of the memory next to the buffer; declare the length it reads",
                              line=b.line if b is not None else None)
        readers = self._guard_readers(cand, contract, env_c, inputs, _outputs(cb, contract), what, phase)
        if readers:
            self.checks.pop()
            self._fail_as(Verdict.OUT_OF_BOUNDS, f"candidate reads out of bounds of {_names(readers)} ({what}): its "
                          "output changes with the contents of the memory next to the buffer (kf's guards hold NaN, "
                          f"which it read): {failure.message}", report)

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
            acc = self._accumulation(contract, b, inputs, got.size)
            check = compare_output(b.name, b.dtype, expected[b.name], got, rtol, atol, False,
                                   scale_atol=self._scaled(contract), written=written, original=got,
                                   extra_rtol=acc.rtol, extra_atol=acc.atol, extra_why=acc.why,
                                   original_excess=self.original_excess.get(b.name, 0.0),
                                   original_error=self.original_error.get(b.name, 0.0),
                                   sum_scale=acc.sum_scale)
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

    # -- timing (docs/evaluation.md, "Timing") ---------------------------------------------

    def _timing_key(self, trial: int) -> tuple[int, ...]:
        """The inputs of timed trial `trial`: from the worker's secret and the request's nonce,
        so neither the candidate's author nor the kernel can know them before they run."""
        return (SECRET, self.req.nonce, TIMING_TAG, trial)

    def _time(self, ref: LaunchableKernel, cand: LaunchableKernel | None, contract: Spec):
        """The timing trials (_trials), with no compile ahead running meanwhile (ahead.quiet)."""
        with ahead.quiet():
            return self._trials(ref, cand, contract)

    def _trials(self, ref: LaunchableKernel, cand: LaunchableKernel | None, contract: Spec):
        """Trials at the default size: the candidate, then the original, each on new inputs
        generated on the device (the same for both); the candidate's outputs of every trial
        compared with the original's on those inputs (large ones: _compare_large); the
        original's outputs poisoned before the candidate runs again. Stops when every median
        is known within the noise target (backends/judge/stats.py)."""
        opts = self.opts
        env_r = ref.env(contract, {})
        env_c = cand.env(contract, {}) if cand else None
        timed_sizes = {k: int(v) for k, v in env_r.items() if isinstance(v, int) and k not in ref.tunables}
        self.at = (timed_sizes, -1, False)
        kernels = [(ref, env_r)] + ([(cand, env_c)] if cand else [])
        secret = random.Random(os.urandom(16))  # draws no kernel can see: the blocks of large outputs checked
        sets: list[Buffers] = []
        try:
            for _ in kernels:  # trial t: the original on set t % 2, the candidate on the other (placement cancels)
                sets.append(Buffers(self.session, contract, env_r))
            warm = InputSet(contract, env_r, self._timing_key(-1))
            for b in sets:
                b.load(warm, snapshot=False)  # timed trials rewrite their inputs: nothing to compare them with
            # warm-up: module load, first-touch page faults and clocks stay out of the numbers
            for i, (k, env) in enumerate(kernels):
                start, n = time.perf_counter(), 0
                while n < 2 or (time.perf_counter() - start < opts.warmup_seconds and n < 50):
                    self._launch(k, sets[i], env, "warm-up")
                    n += 1
                self._guards(k, sets, "warm-up", sets[i])
            large = sum(sets[0].nbytes[b.name] for b in contract.buffers if b.role != "in") >= LARGE_OUTPUT_BYTES
            outs = [b for b in contract.buffers if b.role != "in"]
            whole = _whole_outputs(self.session, outs, sets[0].nbytes)  # _compare_large's way
            on_device = all(device_checks.comparable(self.session, b.dtype, sets[0].nbytes[b.name]) for b in outs)
            samples: list[list[float]] = [[] for _ in kernels]
            poisoned: set[int] = set()  # sets whose outputs hold the poison since their last run
            start = time.perf_counter()
            trial, reason = 0, None
            folded = self.folded if cand is not None else 0
            while reason is None:
                seed = trial + 1 if trial < folded else None  # a seed of verification (_folded_seeds)
                inputs = InputSet(contract, env_r, self._timing_key(trial))
                for i in ([1, 0] if cand else [0]):  # the candidate first: the original has nothing of this trial yet
                    k, env = kernels[i]
                    b = sets[(i + trial) % len(sets)]
                    b.reload(inputs, snapshot=seed is not None, outputs=id(b) not in poisoned)
                    poisoned.discard(id(b))
                    self.session.flush_caches()
                    samples[i].append(self._launch(k, b, env, f"timing trial {trial}", timed=True))
                    self._guards(k, sets, f"timed trial {trial}", b)  # its own and the other set's
                    if seed is not None:
                        self._after_run(k, b, f"timed trial {trial}, seed {seed} at the default size")
                if cand is not None:
                    rb, cb = sets[trial % 2], sets[(trial + 1) % 2]
                    what = f"output of timed trial {trial}"
                    if seed is not None:
                        self.at = (timed_sizes, seed, False)
                        self.checks.append(self._compare(rb, cb, contract, timed_sizes, seed,
                                                         f"{what}, seed {seed} at the default size", inputs=inputs))
                        self.at = (timed_sizes, -1, False)
                    elif large:
                        self._compare_large(rb, cb, contract, timed_sizes, what, secret, inputs)
                    else:
                        self._compare(rb, cb, contract, timed_sizes, -1, what, inputs=inputs)
                    rb.poison_outputs()  # nothing the original computed stays readable while the candidate runs
                    poisoned.add(id(rb))
                trial += 1
                reason = stop_reason(samples, time.perf_counter() - start, noise_target=opts.noise_target,
                                     min_trials=opts.min_trials, max_trials=opts.max_trials,
                                     cap_seconds=opts.target_seconds, method=self.session.timing_method,
                                     min_effect=opts.min_effect)
            self.at = None
            method = self.session.timing_method
            resolution = RESOLUTION.get(method, 0.0)
            timings = [summarize(s, method, reason, median_noise(s, resolution)) for s in samples]
            note = describe_stop(timings, opts.noise_target, opts.target_seconds)
            if cand is not None:
                note += (f"; the outputs of all {trial} timed trials verified"
                         + (_large_note(outs, whole, on_device) if large else "") + ", each trial on new inputs")
                if folded:
                    note += (f"; the first {folded} trials were seeds {', '.join(str(t + 1) for t in range(folded))} "
                             "at the default size, checked as verification checks (outputs in full, inputs unchanged)")
            self.timing_note = note
            shapes = [k.launch_shape(env) for k, env in kernels]
            return timings, shapes, env_r
        finally:
            for b in sets:
                b.free()

    def _compare_large(self, rb: Buffers, cb: Buffers, contract: Spec, sizes: dict[str, int], what: str,
                       secret: random.Random, inputs=None) -> None:
        """A timed trial's large outputs: equal to the original's bit for bit (device digests), or
        else compared whole on the device where the session has the comparison kernel
        (device_checks.on_device) and whole on the host where an output is below
        WHOLE_ON_HOST_BYTES, or else with the usual comparison on SAMPLE_BLOCKS blocks drawn in
        secret (the last block always: tails go wrong most); where the sample fails, on the whole
        output, so the verdict and its message are the ones the whole comparison gives."""
        outs = [b for b in contract.buffers if b.role != "in"]
        if all((d := rb.digest(b.name)) is not None and d == cb.digest(b.name) for b in outs):
            return
        whole = _whole_outputs(self.session, outs, rb.nbytes)
        if len(whole) == len(outs):
            # the comparison kernel reads every element at memory bandwidth, and the host an output
            # below its size cheaply: the whole outputs
            self._compare(rb, cb, contract, sizes, -1, what, inputs=inputs)
            return
        # only the large outputs the device cannot compare are sampled: a layer norm's 1.6 GB `y` beside
        # its small `mean` was sampled too (a wrong element in one timed trial passed, red team)
        blocks = {b.name: None if b.name in whole else
                  _sample_blocks(rb.nbytes[b.name], dtypes.itemsize(b.dtype) if b.dtype in dtypes.NUMPY else 16,
                                 secret) for b in outs}
        checks = len(self.checks)
        try:
            self._compare(_Sampled(rb, blocks), _Sampled(cb, blocks), contract, sizes, -1, what + ", sampled",
                          inputs=inputs)
        except EvalFailure:
            del self.checks[checks:]
            self._compare(rb, cb, contract, sizes, -1, what, inputs=inputs)

    def _guards(self, k: LaunchableKernel, sets: list[Buffers], what: str, own: Buffers | None = None) -> None:
        """After a run of `k` (on `own`): the guards of every live buffer set. They were intact
        before it ran, so a damaged one is its doing, the other set's included (a candidate
        writing into the original's buffers is the candidate's verdict, never the original's)."""
        for b in sets:
            oob = b.check_guards()
            if not oob:
                continue
            if k.role == "candidate":
                self.healthy = False  # it may have scribbled on memory we do not guard
                if own is not None and b is not own:
                    raise EvalFailure(Verdict.OUT_OF_BOUNDS, "candidate writes outside its own buffers: the guards of "
                                      f"the original's `{oob[0]}` changed while the candidate ran ({what}): {oob[1]}")
                raise EvalFailure(Verdict.OUT_OF_BOUNDS, f"candidate writes out of bounds of {oob[0]} ({what}): {oob[1]}")
            raise EvalFailure(Verdict.REFERENCE_FAILED,
                              f"the original kernel writes out of bounds of {oob[0]} ({what}): {oob[1]}")

    def _special_values(self, ref: LaunchableKernel, cand: LaunchableKernel, contract: Spec,
                        overrides: Mapping[str, str] | None = None) -> None:
        """One input set of special values per evaluation (backends/judge/inputs.py, docs/spec.md),
        untimed, at the timed (default) size, since a kernel can tell any other size apart (red
        team: a clamp taken only from n >= 65536 passed when this ran at a `@kf check` size): the
        original runs first, its outputs are copied to the host and its buffers freed, then the
        candidate runs and is judged against the original's own behaviour there (where the
        original gives NaN, any value passes; the absolute tolerance grows with the outputs'
        typical magnitude, measured on the original on ordinary inputs (_ordinary_scale), and an
        accumulated output's with the rounding of its sums on those inputs and of the set's
        largest scattered term: _special_bounds). Outputs over SPECIAL_MAX_BYTES are compared on
        blocks drawn in secret (_special_blocks).

        `overrides`: another size, the random size where it lies between the small sizes and the
        default (sizes.WIDE_SHARE): a clamp taken only in a range of sizes would see special
        values nowhere else."""
        overrides = dict(overrides or {})
        env_r = ref.env(contract, overrides)
        env_c = cand.env(contract, overrides)
        inputs = InputSet(contract, env_r, self._timing_key(WIDE_SPECIAL_TRIAL if overrides else SPECIAL_TRIAL), wide=True)
        if not inputs.has_specials:
            return
        sizes = {k: int(v) for k, v in env_r.items() if isinstance(v, int) and k not in ref.tunables}
        what = run_label(sizes, SPECIAL_TRIAL, False) + ", " + SPECIAL_VALUES
        self.at = (sizes, SPECIAL_TRIAL, False)
        outs = [b for b in contract.buffers if b.role != "in"]
        try:
            typical, rms, nbytes, ordinary = self._ordinary_scale(ref, contract, env_r, what,
                                                                    WIDE_SCALE_TRIAL if overrides else SCALE_TRIAL)
            blocks = _special_blocks(nbytes, outs, inputs)
            bounds = self._special_bounds(outs, ordinary, inputs)

            def view(bufs):  # what of a run's outputs is read and compared
                return _Sampled(bufs, blocks) if blocks else bufs
            rb = self._run_checked(ref, contract, env_r, inputs, what)
        except EvalFailure as f:
            if self.healthy and f.verdict in (Verdict.REFERENCE_FAILED, Verdict.SPEC_ERROR, Verdict.LAUNCH_ERROR):
                self.notes.append(f"special input values not checked: the original fails on them ({f.message}); "
                                  "`// @kf values finite` or `ordinary` says what it takes")
                self.at = None
                return
            raise
        try:
            scale: dict[str, float] = {}
            want: dict[str, np.ndarray] = {}
            for b in outs:
                w = np.array(view(rb).read(b.name, b.dtype))
                grown = _typical(w, b.dtype) / typical[b.name] if typical[b.name] > 0 else 1.0
                scale[b.name] = 2.0 ** math.ceil(math.log2(grown)) if grown > 1.0 and math.isfinite(grown) else 1.0
                want[b.name] = w
        finally:
            rb.free()  # the original's buffers are gone before the candidate runs
        cb = self._run_checked(cand, contract, env_c, inputs, what)
        try:
            # the default atol scales with the outputs' magnitude on ordinary inputs (both sides are divided
            # by `scale`): the rms of the special outputs would be set by their few huge values alone
            magnitude = {name: (value, "the rms of the original's outputs on ordinary inputs")
                         for name, value in rms.items() if value > 0}
            # the rounding allowance of an accumulation, in the units the comparison sees (divided by `scale`)
            bounds = {name: msgspec.structs.replace(acc, atol=acc.atol / scale.get(name, 1.0))
                      for name, acc in bounds.items()}
            self._compare(_Scaled(want, None, scale), _Scaled(want, view(cb), scale), contract, sizes, SPECIAL_TRIAL, what,
                          magnitude=magnitude, bounds=bounds)
        finally:
            cb.free()
        self.special_checked = True
        self.at = None

    @staticmethod
    def _special_bounds(outs, ordinary: Mapping[str, original_checks.Accumulation],
                        inputs: InputSet) -> dict[str, original_checks.Accumulation]:
        """How far the rounding of an accumulation widens each float output's tolerance on the
        special set: the ordinary bound (`ordinary`, measured with the ordinary scale, once per
        epoch: _ordinary_scale) plus that of the set's largest scattered magnitude
        (original.scattered_bound): a few magnitudes far above the rest in one sum make its
        rounding depend on the order of the additions, even where they cancel, and a correct
        reordered reduction must still pass."""
        largest = inputs.largest_scattered()
        found: dict[str, original_checks.Accumulation] = {}
        for b in outs:
            acc = ordinary[b.name]
            extra = original_checks.scattered_bound(b, acc.terms, largest) if acc.why else 0.0
            found[b.name] = msgspec.structs.replace(
                acc, atol=acc.atol + extra,
                why=acc.why + (f" and of the special values' largest term, {largest:.3g}" if extra else ""))
        return found

    def _ordinary_scale(self, ref: LaunchableKernel, contract: Spec, env_r, what: str, trial: int = SCALE_TRIAL):
        """({buffer: typical magnitude}, {buffer: output_scale}, {buffer: bytes}, {buffer:
        Accumulation}) of the original's outputs at the default size on ordinary inputs: the
        yardstick of the special values' tolerance, and the rounding bound of an accumulated
        output on such inputs (original.accumulation; nothing for an integer one). A property of
        the original, not of any candidate's inputs: with the reference store (reference_cache)
        measured once per epoch on the epoch's secret inputs, like the verification sets (it was
        a full-size run and a quantile over its outputs in every evaluation, and the bound was
        measured on an ordinary set of its own in each); without it, on inputs of the request's
        nonce."""
        outs = [b for b in contract.buffers if b.role != "in"]

        def compute(inputs: InputSet):
            ordinary = self._run_checked(ref, contract, env_r, inputs, what)
            try:
                nbytes = {b.name: ordinary.nbytes[b.name] for b in outs}
                blocks = _special_blocks(nbytes, outs, inputs)
                view = _Sampled(ordinary, blocks) if blocks else ordinary
                typical, rms = {}, {}
                for b in outs:
                    values = view.read(b.name, b.dtype)
                    typical[b.name] = _typical(values, b.dtype)
                    rms[b.name] = output_scale(values[~poison_mask(values, b.dtype)]) if dtypes.is_float(b.dtype) \
                        else 0.0
            finally:
                ordinary.free()
            lengths = {x.name: original_checks._length(inputs, x.name) for x in contract.buffers if x.name in inputs}
            bounds = {b.name: original_checks.accumulation(b, contract, inputs, {
                **lengths, b.name: nbytes[b.name] // dtypes.numpy_dtype(b.dtype).itemsize})
                if dtypes.is_float(b.dtype) else original_checks.Accumulation() for b in outs}
            return typical, rms, nbytes, bounds

        store = self.store
        if store is not None and trial == SCALE_TRIAL:  # the default size's; a random size's is never stored
            return store.kept(("ordinary scale", self.reference_key, self.epoch), contract, env_r, compute)
        return compute(InputSet(contract, env_r, self._timing_key(trial)))

    def _profile(self, k: LaunchableKernel, timing, shape, contract: Spec, env) -> Profile:
        res = k.compiled.resources
        grid, block, shared = shape
        threads = block[0] * block[1] * block[2]
        if k.language == "sycl":
            blocks = math.prod(g // max(b, 1) for g, b in zip(grid, block))
        else:
            blocks = grid[0] * grid[1] * grid[2]
        moved = _bytes_moved(contract, env)
        flops = None
        if contract.flops:  # the problem's, never a candidate's own claim (like its bytes)
            try:
                flops = int(eval_expr(contract.flops, env))
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
        pending: PendingCompile | LaunchableKernel | None = None
        try:
            contract = req.reference.kernel.spec
            if contract is not None and contract.reference is not None and is_stub(req.reference.text,
                                                                                   req.reference.kernel):
                return self._run_stub(contract)
            if req.candidate is not None:
                problems = check_contract(req.reference.kernel, req.candidate.kernel)
                if problems:
                    return EvalResult(Verdict.CONTRACT, "candidate breaks the kernel's contract: " + "; ".join(problems))
            ref_unit = self._unit(req.reference, "reference")  # the original's spec errors first
            self._submit_ahead()
            # the candidate compiles in a thread while the original compiles and runs (PendingCompile)
            pending = self._compile(req.candidate, "candidate", background=True) if req.candidate else None
            ref = self._compile(req.reference, "reference", prepared=ref_unit)
            contract = ref.spec
            if not getattr(self.session, "can_run", True):
                cand = self._candidate(pending) if isinstance(pending, PendingCompile) else pending
                return EvalResult(
                    Verdict.COMPILED,
                    f"compiled; not run: {self.session.info.name}{self._unrun_sizes(ref, contract)}",
                    self.diagnostics,
                    reference=KernelMeasurement(profile=ref.compiled.resources),
                    candidate=KernelMeasurement(profile=cand.compiled.resources) if cand else None,
                )
            cand = self._verify(ref, pending, contract)
            if cand is not None and self.opts.sanitize:
                self._sanitize(cand, contract)
            self._warn_thin_spec(contract)
            checked = self._checked_sizes()
            if not self.opts.time:
                return EvalResult(Verdict.CORRECT, "correct (not timed)" + checked, self.diagnostics, self.checks)
            if cand is not None and values_mode(contract) != "ordinary":
                self._special_values(ref, cand, contract)
                for case in self.cases:  # a random size between the small ones and the default
                    if case.kind == "random" and not case.probe and self.healthy and not self._was_skipped(case.label):
                        self._special_values(ref, cand, contract, case.overrides)
            timings, shapes, env = self._time(ref, cand, contract)
            ref_m = KernelMeasurement(timings[0], self._profile(ref, timings[0], shapes[0], contract, env) if self.opts.profile else None)
            ref_m = self._with_ncu(ref_m, "reference")
            if cand is None:
                return EvalResult(Verdict.CORRECT, "measured" + checked + self._timed(), self.diagnostics, self.checks,
                                  ref_m)
            cand_m = KernelMeasurement(timings[1], self._profile(cand, timings[1], shapes[1], contract, env) if self.opts.profile else None)
            cand_m = self._with_ncu(cand_m, "candidate")
            cmp = compare(timings[0], timings[1], min_effect=self.opts.min_effect)
            rule = f"the interval above 1 and at least {1 + self.opts.min_effect:.2f}x"
            verdict_msg = (
                f"correct; {cmp.speedup:.2f}x (95% CI {cmp.low:.2f}-{cmp.high:.2f}, paired trials), "
                + (f"significantly faster ({rule})" if cmp.significant else f"not significantly faster (needs {rule})")
                + checked + self._timed()
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
        finally:
            if isinstance(pending, PendingCompile):
                pending.join()  # a compile left running would load the device under the next evaluation

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
                    inputs = InputSet(contract, env, (self.req.nonce, size_index, seed))
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

    def _timed(self) -> str:
        """'; timed: 14 trials, stopped when ...; special input values checked', for the verdict line."""
        text = f"; timed: {self.timing_note}" if self.timing_note else ""
        return text + ("; special input values checked" if self.special_checked else "")

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


def _fits_host_memory(contract: Spec, lengths: dict[str, int], what: str) -> None:
    """A size whose Python reference would exhaust the host's memory (memory.host_free: what
    kf may use of it) is a spec error at the size's line (the largest buffer's first size
    variable), said before anything is allocated, instead of a MemoryError (or the machine
    swapping) in the middle of an evaluation. memory.py plans the kernels' buffers; this
    adds the reference's float64 copies."""
    need = REFERENCE_COPIES * 8 * sum(lengths.values())
    have = memory.host_free()
    if not have or need <= have:
        return
    big = max(contract.buffers, key=lambda b: lengths.get(b.name, 0))
    raise EvalFailure(Verdict.SPEC_ERROR, f"at this size ({what}) the Python reference needs about {need / 2**30:.1f} "
                      f"GiB of host memory (float64 copies of the buffers; {big.name}: `{big.length}` = "
                      f"{lengths[big.name]} elements), more than the {have / 2**30:.1f} GiB available: use a smaller "
                      "size", line=_size_line(contract, big.name))


class FreshWorkerNeeded(Exception):
    """The original took a sticky device fault at a size kf chose: this process's device
    context is unusable, so the evaluation cannot go on here. The pool runs it again in a
    fresh worker with that size left out (EvalOptions.skip_sizes; backends/run/local_pool.py)."""

    def __init__(self, skip: SkippedSize):
        super().__init__(skip.reason)
        self.skip = skip


CRASHED_THERE = "the original crashed its worker there (the evaluation went on in a fresh one)"

CANNOT_RUN = ("the original cannot run there (mark a size the kernel needs with `@kf fixed NAME`, or `@kf require` "
              "what it needs)")


def _sample_blocks(nbytes: int, itemsize: int, secret: random.Random,
                   include: Iterable[int] = ()) -> list[tuple[int, int]]:
    """(offset, length) of the sampled blocks of a buffer: whole elements, the last block and others
    drawn in secret, and those holding the byte offsets `include`, in order, without overlap."""
    step = max(itemsize, SAMPLE_BLOCK_BYTES - SAMPLE_BLOCK_BYTES % itemsize)
    count = -(-nbytes // step)
    if count <= SAMPLE_BLOCKS:
        return [(0, nbytes)]
    picks = sorted(set(secret.sample(range(count - 1), SAMPLE_BLOCKS - 1)) | {count - 1}
                   | {min(count - 1, max(0, off) // step) for off in include})
    return [(i * step, min(step, nbytes - i * step)) for i in picks]


def _large_note(outs, whole: set[str], on_device: bool) -> str:
    """How a large timed trial's outputs were compared, for the verdict line."""
    if len(whole) == len(outs):
        return " (where not bit for bit the original's, in full" + (" on the device)" if on_device else ")")
    sampled = [b.name for b in outs if b.name not in whole]
    return (f" (where not bit for bit the original's, {', '.join(sampled)} on a secret sample of {SAMPLE_BLOCKS} "
            "blocks" + (", the others in full)" if whole else ")"))


def _whole_outputs(session, outs, nbytes: Mapping[str, int]) -> set[str]:
    """The outputs a large timed trial compares whole: those kf's comparison kernel takes on the
    device (device_checks.comparable), and those below WHOLE_ON_HOST_BYTES (a host comparison of
    at most 16 MiB); the others are sampled (_compare_large)."""
    return {b.name for b in outs if nbytes[b.name] < WHOLE_ON_HOST_BYTES
            or device_checks.comparable(session, b.dtype, nbytes[b.name])}


class _Sampled:
    """Some blocks of a buffer set's outputs, read to the host: what the comparison of a large
    timed trial sees (both sides the same blocks). An output whose blocks are None is the whole
    buffer, where it lies (compared on the device where it can be)."""

    def __init__(self, bufs: Buffers, blocks: dict[str, list[tuple[int, int]] | None]):
        self.bufs, self.blocks = bufs, blocks

    def device_range(self, name: str):
        return self.bufs.device_range(name) if self.blocks[name] is None else None

    def positions_of(self, name: str, dtype: str):
        """Sample index -> the buffer's element index, for messages (None: the whole buffer)."""
        blocks = self.blocks[name]
        if blocks is None:
            return None
        size = dtypes.numpy_dtype(dtype).itemsize
        starts = np.array([off // size for off, _ in blocks], dtype=np.int64)
        ends = np.cumsum([n // size for _, n in blocks], dtype=np.int64)
        begins = ends - np.array([n // size for _, n in blocks], dtype=np.int64)

        def where(k: np.ndarray) -> np.ndarray:
            j = np.searchsorted(ends, np.asarray(k, dtype=np.int64), side="right")
            return starts[j] + (np.asarray(k, dtype=np.int64) - begins[j])
        return where

    def read(self, name: str, dtype: str) -> np.ndarray:
        if self.blocks[name] is None:
            return self.bufs.read(name, dtype)
        buf, at = self.bufs.alloc[name], self.bufs.base[name] + self.bufs.guard
        parts = [self.bufs.session.read(buf, at + off, n) for off, n in self.blocks[name]]
        return np.concatenate(parts).view(dtypes.numpy_dtype(dtype))

    def digest(self, name: str) -> int | None:
        return None


SPECIAL_MAX_BYTES = 4 << 20  # outputs larger than this: the special values compared on a secret sample


def _special_blocks(nbytes: Mapping[str, int], outs, inputs: InputSet) -> dict[str, list[tuple[int, int]]] | None:
    """The blocks of each output compared on the special values when the outputs exceed
    SPECIAL_MAX_BYTES (None: all of them): SAMPLE_BLOCKS drawn in secret, the last, and those at
    the special values' relative positions in the inputs (an output element i of n usually
    depends on the inputs near i/n of theirs: elementwise, row-wise and chunked reductions)."""
    if sum(nbytes[b.name] for b in outs) <= SPECIAL_MAX_BYTES:
        return None
    secret = random.Random(os.urandom(16))
    marks = inputs.special_fractions()
    return {b.name: _sample_blocks(nbytes[b.name], dtypes.itemsize(b.dtype) if b.dtype in dtypes.NUMPY else 16,
                                   secret, [int(f * nbytes[b.name]) for f in marks]) for b in outs}


def _typical(values: np.ndarray, dtype: str) -> float:
    """The median magnitude of the finite elements a kernel wrote, over at most 65536 of them
    evenly spread (0 where none or not floats): a scale, not a statistic to the last bit."""
    if not dtypes.is_float(dtype):
        return 0.0
    values = values[:: max(1, values.size // 65536)]
    with np.errstate(invalid="ignore"):
        v = np.abs(values[~poison_mask(values, dtype)].astype(np.float64))
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else 0.0


class _Scaled:
    """Outputs on the special values as the comparison sees them: divided by a power of two per
    buffer (exact; the same for both sides, so this widens only the absolute tolerance, by as much
    as the original's outputs grew), and, for the candidate (`got`), the original's NaN copied in
    wherever the original gives NaN (not its poison): there it had no answer to match."""

    def __init__(self, want: dict[str, np.ndarray], got, scale: dict[str, float]):
        self.want, self.got, self.scale = want, got, scale

    def read(self, name: str, dtype: str) -> np.ndarray:
        want = self.want[name]
        out = np.array(want if self.got is None else self.got.read(name, dtype))
        if dtypes.is_float(dtype):
            if self.got is not None:
                with np.errstate(invalid="ignore"):
                    nan = np.isnan(want) & ~poison_mask(want, dtype)
                out[nan] = want[nan]
            s = self.scale.get(name, 1.0)
            if s != 1.0:
                keep = poison_mask(out, dtype)
                scaled = (out.astype(np.float64) / s).astype(out.dtype)
                scaled[keep] = out[keep]  # the poison stays recognisable
                out = scaled
        return out

    def digest(self, name: str) -> int | None:
        return None  # compared on the host, after the adjustments above

    def positions_of(self, name: str, dtype: str):
        where = getattr(self.got, "positions_of", None)
        return where(name, dtype) if where is not None else None


HOST_SECONDS_PER_GIB = 60.0
"""What a launch's deadline adds per GiB of its buffers: the checks after it (guards, inputs
read back and compared, outputs copied to the host and compared) run before the next stage
starts, and on a host whose fresh memory is slow to fault in (a microVM: ~5 s per 256 MiB
touched for the first time) they took 40 s at 1.25 GiB, past the 30 s limit of the 3 s launch
itself: an original that was not slow was reported as timed out."""


def _host_allowance(bufs) -> float:
    nbytes = getattr(bufs, "nbytes", None)
    return HOST_SECONDS_PER_GIB * sum(nbytes.values()) / 2**30 if isinstance(nbytes, dict) else 0.0


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


def _outputs(run, contract: Spec) -> dict[str, np.ndarray]:
    """A run's outputs on the host, as arrays nothing else writes: live Buffers' read into arrays
    of their own; a StoredRun's own arrays, read-only (nothing can alter them: a copy of 256 MiB
    cost 1.5 s on a host slow to fault in fresh memory)."""
    outs = [b for b in contract.buffers if b.role != "in"]
    if isinstance(run, Buffers):
        return {b.name: run.read_owned(b.name, b.dtype) for b in outs}
    if isinstance(run, StoredRun):
        return {b.name: run.read(b.name, b.dtype) for b in outs}
    return {b.name: np.array(run.read(b.name, b.dtype)) for b in outs}


class _HostArrays:
    """Host arrays reused, one per output buffer, for the candidate's outputs that are read,
    compared and dropped (`_compare`): on a host where fresh memory is slow to fault in (a
    microVM: ~5 s per 256 MiB touched the first time) a new array per read cost more than the
    comparison. Only the candidate's side reads into them: the original's outputs are never in
    memory a candidate's read can overwrite."""

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}

    def get(self, name: str, nbytes: int) -> np.ndarray:
        a = self._arrays.get(name)
        if a is None or a.size != nbytes:
            a = self._arrays[name] = np.empty(nbytes, dtype=np.uint8)
        return a


class _ReadInto:
    """A candidate's live Buffers as `_compare` reads them: large outputs into the evaluation's
    reused host arrays (valid until the next comparison)."""

    def __init__(self, bufs: Buffers, arrays: _HostArrays):
        self.bufs, self.arrays = bufs, arrays
        self.nbytes = bufs.nbytes

    def read(self, name: str, dtype: str) -> np.ndarray:
        if self.bufs.read_whole(name):
            return self.bufs.read(name, dtype)
        return self.bufs.read(name, dtype, into=self.arrays.get(name, self.bufs.nbytes[name]))

    def digest(self, name: str) -> int | None:
        return self.bufs.digest(name)

    def device_range(self, name: str):
        return self.bufs.device_range(name)


def _to_host(live: Buffers, contract: Spec) -> StoredRun:
    """The original's outputs copied to the host (with their device digests) and its buffers
    freed, before a candidate runs: nothing of the original is alive for it to read or write."""
    try:
        outs = [b for b in contract.buffers if b.role != "in"]
        return StoredRun({}, {b.name: live.read_owned(b.name, b.dtype) for b in outs},
                         {b.name: live.digest(b.name) for b in outs})
    finally:
        live.free()


def _length(rb, cb, b) -> int:
    """Output `b`'s length in scalars (a float4 is 4): from the candidate's live buffers'
    sizes, else from the original's outputs on the host, else read back."""
    sizes = getattr(cb, "nbytes", None)
    if isinstance(sizes, dict) and b.name in sizes:
        return sizes[b.name] // dtypes.numpy_dtype(b.dtype).itemsize
    for run in (rb, cb):
        outputs = getattr(run, "outputs", None)
        if isinstance(outputs, dict) and b.name in outputs:
            return int(np.asarray(outputs[b.name]).size)
    return int(cb.read(b.name, b.dtype).size)


def _plain_label(label: str) -> str:
    for tail in (" (derived)", " (above the default)", " (random)"):
        label = label.replace(tail, "")
    return label


def _names(buffers: list[str]) -> str:
    return ", ".join(f"`{b}`" for b in buffers)


def _outside_parameter(k: LaunchableKernel, env: Mapping[str, int | float]) -> tuple[str, str] | None:
    """The first integer scalar parameter whose value at this size its type cannot hold, and
    why in words; None when all fit. Passed on, the value would wrap (`int n` = 2^34 arrives
    as 0) and the original would be judged on a size nobody asked for."""
    for i, p in enumerate(k.unit.kernel.params):
        if p.is_pointer or p.name not in env:
            continue
        dt = dtypes.canonical(p.base_type) or dtypes.canonical(k.param_types.get(i, "") or "")
        value = env[p.name]
        if dt is None or "x" in dt or dtypes.is_float(dt) or dt == "bool" or isinstance(value, bool) \
                or not isinstance(value, (int, np.integer)):
            continue
        try:
            info = np.iinfo(dtypes.numpy_dtype(dt))
        except (KeyError, ValueError):
            continue
        if not int(info.min) <= value <= int(info.max):
            return p.name, (f"`{p.name}` = {value} does not fit the kernel's parameter `{p.type} {p.name}` "
                            f"({dt}: {int(info.min)}..{int(info.max)}); it would arrive wrapped")
    return None


def _size_line(contract: Spec, buffer: str) -> int | None:
    """The spec line a too-large default size points at: the first size variable the largest
    buffer's length uses (`@kf n = 1 << 34`), else that buffer's line."""
    b = contract.buffer(buffer)
    if b is None:
        return None
    try:
        from backends.kernel.expressions import names as expr_names

        used = expr_names(b.length)
    except ExprError:
        used = set()
    for v in contract.variables:
        if v.name in used:
            return v.line
    return b.line


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


def _bytes_moved(contract: Spec, env) -> int | None:
    """The bytes the problem moves: the original's `@kf bytes`, else every buffer once (inout
    twice). A candidate's own `@kf bytes` is not used: a kernel that claims to move 4 bytes would
    never be flagged above the peak bandwidth (red team, issue 19)."""
    expr = contract.bytes
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


def evaluate(session: DeviceSession, request: EvalRequest, report: Reporter | None = None,
             resumable: bool = False) -> tuple[EvalResult, bool]:
    """Evaluate in this process. Returns the result and whether the session is still usable.
    `resumable` (the pool's worker): an original that poisons the context at a size kf chose
    raises FreshWorkerNeeded, and the pool goes on in a fresh worker without that size;
    otherwise that is the original's failure here."""
    try:
        return Evaluation(session, request, report or (lambda what, seconds: None)).run()
    except FreshWorkerNeeded as e:
        if resumable:
            raise
        sizes = ", ".join(f"{k}={v}" for k, v in e.skip.sizes.items())
        message = (f"the original at the derived size {sizes}: {e.skip.reason}, which leaves the device unusable; "
                   "evaluated through a pool, kf skips that size and goes on in a fresh worker")
        return EvalResult(Verdict.REFERENCE_FAILED, message), False
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
        with ahead.quiet():  # timed copies: no compile ahead beside them (the value is kept on disk)
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
