"""The "tune" operator: searching a variant's `@kf tune` space, no LLM involved.

For each parent the engine selects, the operator reads the tunables the parent's own
region declares (an LLM-written variant may declare different ones: the region is
spliced into the reference file and its spec parsed), and proposes instantiations of
that region. Each region has its own space; points already evaluated are never proposed
again (the engine also deduplicates by content id).

Strategies (SearchConfig.tuning):
- "exhaustive": every point, the parent's own point's neighbours first.
- "random": uniform sampling without replacement (the baseline the others must beat).
- "coordinate" (used by "auto" when the space is larger than the remaining budget):
  greedy coordinate search from the best point so far: sweep one parameter at a time
  (values nearest the current one first), move to any improvement, and when a full
  round over every parameter brings nothing, restart from a random unseen point.
- "bayes": a small tree-structured Parzen estimator: after a few random points, score
  each unseen point by the ratio of per-parameter value densities among the good (top
  quarter) and the other evaluations, and take the highest.
- "auto": exhaustive when the space fits in the remaining evaluation budget, else
  coordinate.

Per-parameter results (value -> evaluations, best speedup, failures) are kept across
spaces; `summary()` renders them as text for prompts and reports.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
from dataclasses import dataclass, field
from typing import Sequence

from backends.kernel.scanner import KernelNotFound, find_kernel
from backends.kernel.splice import StaleKernel, splice
from backends.kernel.tunables import defaults

from .operators import Context, Proposal, Rejection
from .records import OperatorName, Variant

Number = int | float
Point = tuple[Number, ...]

STRATEGIES = ("auto", "exhaustive", "random", "coordinate", "bayes")


@dataclass
class ParamStat:
    evaluations: int = 0
    failures: int = 0
    best: float | None = None  # best verified speedup with this value
    verdicts: dict[str, int] = field(default_factory=dict)


@dataclass
class Space:
    """The tunable space of one region."""

    region: str
    names: list[str]
    values: list[list[Number]]
    start: Point  # the region's own (default) instantiation
    parent: str | None
    results: dict[Point, float | None] = field(default_factory=dict)  # None: failed
    pending: set[Point] = field(default_factory=set)
    # coordinate search state
    centre: Point | None = None
    basin: list[Point] = field(default_factory=list)
    axis: int = 0
    stale_axes: int = 0  # axes swept since the centre last moved

    @property
    def size(self) -> int:
        return math.prod(len(v) for v in self.values)

    def all_points(self) -> list[Point]:
        return list(itertools.product(*self.values))

    def seen(self, p: Point) -> bool:
        return p in self.results or p in self.pending

    def unseen(self) -> list[Point]:
        return [p for p in self.all_points() if not self.seen(p)]

    def best(self) -> tuple[Point, float] | None:
        ok = [(p, s) for p, s in self.results.items() if s is not None]
        return max(ok, key=lambda x: x[1]) if ok else None

    @property
    def exhausted(self) -> bool:
        return len(self.results) + len(self.pending) >= self.size


def _region_key(region: str) -> str:
    return hashlib.sha256(region.replace("\r\n", "\n").encode()).hexdigest()


def _ordered(values: list[Number], current: Number) -> list[Number]:
    """Values by distance (in list position) from the current one."""
    if current in values:
        i = values.index(current)
        return sorted(values, key=lambda v: (abs(values.index(v) - i), values.index(v)))
    return list(values)


class TuningOperator:
    name: OperatorName = "tune"

    def __init__(self, strategy: str = "auto", *, seed: int = 0):
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown tuning strategy {strategy!r} (one of {', '.join(STRATEGIES)})")
        self.strategy = strategy
        self.rng = random.Random(seed)
        self.spaces: dict[str, Space] = {}
        self.params: dict[str, dict[Number, ParamStat]] = {}
        self.remaining: int | None = None  # the engine sets the evaluations left before each propose
        self._observed: set[str] = set()
        self._figures: dict[str, Variant] = {}  # tune/reference variants by id: their latest figures
        self._pending_observations: dict[str, list[Variant]] = {}  # regions not parsed yet

    # -- the engine's hooks -----------------------------------------------------------

    def set_remaining(self, n: int | None) -> None:
        self.remaining = n

    def space_for(self, context: Context, parent: Variant) -> Space | Rejection | None:
        key = _region_key(parent.region)
        if key in self.spaces:
            return self.spaces[key]
        ref = context.reference
        try:
            text = splice(ref.text, ref.kernel, parent.region)
            kernel = find_kernel(text, ref.path, ref.kernel.name)
        except (StaleKernel, KernelNotFound) as e:
            return Rejection("tune", parent.id, f"cannot read the parent's tunables: {e}")
        if kernel.spec is None or not kernel.spec.tunables:
            self.spaces[key] = Space(parent.region, [], [], (), parent.id)
            return self.spaces[key]
        names = [t.name for t in kernel.spec.tunables]
        values = [list(dict.fromkeys(t.values)) for t in kernel.spec.tunables]
        base = {**defaults(text, kernel), **parent.tunables}
        start = tuple(base.get(n, v[0]) for n, v in zip(names, values))
        space = Space(parent.region, names, values, start, parent.id)
        self.spaces[key] = space
        # the parent itself is evaluated: its point is known
        space.results[start] = parent.speedup if parent.ok else None
        for v in self._pending_observations.pop(key, []):
            self._record(space, v)
        return space

    def observe(self, variant: Variant) -> None:
        """Every evaluated variant of this region (the engine replays stored ones on resume)."""
        if variant.id in self._observed or variant.result is None:
            return
        self._observed.add(variant.id)
        key = _region_key(variant.region)
        space = self.spaces.get(key)
        if space is None:
            self._pending_observations.setdefault(key, []).append(variant)
            if variant.operator == "tune" or variant.operator == "reference":
                self._stat(variant)
            return
        self._record(space, variant)
        if variant.operator in ("tune", "reference"):
            self._stat(variant)

    def _record(self, space: Space, v: Variant) -> None:
        if not space.names:
            return
        p = tuple(v.tunables.get(n, s) for n, s in zip(space.names, space.start))
        space.pending.discard(p)
        space.results[p] = v.speedup if v.ok else None

    def update(self, v: Variant) -> None:
        """A variant re-measured (the final re-time): its new figures replace the old ones in
        the per-parameter results and in its space, so the summary agrees with the report."""
        if v.operator not in ("tune", "reference") or v.id not in self._figures:
            return
        self._figures[v.id] = v
        space = self.spaces.get(_region_key(v.region))
        if space is not None:
            self._record(space, v)
        self._rebuild()

    def _rebuild(self) -> None:
        self.params = {}
        for v in self._figures.values():
            self._add(v)

    def _stat(self, v: Variant) -> None:
        self._figures[v.id] = v
        self._add(v)

    def _add(self, v: Variant) -> None:
        for name, value in v.tunables.items():
            st = self.params.setdefault(name, {}).setdefault(value, ParamStat())
            st.evaluations += 1
            if v.ok and v.speedup is not None:
                st.best = v.speedup if st.best is None else max(st.best, v.speedup)
            else:
                st.failures += 1
                st.verdicts[v.verdict.value] = st.verdicts.get(v.verdict.value, 0) + 1

    async def propose(self, context: Context, count: int) -> Sequence[Proposal | Rejection]:
        out: list[Proposal | Rejection] = []
        parents = list(context.parents) + [v for v in context.elites if v not in context.parents]
        if context.reference_variant is not None:
            parents.append(context.reference_variant)
        seen_regions: set[str] = set()
        for parent in parents:
            if len(out) >= count:
                break
            key = _region_key(parent.region)
            if key in seen_regions:
                continue
            seen_regions.add(key)
            space = self.space_for(context, parent)
            if isinstance(space, Rejection):
                out.append(space)
                continue
            if space is None or not space.names:
                continue
            for p in self._next(space, count - len(out)):
                space.pending.add(p)
                tun = dict(zip(space.names, p))
                note = ", ".join(f"{k}={v}" for k, v in tun.items())
                out.append(Proposal(region=space.region, tunables=tun, operator="tune",
                                    parent=parent.id, note=note))
        return out

    @property
    def exhausted(self) -> bool:
        return all(s.exhausted or not s.names for s in self.spaces.values())

    # -- strategies -------------------------------------------------------------------

    def strategy_for(self, space: Space) -> str:
        if self.strategy != "auto":
            return self.strategy
        left = len(space.unseen())
        if self.remaining is None or left <= self.remaining:
            return "exhaustive"
        return "coordinate"

    def _next(self, space: Space, k: int) -> list[Point]:
        return next_points(space, k, self.strategy_for(space), self.rng)

    # -- reporting --------------------------------------------------------------------

    def summary(self, best: Variant | None = None) -> str:
        """Per-parameter results, one line per tunable, for prompts and reports. Figures are
        each point's latest (re-timed where it was); `best`: the search's reported best, whose
        values the "-> best" tail names (so the summary and the final table agree)."""
        lines = []
        for name, values in self.params.items():
            parts = []
            for value in sorted(values, key=lambda x: (1, 0.0, x) if isinstance(x, str) else (0, float(x), "")):
                st = values[value]
                if st.best is not None:
                    s = f"{value}: best {st.best:.2f}x"
                    if st.failures:
                        s += f" ({st.failures} failed)"
                else:
                    verdicts = ", ".join(f"{k}" for k in st.verdicts)
                    s = f"{value}: failed ({verdicts})"
                parts.append(s)
            if best is not None and name in best.tunables:
                tail = f"  -> best {name}={best.tunables[name]} ({best.speedup:.2f}x, re-timed)"
            elif best is not None:
                tail = ""
            else:
                top = max(((v, s.best) for v, s in values.items() if s.best is not None),
                          key=lambda x: x[1], default=None)
                tail = f"  -> best {name}={top[0]}" if top else ""
            lines.append(f"{name}: " + "; ".join(parts) + tail)
        return "\n".join(lines)


def next_points(space: Space, k: int, strategy: str, rng: random.Random) -> list[Point]:
    """Up to k unseen points of `space` by `strategy` (pure function of the space's state
    and the random generator: the benchmark drives it without any engine)."""
    unseen = space.unseen()
    if not unseen or k <= 0:
        return []
    if strategy == "exhaustive":
        # nearest to the start first (sum of index distances), so a budget cut keeps the neighbourhood
        def dist(p: Point) -> int:
            return sum(abs(vals.index(x) - (vals.index(s) if s in vals else 0))
                       for x, s, vals in zip(p, space.start, space.values))
        return sorted(unseen, key=dist)[:k]
    if strategy == "random":
        return rng.sample(unseen, min(k, len(unseen)))
    if strategy == "bayes":
        return _tpe(space, unseen, k, rng)
    return _coordinate(space, k, rng)


def _coordinate(space: Space, k: int, rng: random.Random) -> list[Point]:
    """Greedy coordinate search around the best point of the current basin (the points
    proposed since the last restart); a random restart when no axis has anything left."""
    out: list[Point] = []
    if not space.basin:
        space.basin = [space.start]
    while len(out) < k:
        scored = [(p, space.results[p]) for p in space.basin if space.results.get(p) is not None]
        centre = max(scored, key=lambda x: x[1])[0] if scored else space.basin[0]
        if centre != space.centre:
            space.centre, space.stale_axes = centre, 0
        if space.stale_axes >= len(space.names):
            left = [p for p in space.unseen() if p not in out]
            if not left:
                break
            p = rng.choice(left)
            out.append(p)
            space.basin = [p]
            space.centre, space.stale_axes = p, 0
            continue
        i = space.axis % len(space.names)
        line = [centre[:i] + (v,) + centre[i + 1:] for v in _ordered(space.values[i], centre[i])]
        line = [p for p in line if not space.seen(p) and p not in out]
        if not line:
            space.axis += 1
            space.stale_axes += 1
            continue
        take = line[: k - len(out)]
        out.extend(take)
        space.basin.extend(take)
    return out


def _tpe(space: Space, unseen: list[Point], k: int, rng: random.Random) -> list[Point]:
    done = [(p, s) for p, s in space.results.items()]
    n_init = max(3, len(space.names) + 1)
    if len(done) < n_init:
        return rng.sample(unseen, min(k, len(unseen)))
    scored = sorted(done, key=lambda x: -(x[1] if x[1] is not None else -1.0))
    n_good = max(1, len(scored) // 4)
    good, bad = scored[:n_good], scored[n_good:]

    def density(group: list[tuple[Point, float | None]], i: int, value: Number) -> float:
        n = len(space.values[i])
        return (sum(1 for p, _ in group if p[i] == value) + 1.0 / n) / (len(group) + 1.0)

    def score(p: Point) -> float:
        return sum(math.log(density(good, i, v)) - math.log(density(bad, i, v)) for i, v in enumerate(p))

    ranked = sorted(unseen, key=lambda p: (-score(p), rng.random()))
    return ranked[:k]
