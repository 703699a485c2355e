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
import tempfile
import time
from pathlib import Path
from typing import Callable

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
from backends.judge.sizes import derived_sizes
from backends.judge.evidence import run_label
from backends.judge import compile_cache, device_checks, reference_cache
from backends.judge.verify import poison_mask

Reporter = Callable[[str, float], None]
"""report(what is happening now, seconds it may take): lets the pool name a hang."""

COMPILE_SECONDS = 180.0
LAUNCH_SECONDS = 60.0
TIMING_TAG = 0x7143  # tells the timed trials' input keys apart from the verification sets'
LARGE_OUTPUT_BYTES = 64 << 20  # outputs of at least this size: a timed trial not bit for bit the original's ...
SAMPLE_BLOCKS = 64  # ... is compared on this many blocks (the last one and others drawn in secret) ...
SAMPLE_BLOCK_BYTES = 64 << 10  # ... of this size, with the usual comparison (the whole output where they fail)
SPECIAL_VALUES = ("special input values (scaled magnitudes, zeros, subnormals, NaN and Inf where the spec's range "
                  "allows; `// @kf values ordinary` turns them off)")


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
        self.timing_note = ""  # how timing stopped and what of it was verified, for the verdict
        self.special_checked = False  # the special input values were compared (_special_values)

    # -- steps -----------------------------------------------------------------------

    def _compile(self, unit: Unit, role: str) -> LaunchableKernel:
        if unit.kernel.spec is None:
            raise EvalFailure(
                Verdict.SPEC_ERROR if role == "reference" else Verdict.CONTRACT,
                f"{unit.path}:{unit.kernel.name_range.start.line + 1}: kernel {unit.kernel.name} has no "
                f"`@kf` spec (run `kf spec {unit.path}:{unit.kernel.name}` for a draft)",
            )
        errors = _spec_errors(unit)
        if errors:
            raise EvalFailure(Verdict.SPEC_ERROR, f"{role}: {errors[0].format()}", errors)
        cu, values = compile_unit_for(unit, role)
        self.report(f"compiling the {role}", COMPILE_SECONDS)
        t = time.perf_counter()
        if role == "reference":  # compiled once per worker (compile_cache); candidates always afresh
            compiled = compile_cache.compile_original(self.session, cu)
            out, self.reference_key = compiled.kernel, compiled.key
        else:
            out = self.session.compile(cu)
        self.compile_seconds += time.perf_counter() - t
        if isinstance(out, CompileFailure):
            first = out.diagnostics[0].format() if out.diagnostics else out.log.strip().splitlines()[0:1]
            verdict = Verdict.COMPILE_ERROR if role == "candidate" else Verdict.REFERENCE_FAILED
            raise EvalFailure(verdict, f"{role} does not compile: {first}", list(out.diagnostics))
        self.diagnostics.extend(out.warnings)
        return LaunchableKernel(role, unit, unit.kernel.spec, out, values)

    def _launch(self, k: LaunchableKernel, bufs: Buffers, env, what: str, timed: bool = False) -> float:
        if timed or what == "warm-up" or what.startswith("timing"):
            what = run_label(self.at[0], -1, False) + f", {what}" if self.at else what
        grid, block, shared = k.launch_shape(env)
        args = bufs.args(k.unit.kernel.params, env)
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
        rtol, atol = dtypes.default_tolerance(b.dtype)
        rtol = contract.rtol if contract.rtol is not None else rtol
        atol = contract.atol if contract.atol is not None else atol
        return rtol, atol

    def _compare(self, rb: Buffers, cb: Buffers, contract: Spec, sizes, seed, what, derived: bool = False) -> CheckReport:
        worst: CheckReport | None = None
        max_abs = max_rel = 0.0
        nonfinite = 0
        for b in contract.buffers:
            if b.role == "in":
                continue
            rtol, atol = self._tolerance(contract, b)
            atol += original_checks.SPREAD_FACTOR * self.spread.get(b.name, 0.0)
            check = device_checks.compare(b.name, b.dtype, rb, cb, rtol, atol,  # by digest where it can
                                          poisoned=b.role == "out" and b.start is None)
            max_abs, max_rel = max(max_abs, check.max_abs_err), max(max_rel, check.max_rel_err)
            nonfinite += check.nonfinite_count
            if not check.ok and worst is None:
                worst = CheckReport(
                    sizes, seed, False, b.name, check.mismatches, check.mismatch_count,
                    check.max_abs_err, check.max_rel_err, f"{check.message} ({what})",
                    check.nonfinite_count, derived,
                )
                worst_verdict = check.verdict
        if worst is not None:
            self.checks.append(worst)
            raise EvalFailure(worst_verdict, worst.message)
        return CheckReport(sizes, seed, True, max_abs_err=max_abs, max_rel_err=max_rel, nonfinite_count=nonfinite,
                           derived=derived)

    def _original_checks(self, ref: LaunchableKernel, contract: Spec, env, inputs, rb, what: str,
                         store=None) -> None:
        """The original against its own spec (backends/judge/original.py): once per request,
        or once per compiled original while its outputs are reused (the store keeps what the
        checks found: the original's own spread and notes; a failure is never kept)."""
        if store is not None:
            found = store.checked.get(self.reference_key)
            if found is not None:
                self.spread, notes = dict(found[0]), list(found[1])
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

        first = {b.name: rb.read(b.name, b.dtype).copy() for b in contract.buffers if b.role != "in"}
        grid, block, shared = ref.launch_shape(env)
        found = original_checks.check_original(run, first, contract, lambda b: self._tolerance(contract, b), what,
                                               describe_shape(ref.language, grid, block, shared))
        self.spread = dict(found.spread)
        self.notes.extend(found.notes)
        if store is not None:
            store.checked[self.reference_key] = (dict(found.spread), list(found.notes))

    def _verify(self, ref: LaunchableKernel, cand: LaunchableKernel | None, contract: Spec) -> None:
        skipped: list[str] = []
        # the original's outputs on worker-secret inputs, reused across evaluations (reference_cache)
        store = reference_cache.store_for(self.session) if (
            self.reference_key and reference_cache.enabled()) else None
        epoch = store.begin(self.reference_key) if store is not None else 0
        for size_index, (label, overrides, derived) in enumerate(self._sizes(contract, ref.tunables)):
            try:
                env_r = ref.env(contract, overrides)
            except EvalFailure:
                if derived:
                    skipped.append(label.replace(" (derived)", ""))
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
                        inputs = InputSet(contract, env_r, (self.req.nonce, size_index, seed))
                        rb = self._run_checked(ref, contract, env_r, inputs, what)
                except EvalFailure as f:
                    if derived and f.verdict in (Verdict.REFERENCE_FAILED, Verdict.SPEC_ERROR, Verdict.LAUNCH_ERROR):
                        skipped.append(label.replace(" (derived)", ""))
                        break  # the original cannot run at a size kf chose: not the user's problem
                    raise
                try:
                    if size_index == 0 and seed == 0:
                        self._original_checks(ref, contract, env_r, inputs, rb, what, store)
                    if cand is None:
                        self.checks.append(CheckReport(int_sizes, seed, True, derived=derived))
                        continue
                    cb = self._run_checked(cand, contract, env_c, inputs, what)
                    try:
                        self.checks.append(self._compare(rb, cb, contract, int_sizes, seed, what, derived))
                    finally:
                        cb.free()
                finally:
                    rb.free()
        self.at = None
        if skipped:
            self.notes.append("derived size(s) " + "; ".join(skipped) + " skipped: the original cannot run there "
                              "(mark a size the kernel needs with `@kf fixed NAME`)")

    # -- timing (docs/evaluation.md, "Timing") ---------------------------------------------

    def _timing_key(self, trial: int) -> tuple[int, ...]:
        """The inputs of timed trial `trial`: from the worker's secret and the request's nonce,
        so neither the candidate's author nor the kernel can know them before they run."""
        return (SECRET, self.req.nonce, TIMING_TAG, trial)

    def _time(self, ref: LaunchableKernel, cand: LaunchableKernel | None, contract: Spec):
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
                self._guards(k, sets, "warm-up")
            large = sum(sets[0].nbytes[b.name] for b in contract.buffers if b.role != "in") >= LARGE_OUTPUT_BYTES
            samples: list[list[float]] = [[] for _ in kernels]
            poisoned: set[int] = set()  # sets whose outputs hold the poison since their last run
            start = time.perf_counter()
            trial, reason = 0, None
            while reason is None:
                inputs = InputSet(contract, env_r, self._timing_key(trial))
                for i in ([1, 0] if cand else [0]):  # the candidate first: the original has nothing of this trial yet
                    k, env = kernels[i]
                    b = sets[(i + trial) % len(sets)]
                    b.reload(inputs, snapshot=False, outputs=id(b) not in poisoned)
                    poisoned.discard(id(b))
                    self.session.flush_caches()
                    samples[i].append(self._launch(k, b, env, f"timing trial {trial}", timed=True))
                    self._guards(k, sets, f"timed trial {trial}")  # its own and the original's
                if cand is not None:
                    rb, cb = sets[trial % 2], sets[(trial + 1) % 2]
                    what = f"output of timed trial {trial}"
                    if large:
                        self._compare_large(rb, cb, contract, timed_sizes, what, secret)
                    else:
                        self._compare(rb, cb, contract, timed_sizes, -1, what)
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
                         + (" (where not bit for bit the original's, on a secret sample of "
                            f"{SAMPLE_BLOCKS} blocks)" if large else "") + ", each trial on new inputs")
            self.timing_note = note
            shapes = [k.launch_shape(env) for k, env in kernels]
            return timings, shapes, env_r
        finally:
            for b in sets:
                b.free()

    def _compare_large(self, rb: Buffers, cb: Buffers, contract: Spec, sizes: dict[str, int], what: str,
                       secret: random.Random) -> None:
        """A timed trial's large outputs: equal to the original's bit for bit (device digests), or
        else compared with the usual comparison on SAMPLE_BLOCKS blocks drawn in secret (the last
        block always: tails go wrong most); where the sample fails, on the whole output, so the
        verdict and its message are the ones the whole comparison gives."""
        outs = [b for b in contract.buffers if b.role != "in"]
        if all((d := rb.digest(b.name)) is not None and d == cb.digest(b.name) for b in outs):
            return
        blocks = {b.name: _sample_blocks(rb.nbytes[b.name], dtypes.itemsize(b.dtype) if b.dtype in dtypes.NUMPY
                                         else 16, secret) for b in outs}
        checks = len(self.checks)
        try:
            self._compare(_Sampled(rb, blocks), _Sampled(cb, blocks), contract, sizes, -1, what + ", sampled")
        except EvalFailure:
            del self.checks[checks:]
            self._compare(rb, cb, contract, sizes, -1, what)

    def _guards(self, k: LaunchableKernel, sets: list[Buffers], what: str) -> None:
        """After a run of `k`: the canary guards of every live buffer set. They were intact before it
        ran, so a damaged one is its doing, the original's buffers included (a candidate writing
        into them is the candidate's verdict, never the original's)."""
        for b in sets:
            oob = b.check_guards()
            if not oob:
                continue
            if k.role == "candidate":
                self.healthy = False
                raise EvalFailure(Verdict.OUT_OF_BOUNDS, f"candidate writes out of bounds of {oob[0]} ({what}): {oob[1]}")
            raise EvalFailure(Verdict.REFERENCE_FAILED,
                              f"the original kernel writes out of bounds of {oob[0]} ({what}): {oob[1]}")

    def _special_values(self, ref: LaunchableKernel, cand: LaunchableKernel, contract: Spec) -> None:
        """One input set of special values per evaluation (backends/judge/inputs.py, docs/spec.md),
        untimed, at the default size or, where its outputs are large, the largest `@kf check` size
        that is not: the original runs first, its outputs are copied to the host and its buffers
        freed, then the candidate runs and is judged against the original's own behaviour there
        (where the original gives NaN, any value passes; the absolute tolerance grows with the
        outputs' typical magnitude, measured on the original: the wide inputs scale them)."""
        overrides = _special_size(contract, ref)
        env_r = ref.env(contract, overrides)
        env_c = cand.env(contract, overrides)
        inputs = InputSet(contract, env_r, self._timing_key(-2), wide=True)
        if not inputs.has_specials:
            return
        sizes = {k: int(v) for k, v in env_r.items() if isinstance(v, int) and k not in ref.tunables}
        what = run_label(sizes, -2, False) + ", " + SPECIAL_VALUES
        self.at = (sizes, -2, False)
        outs = [b for b in contract.buffers if b.role != "in"]
        try:
            ordinary = self._run_checked(ref, contract, env_r, InputSet(contract, env_r, self._timing_key(-3)), what)
            typical = {b.name: _typical(ordinary.read(b.name, b.dtype), b.dtype) for b in outs}
            ordinary.free()
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
                w = np.array(rb.read(b.name, b.dtype))
                grown = _typical(w, b.dtype) / typical[b.name] if typical[b.name] > 0 else 1.0
                scale[b.name] = 2.0 ** math.ceil(math.log2(grown)) if grown > 1.0 and math.isfinite(grown) else 1.0
                want[b.name] = w
        finally:
            rb.free()  # the original's buffers are gone before the candidate runs
        cb = self._run_checked(cand, contract, env_c, inputs, what)
        try:
            self._compare(_Scaled(want, None, scale), _Scaled(want, cb, scale), contract, sizes, -2, what)
        finally:
            cb.free()
        self.special_checked = True
        self.at = None

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
            k.language, k.compiled, k.unit.text,
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
                       wall_seconds=time.perf_counter() - t0)
        return result, self.healthy

    def _run(self) -> EvalResult:
        req = self.req
        try:
            contract = req.reference.kernel.spec
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
            if cand is not None and values_mode(contract) != "ordinary":
                self._special_values(ref, cand, contract)
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


