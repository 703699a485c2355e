"""The search: a reference kernel and a budget in, events and a database of variants out.

    search = Search(reference, pool, store, config, operators=[TuningOperator()], grid=DEFAULT_GRID,
                    backend="sycl", device=0, device_name="cpu: ...")
    finished = await search.run(emit)          # emit(event) is called for every event
    # or
    async for event in search.events(): ...    # the same events through a queue

`emit` is a plain (synchronous, non-blocking) callable; it is called from the event
loop for each EvaluationDone / NewElite / Progress / SearchError and exactly once with
Finished. Cancelling the task running `run()` emits Finished("cancelled") (with the best
found so far) and then lets the CancelledError through; every evaluation completed
before that is already committed to the store.

Flow: the reference is evaluated alone (stored as operator "reference", speedup 1.0, its
cell from its compiled features). Then generations: parents from the archive, proposals
from the operators (tuning first; others such as the llm share the batch after the
first generation), each proposal's region spliced into the reference file, the kernel
found again and checked (spec errors -> SearchError with file and line; a changed
contract -> stored as a failed variant), evaluated against the reference through the
pool (at most pool.size at once), stored as it completes, offered to the archive.
Budgets: evaluations, wall time, tokens (operators with `tokens_used`), patience
(generations without a new best). At the end the top few elites are re-timed against
the reference with a longer timing budget and new inputs; only those still
significantly faster are reported (Finished.best, Store.finals).

Resume: a new Search with the same reference file, kernel, backend and device has the
same SearchKey; it replays the stored variants (archive, operators) and never evaluates
a stored id again.
"""

from __future__ import annotations

import asyncio
import inspect
import random
import time
from typing import AsyncIterator, Callable, Sequence

import msgspec

from backends.judge import ahead as compile_ahead
from backends.model import EvalOptions, EvalRequest, EvalResult, Unit, Verdict
from backends.kernel.pyref import is_stub
from backends.kernel.scanner import KernelNotFound, find_kernel
from backends.kernel.spec import check_contract
from backends.kernel.splice import StaleKernel, region_text, splice
from backends.kernel.tunables import defaults

from .archive import Archive, accepts
from .descriptors import launch_features
from .claims import (block_of, claims_faster, combine, control_copy_text, control_min_effect, default_min_effect,
                     measured_noise, needs_control, with_blocks)
from .operators import Context, Operator, Proposal, Rejection
from .records import (Attempt, EvaluationDone, Event, Finished, NewElite, Progress, SearchConfig, SearchError,
                      Variant)
from .store import LEASE_SECONDS, Store, owner_id, search_key, variant_id

AHEAD = 2  # candidates of a batch passed with each request, for the worker to compile ahead

__all__ = ["Search", "reference_variant_id"]

Emit = Callable[[Event], object]


def reference_variant_id(reference: Unit) -> str:
    return variant_id(region_text(reference.text, reference.kernel),
                      {**defaults(reference.text, reference.kernel), **reference.tunables})


class _Stop(Exception):
    def __init__(self, reason: str):
        self.reason = reason


def search_options(options: EvalOptions | None, config: SearchConfig) -> EvalOptions:
    """The evaluation options of a search: the caller's (else the config's timing budget), with
    the original's preamble kept precompiled, as a search compiles many variants over it
    (EvalOptions.precompile)."""
    return msgspec.structs.replace(options or EvalOptions(target_seconds=config.eval_seconds), precompile=True)


