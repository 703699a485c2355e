"""Multi-target evaluation: one candidate measured on several kinds of hardware.

A MultiResult keeps every target's EvalResult (its verdict, speedup and checks) and a
combined judgement for the search:
  - correctness is the worst of the targets': a candidate wrong on one target is wrong
    (the failing verdict of the lowest stage, VERDICT_STAGE; ties: the first target);
  - speed is the geometric mean of the per-target speedups (why: docs/remote.md).
`MultiTargetPool` has the Pool interface and returns the combined EvalResult, so a search
runs unchanged on several targets; `evaluate_multi` gives the full MultiResult.
"""

from __future__ import annotations

import asyncio
import math
import threading
from typing import Any, Mapping, Sequence

import msgspec

from backends.model import VERDICT_STAGE, EvalRequest, EvalResult, Verdict


def geometric_mean(values: Sequence[float]) -> float | None:
    if not values or any(v is None or not v > 0 or not math.isfinite(v) for v in values):
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))


class MultiResult(msgspec.Struct, frozen=True):
    """Per-target results (target label -> EvalResult, in the order given) and their
    combination."""

    results: dict[str, EvalResult]
    verdict: Verdict  # CORRECT only when every target is correct; else the worst target's verdict
    worst_target: str | None = None  # the target whose verdict was taken (None when all are correct)
    speedup: float | None = None  # geometric mean of the per-target speedups (all targets correct)
    speedup_low: float | None = None  # geometric mean of the per-target 95% lower bounds
    speedup_high: float | None = None
    significant: bool = False  # all correct and speedup_low > 1
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.CORRECT

    @property
    def speedups(self) -> dict[str, float | None]:
        return {t: r.speedup for t, r in self.results.items()}

    def fitness(self) -> tuple[int, float]:
        """What the search maximizes: (stage of the combined verdict, geometric-mean speedup).
        Tuples compare stage first: any correct candidate beats any failing one."""
        return VERDICT_STAGE[self.verdict], self.speedup or 0.0

    def combined(self) -> EvalResult:
        """One EvalResult carrying the combined verdict and speedups, for callers that take
        one (the search). Details (checks, diagnostics, timings) are the worst target's
        when one failed, else the first target's; the message names every target."""
        base = self.results[self.worst_target] if self.worst_target else next(iter(self.results.values()))
        return msgspec.structs.replace(base, verdict=self.verdict, message=self.message, speedup=self.speedup,
                                       speedup_low=self.speedup_low, speedup_high=self.speedup_high,
                                       significant=self.significant)


def _fmt(x: float | None) -> str:
    return "?" if x is None else f"{x:.2f}x"


def combine(results: Mapping[str, EvalResult]) -> MultiResult:
    if not results:
        raise ValueError("combine: no targets")
    results = dict(results)
    failing = [(VERDICT_STAGE[r.verdict], i, t) for i, (t, r) in enumerate(results.items())
               if r.verdict is not Verdict.CORRECT]
    if failing:
        _, _, worst = min(failing)
        bad = results[worst]
        per = "; ".join(f"{t}: {r.verdict.value}" for t, r in results.items())
        return MultiResult(results, bad.verdict, worst, message=f"{bad.verdict.value} on {worst}: {bad.message} ({per})")
    speedup = geometric_mean([r.speedup for r in results.values()])
    low = geometric_mean([r.speedup_low for r in results.values()])
    high = geometric_mean([r.speedup_high for r in results.values()])
    if len(results) == 1:
        significant = next(iter(results.values())).significant
    else:
        significant = low is not None and low > 1.0
    per = ", ".join(f"{t} {_fmt(r.speedup)}" for t, r in results.items())
    if speedup is None:
        message = f"correct on {len(results)} targets ({per})"
    else:
        message = (f"correct on {len(results)} targets; {_fmt(speedup)} geometric mean "
                   f"(95% CI of each target, combined {_fmt(low)}-{_fmt(high)}): {per}"
                   + ("" if significant else "; not significantly faster"))
    return MultiResult(results, Verdict.CORRECT, None, speedup, low, high, significant, message)


def _backend_of(target: str, default: str) -> str:
    head = target.split("-", 1)[0]
    return head if head in ("cuda", "sycl") else default


async def evaluate_multi(pools: Mapping[str, Any], request: EvalRequest) -> MultiResult:
    """Evaluate `request` on every target at once. `pools`: target label -> a Pool bound to
    that hardware (a local EvalPool, RemotePool.for_target(tag), ...)."""
    labels = list(pools)

    async def one(label: str) -> EvalResult:
        pool = pools[label]
        backend = getattr(pool, "backend", None) or _backend_of(label, request.backend)
        try:
            return await pool.evaluate(msgspec.structs.replace(request, backend=backend))
        except asyncio.CancelledError:
            raise
        except Exception as e:  # NoMatchingWorker and the like: this target cannot judge it
            return EvalResult(Verdict.INTERNAL, f"{label}: {type(e).__name__}: {e}")

    results = await asyncio.gather(*(one(t) for t in labels))
    return combine(dict(zip(labels, results)))


class MultiTargetPool:
    """The Pool interface over several targets: each evaluation runs on all of them and the
    combined EvalResult comes back (MultiResult.combined). `last` keeps the latest
    MultiResult per request nonce for callers that want per-target detail."""

    def __init__(self, pools: Mapping[str, Any], owns: bool = True):
        if not pools:
            raise ValueError("MultiTargetPool needs at least one target")
        self.pools = dict(pools)
        self.owns = owns
        self.backend = next(iter(self.pools.values())).backend
        self.last: dict[int, MultiResult] = {}

    @classmethod
    def remote(cls, remote_pool: Any, targets: Sequence[str]) -> "MultiTargetPool":
        """Targets on one Dask cluster, sharing `remote_pool`'s connection (which stays the
        caller's to close)."""
        return cls({t: remote_pool.for_target(t) for t in targets}, owns=False)

    @property
    def size(self) -> int:
        return max(1, min(p.size for p in self.pools.values()))

    async def evaluate_multi(self, request: EvalRequest) -> MultiResult:
        multi = await evaluate_multi(self.pools, request)
        self.last[request.nonce] = multi
        if len(self.last) > 256:
            self.last.pop(next(iter(self.last)))
        return multi

    async def evaluate(self, request: EvalRequest) -> EvalResult:
        return (await self.evaluate_multi(request)).combined()

    def evaluate_sync(self, request: EvalRequest, cancel: threading.Event | None = None) -> EvalResult:
        return asyncio.run(self.evaluate(request))

    def close(self) -> None:
        if self.owns:
            for p in self.pools.values():
                p.close()

    def __enter__(self) -> "MultiTargetPool":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