def _sample_blocks(nbytes: int, itemsize: int, secret: random.Random) -> list[tuple[int, int]]:
    """(offset, length) of the sampled blocks of a buffer: whole elements, the last block and others
    drawn in secret, in order, without overlap."""
    step = max(itemsize, SAMPLE_BLOCK_BYTES - SAMPLE_BLOCK_BYTES % itemsize)
    count = -(-nbytes // step)
    if count <= SAMPLE_BLOCKS:
        return [(0, nbytes)]
    picks = sorted(set(secret.sample(range(count - 1), SAMPLE_BLOCKS - 1)) | {count - 1})
    return [(i * step, min(step, nbytes - i * step)) for i in picks]


class _Sampled:
    """Some blocks of a buffer set's outputs, read to the host: what the comparison of a large
    timed trial sees (both sides the same blocks)."""

    def __init__(self, bufs: Buffers, blocks: dict[str, list[tuple[int, int]]]):
        self.bufs, self.blocks = bufs, blocks

    def read(self, name: str, dtype: str) -> np.ndarray:
        from backends.judge.verify import GUARD_BYTES

        buf = self.bufs.alloc[name]
        parts = [self.bufs.session.read(buf, GUARD_BYTES + off, n) for off, n in self.blocks[name]]
        return np.concatenate(parts).view(dtypes.numpy_dtype(dtype))

    def digest(self, name: str) -> int | None:
        return None


SPECIAL_MAX_BYTES = 4 << 20  # outputs larger than this take the special values at a `@kf check` size


def _special_size(contract: Spec, ref: LaunchableKernel) -> dict[str, str]:
    """The size of the special-values run: the default, or where its outputs exceed
    SPECIAL_MAX_BYTES the `@kf check` size with the largest outputs under it."""
    def out_bytes(overrides) -> int:
        try:
            env = ref.env(contract, overrides)
            return sum(n for name, n in buffer_sizes(contract, env).items()
                       if contract.buffer(name) and contract.buffer(name).role != "in")
        except EvalFailure:
            return -1
    if out_bytes({}) <= SPECIAL_MAX_BYTES:
        return {}
    fits = [(out_bytes(c.assignments), dict(c.assignments)) for c in contract.checks]
    fits = [f for f in fits if 0 < f[0] <= SPECIAL_MAX_BYTES]
    return max(fits, key=lambda f: f[0])[1] if fits else {}


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