class Search:
    def __init__(
        self,
        reference: Unit,
        pool,
        store: Store,
        config: SearchConfig = SearchConfig(),
        operators: Sequence[Operator] | None = None,
        grid=None,
        *,
        backend: str | None = None,
        device: int = 0,
        device_name: str | None = None,
        retime: int = 3,
        retime_seconds: float | None = None,
        options: EvalOptions | None = None,
    ):
        from .tuning import TuningOperator

        self.reference = reference
        # a stub (no code yet) with a Python reference: the LLM writes the first kernel, and the
        # first correct one becomes the baseline that speedups are measured against
        spec = reference.kernel.spec
        self.stub = bool(spec is not None and spec.reference is not None and is_stub(reference.text, reference.kernel))
        self.stub_unit = reference
        self.baseline: Variant | None = None
        self.pool = pool
        self.store = store
        self.config = config
        self.operators: list[Operator] = list(operators) if operators is not None else \
            [TuningOperator(config.tuning, seed=config.seed)]
        self.grid = grid
        self.backend = backend or getattr(pool, "backend", None) or reference.kernel.language
        self.device = device
        self.language = reference.kernel.language
        self.key = search_key(reference.path, reference.kernel.name, reference.kernel.code_hash,
                              self.backend, device_name or f"{self.backend}:{device}")
        self.retime = retime
        self.retime_seconds = retime_seconds if retime_seconds is not None else max(1.0, 4 * config.eval_seconds)
        self.options = search_options(options, config)
        dims = grid.grid_dims() if grid is not None else [1]
        self.archive = Archive(dims, neighbours=grid.neighbours if grid is not None else None,
                               exploit=config.exploit, explore=config.explore, seed=config.seed)
        self.rng = random.Random(config.seed)
        self.variants: dict[str, Variant] = {}
        self.reference_variant: Variant | None = None
        self.failures: list[Variant] = []
        self.done = 0  # evaluations (candidates) in the store for this search
        self.generation = 0
        self.generation_count = 0  # generations run by this Search object (not resumed ones)
        self.since_best = 0
        self.finals: list[Variant] = []
        self._emit: Emit = lambda e: None
        self._started = 0.0
        self._inflight: set[str] = set()
        self.owner = owner_id()  # this process, for leases and claims in the store
        self.already_tried: list[str] = []  # known proposals fed back to the operators
        self.known = 0  # proposals that were already known (recorded as attempts)
        self.rejected = 0  # replies rejected before evaluation, repeats included (this run)
        self.unanswered = 0  # LLM requests that got no reply (the endpoint failed or could not be reached)
        self.confirmations = 0  # second looks run (not counted as evaluations)
        self.evaluated_here = 0  # evaluations this process ran (others on the same search run theirs)
        self.final_reference: Variant | None = None  # the original as measured in the final re-time
        self.note = ""
        self._seq = 0  # the last store row this process has seen (others' work is read after it)
        self._heartbeat_task: asyncio.Future | None = None
        self._opened = False
        self._final_min_effect: float | None = None
        self._control_min_effect: float | None = None  # what an identical copy measured (evolver/claims.py)
        self.control: tuple[float, float, float] | None = None  # its (point, low, high) in the final re-time
        self._resumed_done = -1  # evaluations in the store when it was resumed

    # -- public -----------------------------------------------------------------------

    @property
    def budget(self) -> int:
        return self.config.budget.evaluations

    @property
    def best(self) -> Variant | None:
        return self.archive.best

    def describe_cell(self, cell: list[int] | None) -> str:
        if cell is None:
            return ""
        if self.grid is None:
            return "-"
        try:
            return self.grid.describe_cell(cell)
        except ValueError:
            return str(cell)

    def axes(self) -> list[str]:
        return [a.name for a in getattr(self.grid, "axes", [])] if self.grid is not None else []

    async def events(self) -> AsyncIterator[Event]:
        """The events of `run()` as an async iterator (ends after Finished)."""
        queue: asyncio.Queue = asyncio.Queue()
        task = asyncio.ensure_future(self.run(queue.put_nowait))
        try:
            while True:
                get = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({get, task}, return_when=asyncio.FIRST_COMPLETED)
                if get in done:
                    event = get.result()
                    yield event
                    if isinstance(event, Finished):
                        break
                else:
                    get.cancel()
                    while not queue.empty():
                        yield queue.get_nowait()
                    task.result()  # raises what run() raised
                    break
        finally:
            if not task.done():
                task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, Exception):
                    pass

    async def run(self, emit: Emit | None = None) -> Finished:
        self._emit = emit or (lambda e: None)
        self._started = time.monotonic()
        try:
            try:
                reason = await self._run()
            except _Stop as s:
                reason = s.reason
            if reason == "error":
                self._release("error")
                fin = Finished("error", None, self.done)
                self._send(fin)
                return fin
            best = await self._retime_top()
            self._release(reason)
            fin = Finished(reason, best, self.done, self.min_effect(), self.note)
            self._send(fin)
            return fin
        except asyncio.CancelledError:
            # an interrupt at any point (also while re-timing): the search is not left "running",
            # and the consumer gets the best so far (confirmed figures only)
            self._release("cancelled")
            self._send(Finished("cancelled", self.best if self._improved(self.best) else None, self.done,
                                self.min_effect(), "interrupted: the best so far (not re-timed)"))
            raise
        finally:
            self._stop_heartbeat()

    def min_effect(self) -> float:
        """The smallest effect claimed as "faster": the configured one, else the noise this
        search measured between independent blocks (evolver/claims.py)."""
        if self.config.min_effect is not None:
            return max(0.0, float(self.config.min_effect), self._control_min_effect or 0.0)
        if self._final_min_effect is not None:
            return self._final_min_effect
        groups = [v.blocks for v in self.variants.values() if len(v.blocks) >= 2]
        groups += [v.blocks for v in self.finals if len(v.blocks) >= 2]
        return default_min_effect(measured_noise(groups))

    # -- internals --------------------------------------------------------------------

    def _send(self, event: Event) -> None:
        try:
            r = self._emit(event)
            if inspect.isawaitable(r):
                asyncio.ensure_future(r)
        except Exception:  # a consumer's bug must not kill the search
            pass

    def _release(self, status: str) -> None:
        self._stop_heartbeat()
        if self._opened:
            try:
                self.store.release(self.key.id, status, self.owner)
            except Exception:  # the database going away must not hide the result
                pass

    def _stop_heartbeat(self) -> None:
        if self._heartbeat_task is not None:
            self._heartbeat_task.cancel()
            self._heartbeat_task = None

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(LEASE_SECONDS / 6)
            try:
                self.store.heartbeat(self.key.id, self.owner)
            except Exception:
                pass

    def _progress(self, message: str) -> None:
        b = self.best
        self._send(Progress(self.done, self.budget, b.speedup if b else None, message))

    @staticmethod
    def _improved(v: Variant | None) -> bool:
        return v is not None and v.operator != "reference" and v.significant

    def _resume(self) -> None:
        stored = self.store.variants(self.key.id)
        by_id = {v.id: v for v in stored}
        for v in stored:
            self.variants[v.id] = v
            if v.operator == "reference":
                self.reference_variant = v
            parent = by_id.get(v.parent) if v.parent else None
            self.archive.consider(v, parent)
            if not v.ok:
                self.failures.append(v)
            for op in self.operators:
                if op.name == v.operator or (op.name == "tune" and v.operator == "reference"):
                    op.observe(v)
        finals = self.store.finals(self.key.id)
        if finals:
            # the last final re-time is the search's claim: the resumed archive reports its best
            # and figures, as the run that re-timed did (replaying the stored variants alone
            # elects the first one whose interval clears the best so far, not the re-time's best)
            self.finals = finals
            self.final_reference = self.store.final_reference(self.key.id)
            best = next((v for v in finals if v.ok and v.significant), None)
            self.archive.remeasured(finals, best, self.reference_variant)
        if self.stub and self.baseline is None:
            self._resume_baseline(by_id)
        self.done = self.store.count(self.key.id)
        self._resumed_done = self.done
        self.generation = max((v.generation for v in stored), default=0)
        self._seq = self.store.last_seq(self.key.id)
        self.known = sum(a.count for a in self.store.attempts(self.key.id, "known"))

    def _refresh(self) -> None:
        """Take in what other processes on the same search stored since we last looked (they
        share the work through claims: a point one of them evaluates is not evaluated here)."""
        for seq, v in self.store.variants_after(self.key.id, self._seq):
            self._seq = max(self._seq, seq)
            if v.id in self.variants:
                continue
            self.variants[v.id] = v
            parent = self.variants.get(v.parent) if v.parent else None
            if v.ok and v.operator != "reference":
                self._admit(v, parent, stored=False)
            elif not v.ok:
                self.failures.append(v)
            self._observe(v.operator, v)
        self.done = self.store.count(self.key.id)

    def _check_reference(self) -> None:
        k = self.reference.kernel
        errors = [d for d in k.spec_errors if d.severity == "error"]
        if errors:
            d = errors[0]
            self._send(SearchError(d.message, d.file, d.line))
            raise _Stop("error")
        if k.spec is None:
            self._send(SearchError(f"kernel {k.name} has no `// @kf` spec", self.reference.path,
                                   k.name_range.start.line))
            raise _Stop("error")
        if self.stub and not any(op.name == "llm" for op in self.operators):
            self._send(SearchError(f"kernel {k.name} is a stub (no code yet): writing a first kernel from its Python "
                                   "reference needs the LLM operator (configure an LLM endpoint and model)",
                                   self.reference.path, k.name_range.start.line))
            raise _Stop("error")

    async def _run(self) -> str:
        self._check_reference()
        self.store.open_search(self.key, self.config)
        self.store.heartbeat(self.key.id, self.owner)
        self._opened = True
        self._heartbeat_task = asyncio.ensure_future(self._heartbeat())
        self._resume()
        if self.reference_variant is None:
            rid = reference_variant_id(self.reference)
            while not self.store.claim(self.key.id, rid, self.owner):  # another process measures it now
                stored = self.store.variant(self.key.id, rid)
                if stored is not None:
                    self._resume()
                    break
                self._progress("waiting for another process evaluating the original kernel")
                await asyncio.sleep(0.5)
        if self.reference_variant is None and self.store.variant(self.key.id, reference_variant_id(self.reference)) is None:
            self._progress("evaluating the original kernel")
            try:
                await self._evaluate_reference()
            finally:
                self.store.unclaim(self.key.id, reference_variant_id(self.reference), self.owner)
        if self.reference_variant is None or not self.reference_variant.ok:
            return "error"
        idle = 0  # generations in a row with nothing new to evaluate
        while True:
            self._refresh()
            reason = self._stop_reason()
            if reason:
                return reason
            self.generation += 1
            self.generation_count += 1
            proposals = await self._propose()
            fresh: list[Proposal] = []
            for p in proposals:
                if isinstance(p, Rejection):
                    if p.reply:
                        self._reject(p)
                    else:  # the endpoint failed: no reply to reject
                        self.unanswered += 1
                    continue
                vid = variant_id(p.region, p.tunables)
                if vid in self.variants or vid in self._inflight or any(
                        variant_id(q.region, q.tunables) == vid for q in fresh):
                    self._known(p, vid)
                    continue
                fresh.append(p)
            if self.stub and self.baseline is None and proposals and \
                    all(isinstance(p, Rejection) and not p.reply for p in proposals):
                k = self.reference.kernel  # only the LLM can write the first kernel, and it cannot be reached
                self._send(SearchError(f"{proposals[0].reason}: no first kernel can be written for the stub "
                                       f"{k.name} without it (check --llm-base-url and --model)",
                                       self.reference.path, k.name_range.start.line))
                return "error"
            if not fresh:
                # nothing at all to propose: exhausted now; only known or rejected proposals: the
                # operators are asked again (with what was tried fed back), a bounded number of times
                idle += 1
                if not proposals or idle > max(0, self.config.ask_again):
                    return "exhausted"
                self._progress(f"only known or rejected proposals: asking again ({idle}/{self.config.ask_again})")
                continue
            idle = 0
            best_before = self.best.id if self.best else None
            await self._evaluate_batch(fresh)
            if self.best is not None and self.best.id != best_before:
                self.since_best = 0
            else:
                self.since_best += 1

    def _stop_reason(self) -> str | None:
        b = self.config.budget
        if self.done >= b.evaluations:
            return "budget"
        if b.wall_seconds is not None and time.monotonic() - self._started >= b.wall_seconds:
            return "time"
        token_budget = b.tokens if b.tokens is not None else self.config.llm.token_budget
        if token_budget is not None and self._tokens() >= token_budget:
            return "tokens"
        if b.patience is not None and self.since_best >= b.patience:
            return "patience"
        return None

    def _tokens(self) -> int:
        total = 0
        for op in self.operators:
            t = getattr(op, "tokens_used", None)
            if callable(t):
                t = t()
            if isinstance(t, (int, float)):
                total += int(t)
        return total

    def _context(self, parents: list[Variant]) -> Context:
        return Context(
            reference=self.reference,
            reference_variant=self.reference_variant,
            elites=self.archive.elites(),
            parents=parents,
            recent_failures=self.failures[-8:],
            empty_cells=self.archive.empty_neighbours([p.cell for p in parents if p.cell is not None]),
            good_moves=self.archive.good_moves(),
            axes=self.axes(),
            device=self.key.device,
            prompts=self.store.prompts(self.key.id),
            generation=self.generation,
            already_tried=list(self.already_tried[-8:]),
        )

    async def _propose(self) -> list[Proposal | Rejection]:
        batch = max(1, self.config.batch)
        left = self.config.budget.evaluations - self.done
        batch = min(batch, max(1, left))
        parents = self.archive.select_parents(batch)
        context = self._context(parents)
        out: list[Proposal | Rejection] = []
        ops = list(self.operators)
        for i, op in enumerate(ops):
            if hasattr(op, "set_remaining"):
                op.set_remaining(left)
            want = batch - len([p for p in out if isinstance(p, Proposal)])
            if want <= 0:
                break
            later = [o for o in ops[i + 1:]]
            if op.name == "tune" and later and self.generation > 1:
                want = max(1, want // 2)  # share the batch with the llm after the first round
            self._progress(f"asking {op.name} for {want} proposal{'s' if want != 1 else ''}")
            try:
                got = await op.propose(context, want)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # an operator's bug: reported, the search goes on
                self._send(SearchError(f"operator {op.name} failed: {type(e).__name__}: {e}"))
                continue
            out.extend(got)
        self._save_prompts()
        self._save_evolutions()
        return out

    def _save_evolutions(self) -> None:
        """Prompt-evolution rounds and their outcomes (also the ones that changed nothing)."""
        for op in self.operators:
            log = getattr(op, "evolution_log", None)
            if not isinstance(log, list):
                continue
            while log:
                a = log.pop(0)
                try:
                    self.store.put_attempt(self.key.id, a)
                except Exception:
                    pass

    def _known(self, p: Proposal, vid: str) -> None:
        """A proposal of something already evaluated (or in flight, or twice in one batch):
        recorded with a count, fed back in the next context, and shown to its operator."""
        self.known += 1
        known = self.variants.get(vid)
        what = p.note or (", ".join(f"{k}={v}" for k, v in p.tunables.items()) or p.operator)
        if known is None:
            outcome = "being evaluated"
        elif known.ok and known.speedup is not None:
            outcome = f"{known.speedup:.2f}x" + (" (the original)" if known.operator == "reference" else "")
        else:
            outcome = known.verdict.value
        line = f"{what} -> {outcome}"
        try:
            self.store.put_attempt(self.key.id, Attempt("known", p.operator, line, key=vid))
        except Exception:
            pass
        if line in self.already_tried:
            self.already_tried.remove(line)
        self.already_tried.append(line)
        del self.already_tried[:-16]
        if known is not None:
            self._observe(p.operator, known)

    def _save_prompts(self) -> None:
        for op in self.operators:
            prompts = getattr(op, "prompts", None)  # a list, or a method returning one
            if callable(prompts):
                try:
                    prompts = prompts()
                except Exception:
                    prompts = None
            if isinstance(prompts, list):
                for p in prompts:
                    try:
                        self.store.put_prompt(self.key.id, p)
                    except Exception:
                        pass

    def _observe(self, operator: str, v: Variant) -> None:
        for op in self.operators:
            if op.name == operator:
                try:
                    op.observe(v)
                except Exception as e:
                    self._send(SearchError(f"operator {op.name} failed to observe: {e}"))

    def _reject(self, r: Rejection) -> None:
        """A rejected reply: stored once per distinct (operator, reason, reply); a repeat
        bumps its count instead of adding a row."""
        now = time.time()
        vid = "rejected-" + variant_id(r.operator + "\0" + r.reason + "\0" + r.raw, {})[:40]
        v = Variant(id=vid, search=self.key.id, parent=r.parent, operator=r.operator, region="",
                    tunables={}, verdict=r.verdict, message=r.reason, prompt=r.prompt,
                    generation=self.generation, created=now)
        v = self.store.put_rejection(v)
        self.rejected += 1
        self.variants[vid] = v
        if not any(f.id == vid for f in self.failures):
            self.failures.append(v)
        self._observe(r.operator, v)

    def _candidate(self, p: Proposal, report: bool = True) -> Unit | Variant:
        """The spliced candidate Unit, or a failed Variant saying why it cannot be evaluated
        (`report`: a spec error is also sent to the client)."""
        ref = self.reference

        def fail(verdict: Verdict, message: str) -> Variant:
            return Variant(id=variant_id(p.region, p.tunables), search=self.key.id, parent=p.parent,
                           operator=p.operator, region=p.region, tunables=dict(p.tunables), verdict=verdict,
                           message=message, prompt=p.prompt, generation=self.generation, created=time.time(),
                           result=EvalResult(verdict, message))
        try:
            text = splice(ref.text, ref.kernel, p.region)
            kernel = find_kernel(text, ref.path, ref.kernel.name)
        except (StaleKernel, KernelNotFound) as e:
            return fail(Verdict.CONTRACT, str(e))
        problems = check_contract(ref.kernel, kernel)  # first: a renamed parameter also breaks the spec
        if problems:
            return fail(Verdict.CONTRACT, "; ".join(problems))
        errors = [d for d in kernel.spec_errors if d.severity == "error"]
        if errors:
            d = errors[0]
            if report:
                self._send(SearchError(f"{p.operator} variant: {d.message}", d.file, d.line))
            return fail(Verdict.SPEC_ERROR, d.format())
        return Unit(path=ref.path, text=text, kernel=kernel, tunables=dict(p.tunables),
                    include_dirs=list(ref.include_dirs), flags=list(ref.flags), flags_source=ref.flags_source)

    def _cell(self, result: EvalResult, which: str = "candidate") -> tuple[list[int] | None, dict[str, float]]:
        m = getattr(result, which)
        features = dict(m.profile.features) if m is not None and m.profile is not None else {}
        features.update(launch_features(m.profile if m is not None else None))
        if self.grid is None:
            return [0], features
        try:
            return list(self.grid.cell_of(features, self.language)), features
        except Exception:
            return [0] * len(self.archive.dims), features

    def _nonce(self) -> int:
        return self.rng.randrange(1, 2**31 - 1) ^ (time.time_ns() & 0x7FFFFFFF)

    async def _evaluate_reference(self) -> None:
        ref = self.reference
        follow = self.config.budget.evaluations > 1 and compile_ahead.enabled(self.backend)
        req = EvalRequest(ref, None, self.backend, self.device, self.options, nonce=self._nonce(),
                          ahead=[] if follow else None)  # []: candidates follow, to compile ahead
        result = await self.pool.evaluate(req)
        tun = {**defaults(ref.text, ref.kernel), **ref.tunables}
        cell, features = self._cell(result, "reference") if result.ok else (None, {})
        t = result.reference.timing if result.reference else None
        v = Variant(id=reference_variant_id(ref), search=self.key.id, parent=None, operator="reference",
                    region=region_text(ref.text, ref.kernel), tunables=tun, verdict=result.verdict,
                    message=result.message, speedup=1.0 if result.ok else None,
                    speedup_low=1.0 if result.ok else None, speedup_high=1.0 if result.ok else None,
                    significant=False, time_median=t.median if t else None, cell=cell, descriptors=features,
                    generation=0, created=time.time(), result=result)
        self.store.put_variant(v)
        self.variants[v.id] = v
        if not result.ok:
            d = result.diagnostics[0] if result.diagnostics else None
            self._send(SearchError(f"the original kernel did not run cleanly: {result.verdict.value}: "
                                   f"{result.message}", d.file if d else ref.path,
                                   d.line if d else ref.kernel.name_range.start.line))
            return
        self.reference_variant = v
        self._send(EvaluationDone(v, self.done, self.budget))
        if self.stub:  # nothing to measure or tune yet: the LLM writes the first kernel
            self._progress(f"no original kernel ({ref.kernel.name} is a stub): the LLM writes a first kernel from "
                           "the Python reference; the first correct one becomes the baseline for speedups")
            return
        self._admit(v, None)
        self._observe("tune", v)

    def _admit(self, v: Variant, parent: Variant | None, *, stored: bool = True) -> None:
        decision = self.archive.consider(v, parent)
        if decision.accepted and v.cell is not None:
            if stored:
                self.store.put_elite(self.key.id, v.cell, v.id, v.speedup)
            self._send(NewElite(v, list(v.cell), decision.previous, decision.best))

    async def _evaluate_batch(self, proposals: list[Proposal]) -> None:
        size = max(1, getattr(self.pool, "size", 1))
        sem = asyncio.Semaphore(size)
        left = self.config.budget.evaluations - self.done

        todo = proposals[:max(0, left)]
        units: dict[int, Unit | None] = {}  # built when first passed ahead, once each
        wanted = compile_ahead.enabled(self.backend)

        def ahead_of(i: int) -> list[Unit] | None:
            """The candidates this worker is likeliest to get next (with N workers, every Nth of
            the batch), for it to compile ahead (backends/judge/ahead.py); None where no compile
            ahead is made for this backend."""
            if not wanted:
                return None
            out: list[Unit] = []
            for j in range(i + size, len(todo), size):
                if j not in units:
                    units[j] = self._ahead_unit(todo[j])
                if units[j] is not None:
                    out.append(units[j])
                if len(out) == AHEAD:
                    break
            return out

        async def one(i: int, p: Proposal) -> None:
            async with sem:
                if self._stop_reason() in ("time", "budget", "tokens"):
                    return
                await self._evaluate(p, ahead_of(i))

        tasks = [asyncio.ensure_future(one(i, p)) for i, p in enumerate(todo)]
        try:
            await asyncio.gather(*tasks)
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise

    def _ahead_unit(self, p: Proposal) -> Unit | None:
        """The candidate Unit of `p` if it is new and sound, to compile ahead (nothing reported)."""
        vid = variant_id(p.region, p.tunables)
        if vid in self.variants or vid in self._inflight:
            return None
        try:
            unit = self._candidate(p, report=False)  # its evaluation reports what is wrong with it
        except Exception:
            return None
        return unit if isinstance(unit, Unit) else None

    async def _evaluate(self, p: Proposal, ahead: list[Unit] | None = None) -> None:
        vid = variant_id(p.region, p.tunables)
        if vid in self.variants or vid in self._inflight:
            return
        stored = self.store.variant(self.key.id, vid)  # another process may have evaluated it
        if stored is not None:
            self.variants[vid] = stored
            self._observe(p.operator, stored)
            return
        if not self.store.claim(self.key.id, vid, self.owner):  # another live process evaluates it now
            self._known(p, vid)
            return
        self._inflight.add(vid)
        try:
            cand = self._candidate(p)
            parent = self.variants.get(p.parent) if p.parent else None
            if isinstance(cand, Variant):
                v = cand
            else:
                self._progress(f"evaluating {p.note or p.operator} ({p.operator})")
                req = EvalRequest(self.reference, cand, self.backend, self.device, self.options,
                                  nonce=self._nonce(), ahead=ahead)  # []: more follow; None: no compile ahead
                result = await self.pool.evaluate(req)
                v = self._variant(p, vid, result)
                if self._claims_advantage(v, parent):
                    v = await self._confirm(v, p, cand)
            if self.stub and self.baseline is None and v.ok and isinstance(cand, Unit):
                v = self._promote(v, cand)
            self.store.put_variant(v)  # committed: a kill from here on loses nothing
            self.variants[vid] = v
            if v.result is not None:
                self.evaluated_here += 1
                self.done = max(self.done + 1, self.store.count(self.key.id))
            if not v.ok:
                self.failures.append(v)
                self.failures = self.failures[-32:]
            self._send(EvaluationDone(v, self.done, self.budget))
            self._admit(v, parent)
            self._observe(p.operator, v)
            self._progress(f"{p.note or p.operator}: " + (f"{v.speedup:.2f}x" if v.ok and v.speedup
                                                          else v.verdict.value))
        finally:
            self._inflight.discard(vid)
            try:
                self.store.unclaim(self.key.id, vid, self.owner)
            except Exception:
                pass

    # -- starting from a stub ---------------------------------------------------------

    def _with_reference_line(self, region: str) -> str:
        """A region that dropped the stub's `@kf reference` line gets it back: the baseline keeps the oracle."""
        if "@kf reference" in region:
            return region
        ref = self.stub_unit.kernel.spec.reference
        line = self.stub_unit.text.splitlines()[ref.line]
        lines = region.splitlines(keepends=True)
        at = next((i for i, x in enumerate(lines) if "@kf" in x), 0)
        return "".join(lines[:at]) + line.rstrip("\n") + "\n" + "".join(lines[at:])

    def _promote(self, v: Variant, unit: Unit) -> Variant:
        """The first correct kernel written from a stub becomes the baseline: later candidates
        are measured against it (speedups relative to it), the Python reference stays the oracle."""
        if unit.kernel.spec is not None and unit.kernel.spec.reference is None:
            region = self._with_reference_line(region_text(unit.text, unit.kernel))
            try:
                text = splice(self.stub_unit.text, self.stub_unit.kernel, region)
                unit = msgspec.structs.replace(unit, text=text, kernel=find_kernel(text, unit.path, unit.kernel.name))
            except (StaleKernel, KernelNotFound):
                pass
        v = msgspec.structs.replace(
            v, speedup=1.0, speedup_low=1.0, speedup_high=1.0, significant=False,
            message=f"baseline: the first correct kernel, written from the stub (no original: speedups are relative "
                    f"to it); {v.message}")
        self.baseline = v
        self.reference = unit
        self.reference_variant = v
        try:
            self.store.put_attempt(self.key.id, Attempt("baseline", v.operator, f"the first correct kernel {v.id[:10]}",
                                                        key=v.id, outcome="baseline for speedups"))
        except Exception:
            pass
        self._progress(f"no original kernel: the first correct kernel ({v.operator}, variant {v.id[:10]}) is now the "
                       "baseline; speedups are relative to it")
        return v

    def _resume_baseline(self, by_id: dict[str, Variant]) -> None:
        for a in self.store.attempts(self.key.id, "baseline"):
            v = by_id.get(a.key)
            if v is None:
                continue
            cand = self._candidate(Proposal(region=v.region, tunables=v.tunables, operator=v.operator, parent=v.parent))
            if isinstance(cand, Unit):
                self._promote(v, cand)
            return

    def _claims_advantage(self, v: Variant, parent: Variant | None) -> bool:
        """Whether this first measurement would be used as an advantage: it would become the
        best, displace its cell's elite, or raise its prompt's fitness over its parent."""
        if not self.config.confirm or not v.ok or not v.significant or v.speedup is None or v.cell is None:
            return False
        if v.speedup < 1.0 + self.min_effect():
            return False
        if accepts(v, self.best)[0]:
            return True
        incumbent = self.archive.elite(v.cell)
        if incumbent is not None and accepts(v, incumbent)[0]:
            return True
        return v.operator == "llm" and parent is not None and parent.speedup is not None \
            and v.speedup > parent.speedup

    async def _confirm(self, v: Variant, p: Proposal, cand: Unit) -> Variant:
        """The second look: the same candidate evaluated again (new inputs, later in time).
        Its figures become the combined ones of both blocks; a wrong second run fails it."""
        self._progress(f"confirming {p.note or p.operator}: {v.speedup:.2f}x on a second measurement")
        # the second look times for the whole budget: no early stop on noise (a claim rests on it)
        options = msgspec.structs.replace(self.options, noise_target=0.0)
        result = await self.pool.evaluate(EvalRequest(self.reference, cand, self.backend, self.device,
                                                      options, nonce=self._nonce()))
        self.confirmations += 1
        if not result.ok:  # verified once, wrong or broken the second time: a failure
            return self._variant(p, v.id, result)
        block = block_of(result, "confirm")
        blocks = list(v.blocks) + ([block] if block is not None else [])
        combined = with_blocks(v, blocks, self.min_effect())
        return msgspec.structs.replace(combined, confirmed=combined.significant)

    def _variant(self, p: Proposal, vid: str, result: EvalResult) -> Variant:
        cell, features = self._cell(result) if result.ok else (None, {})
        t = result.candidate.timing if result.candidate else None
        block = block_of(result, "search") if result.ok else None
        return Variant(id=vid, search=self.key.id, parent=p.parent, operator=p.operator, region=p.region,
                       tunables=dict(p.tunables), verdict=result.verdict, message=result.message,
                       speedup=result.speedup if result.ok else None,
                       speedup_low=result.speedup_low if result.ok else None,
                       speedup_high=result.speedup_high if result.ok else None,
                       significant=bool(result.significant and result.ok),
                       time_median=t.median if t else None, cell=cell, descriptors=features,
                       prompt=p.prompt, generation=self.generation, created=time.time(), result=result,
                       blocks=[block] if block is not None else [])

    async def _retime_top(self) -> Variant | None:
        """The final claim: the original and the top variants measured together, in
        `final_blocks` interleaved blocks (each block evaluates every one of them against the
        original on new inputs, in a rotated order). Every figure reported afterwards (rows,
        the original's time, elites, the tuning summary, the history) comes from these blocks."""
        self._refresh()
        if self.retime <= 0 and self.finals and self.evaluated_here == 0 and self.done == self._resumed_done:
            # no re-time asked and nothing evaluated since the stored one: it still holds
            return next((v for v in self.finals if v.ok and v.significant), None)
        elite_ids = {v.id for v in self.archive.elites()}
        pool = [v for v in self.variants.values()
                if v.ok and v.operator != "reference" and v.speedup is not None and v.speedup > 1.0]
        # the fastest correct variants of the whole search (not only elites: within one cell a
        # lucky short measurement may hide a variant nearly as fast), elites first on ties
        pool.sort(key=lambda v: (-(v.speedup or 0.0), v.id not in elite_ids))
        top = pool[: self.retime]
        best = self.best
        if self._improved(best) and best is not None and top and best.id not in {v.id for v in top}:
            # the confirmed best is always among the re-timed
            top = top[:-1] + [best] if len(top) >= self.retime else top + [best]
        if not top:
            self.store.put_finals(self.key.id, [])
            return None
        options = msgspec.structs.replace(self.options, target_seconds=self.retime_seconds, noise_target=0.0)
        units: dict[str, Unit] = {}
        for v in top:
            cand = self._candidate(Proposal(region=v.region, tunables=v.tunables, operator=v.operator,
                                            parent=v.parent))
            if not isinstance(cand, Variant):
                units[v.id] = cand
        top = [v for v in top if v.id in units]
        if not top:
            self.store.put_finals(self.key.id, [])
            return None
        blocks_of: dict[str, list] = {v.id: [] for v in top}
        failed: dict[str, Variant] = {}
        ref_times: list[float] = []
        nblocks = max(1, self.config.final_blocks)
        for b in range(nblocks):
            order = top[b % len(top):] + top[:b % len(top)]
            if b % 2:
                order = order[::-1]
            for i, v in enumerate(order):
                if v.id in failed:
                    continue
                self._progress(f"re-timing the original and the top {len(top)}: block {b + 1}/{nblocks}, "
                               f"{i + 1}/{len(order)} ({self.retime_seconds:g}s each)")
                # the first block also runs each finalist under compute-sanitizer (CUDA): nothing is
                # offered as best or applied with a race, an uninitialised read or a stray access it finds
                opts = msgspec.structs.replace(options, sanitize=True) if b == 0 else options
                result = await self.pool.evaluate(EvalRequest(self.reference, units[v.id], self.backend,
                                                              self.device, opts, nonce=self._nonce()))
                block = block_of(result, "final")
                if block is None:
                    p = Proposal(region=v.region, tunables=v.tunables, operator=v.operator, parent=v.parent)
                    failed[v.id] = msgspec.structs.replace(self._variant(p, v.id, result), cell=v.cell,
                                                           generation=v.generation, prompt=v.prompt)
                    continue
                blocks_of[v.id].append(block)
                if block.reference_median is not None:
                    ref_times.append(block.reference_median)
        finals: list[Variant] = []
        # the noise of this re-time: the spread between its blocks
        groups = [bl for bl in blocks_of.values() if len(bl) >= 2]
        noise = measured_noise(groups)
        min_effect = self.config.min_effect if self.config.min_effect is not None else \
            default_min_effect(max(noise or 0.0, measured_noise(
                [v.blocks for v in self.variants.values() if len(v.blocks) >= 2]) or 0.0))
        if any(needs_control(*combine(blocks_of[v.id])[:2], min_effect) for v in top
               if v.id not in failed and blocks_of[v.id]):
            control = await self._control_blocks(nblocks, options)
            if control:
                self.control = combine(control)
                min_effect = control_min_effect(min_effect, control)
                self._control_min_effect = min_effect
        for v in top:
            if v.id in failed:
                finals.append(failed[v.id])
                continue
            bl = blocks_of[v.id]
            times = sorted(x.candidate_median for x in bl if x.candidate_median is not None)
            point, low, high = combine(bl)
            f = msgspec.structs.replace(
                v, blocks=[*v.blocks, *bl], speedup=point, speedup_low=low, speedup_high=high,
                significant=claims_faster(point, low, min_effect), confirmed=claims_faster(point, low, min_effect),
                time_median=times[len(times) // 2] if times else v.time_median,
                message=f"re-timed in {len(bl)} blocks")
            finals.append(f)
        finals.sort(key=lambda v: (not v.significant, not v.ok, -(v.speedup or 0.0)))
        ref = self.reference_variant
        if ref is not None and ref_times:
            ref_times.sort()
            ref = msgspec.structs.replace(ref, time_median=ref_times[len(ref_times) // 2],
                                          message=f"re-timed with the top {len(top)} ({len(ref_times)} measurements)")
        self.final_reference = ref
        self._final_min_effect = min_effect
        self.finals = finals
        self._apply_finals(finals)
        self.store.put_finals(self.key.id, finals, ref)
        best = next((v for v in finals if v.ok and v.significant), None)
        self.note = self._final_note(finals, best, min_effect)
        if self.control is not None:
            point, low, high = self.control
            self.note = "; ".join(x for x in (self.note, (
                f"an identical copy of the original measured {point:.2f}x [{low:.2f}-{high:.2f}] in this re-time: "
                f"a claim must clear that (min effect {min_effect * 100:.0f}%)")) if x)
        return best

    async def _control_blocks(self, nblocks: int, options: EvalOptions) -> list:
        """The control of a small claim: the original against a recompiled, unchanged copy of
        itself, in as many blocks as the re-time, measured the same way (evolver/claims.py)."""
        ref = self.reference
        copy = msgspec.structs.replace(ref, text=control_copy_text(ref.text))
        blocks = []
        for b in range(nblocks):
            self._progress(f"re-timing an identical copy of the original (control of a small claim): block "
                           f"{b + 1}/{nblocks} ({self.retime_seconds:g}s)")
            result = await self.pool.evaluate(EvalRequest(ref, copy, self.backend, self.device, options,
                                                          nonce=self._nonce()))
            block = block_of(result, "control")
            if block is None:  # the copy must measure like the original; if it cannot, nothing is known
                return []
            blocks.append(block)
        return blocks

    def _apply_finals(self, finals: list[Variant]) -> None:
        """Re-measured figures replace the search's figures everywhere: the stored variants,
        the elites (the final best holds its cell), the tuning operator's summary."""
        best = next((v for v in finals if v.ok and v.significant), None)
        for f in finals:
            self.variants[f.id] = f
            try:
                self.store.update_variant(f)
            except Exception:
                pass
            for op in self.operators:
                update = getattr(op, "update", None)
                if callable(update):
                    try:
                        update(f)
                    except Exception:
                        pass
        cells = self.archive.remeasured(finals, best, self.reference_variant)
        for cell, v in cells.items():
            if v is None:
                self.store.delete_elite(self.key.id, list(cell))
            else:
                self.store.put_elite(self.key.id, list(cell), v.id, v.speedup)

    @staticmethod
    def _final_note(finals: list[Variant], best: Variant | None, min_effect: float) -> str:
        ok = [v for v in finals if v.ok and v.speedup is not None]
        if best is None:
            if ok and ok[0].speedup and ok[0].speedup > 1.0:
                v = max(ok, key=lambda x: x.speedup or 0.0)
                return (f"the fastest variant measured {v.speedup:.2f}x [{v.speedup_low:.2f}-{v.speedup_high:.2f}] "
                        f"over the re-time blocks: within the noise (min effect {min_effect * 100:.0f}%)")
            return ""
        close = [v for v in ok if v.id != best.id and v.speedup_high is not None and best.speedup_low is not None
                 and v.speedup_high >= best.speedup_low and v.significant]
        if close:
            names = "; ".join(", ".join(f"{k}={x}" for k, x in v.tunables.items()) or v.operator for v in close)
            return f"within noise of the best: {names} (their intervals overlap)"
        return ""
