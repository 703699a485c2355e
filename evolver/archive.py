"""MAP-Elites archive over descriptor cells (pyribs GridArchive underneath).

Each cell of the descriptor grid keeps one elite: the fastest verified variant whose
compiled code lands in that cell. Fitness is the variant's speedup over the reference,
measured in the same evaluation as the reference (alternating trials cancel drift
between evaluations, so speedups from different evaluations are comparable where raw
times are not).

Acceptance rule (noise-aware). A candidate becomes its cell's elite only when
  1. it is CORRECT (verified against the original on fresh inputs) and has a cell and a
     speedup; failures are never elites (they stay in the store with their verdict and
     stage, for feedback), and
  2. the cell is empty, or its lower 95% confidence bound beats the incumbent's point
     estimate: ``new.speedup_low > incumbent.speedup``.
A 2% "win" inside the noise therefore never displaces an incumbent. The same rule
decides the best overall (the reference, speedup 1.0, is the first best), so the best
only moves on a significant improvement and is always significantly faster than the
reference unless it is the reference itself.

pyribs (0.12) stores the elites: object solutions hold the variant ids, the measures are
the cell centres, the objective is the speedup. Its own insertion rule (objective above
the incumbent's) is implied by ours (``speedup >= speedup_low > incumbent.speedup``), so
we decide first and only then add; pyribs never sees a candidate we reject.

Parent selection: with probability ``exploit`` an elite among the best cells, with
``explore`` an elite whose neighbouring cells are empty or rarely tried, else uniform.
Moves between cells (parent cell -> child cell) are remembered with their gain
(child speedup / parent speedup - 1); ``good_moves()`` lists the ones that helped, for
the operators (Context.good_moves).
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from typing import Callable, Iterable, Sequence

import msgspec
import numpy as np

from .records import Variant

Cell = tuple[int, ...]


class Decision(msgspec.Struct, frozen=True):
    accepted: bool
    reason: str  # why (not): "new cell", "beats 1.20x (low 1.31x)", "not significant: ..."
    previous: str | None = None  # the elite it replaced
    best: bool = False  # the best overall now


def accepts(new: Variant, incumbent: Variant | None) -> tuple[bool, str]:
    """The acceptance rule on its own (documented in the module docstring)."""
    if not new.ok:
        return False, f"not correct ({new.verdict.value})"
    if new.speedup is None or not math.isfinite(new.speedup) or new.cell is None:
        return False, "no speedup or cell"
    if incumbent is None:
        return True, "new cell"
    low = new.speedup_low if new.speedup_low is not None else -math.inf
    inc = incumbent.speedup or 0.0
    if low > inc:
        return True, f"beats {inc:.3f}x (low {low:.3f}x)"
    return False, f"not significantly faster than {inc:.3f}x (low {low:.3f}x)"


class Archive:
    def __init__(
        self,
        dims: Sequence[int],
        *,
        neighbours: Callable[[list[int]], Iterable[Sequence[int]]] | None = None,
        exploit: float = 0.7,
        explore: float = 0.2,
        seed: int = 0,
    ):
        from ribs.archives import GridArchive  # imported here: pyribs takes ~1.5 s to import

        self.dims = [int(d) for d in dims] or [1]
        self._ribs = GridArchive(
            solution_dim=(),
            dims=self.dims,
            ranges=[(0.0, float(d)) for d in self.dims],
            solution_dtype=object,
            extra_fields={"speedup_low": ((), np.float64)},
        )
        self._neighbours = neighbours
        self.exploit, self.explore = exploit, explore
        self.rng = random.Random(seed)
        self.variants: dict[str, Variant] = {}  # every elite ever held (by id)
        self._cells: dict[Cell, str] = {}  # cell -> elite id
        self.tried: dict[Cell, int] = defaultdict(int)  # correct candidates that landed there
        self.best: Variant | None = None
        self._moves: dict[tuple[Cell, Cell], list[float]] = defaultdict(list)

    # -- cells ------------------------------------------------------------------------

    def _cell(self, cell: Sequence[int]) -> Cell:
        c = tuple(int(x) for x in cell)
        if len(c) != len(self.dims):  # a grid of another shape: clamp into ours
            c = (c + (0,) * len(self.dims))[: len(self.dims)]
        return tuple(min(max(x, 0), d - 1) for x, d in zip(c, self.dims))

    def neighbours(self, cell: Sequence[int]) -> list[Cell]:
        if self._neighbours is not None:
            return [self._cell(n) for n in self._neighbours(list(cell))]
        out = []
        for i, d in enumerate(self.dims):
            for step in (-1, 1):
                n = list(cell)
                n[i] += step
                if 0 <= n[i] < d:
                    out.append(tuple(n))
        return out

    def elite(self, cell: Sequence[int]) -> Variant | None:
        vid = self._cells.get(self._cell(cell))
        return self.variants.get(vid) if vid else None

    def elites(self) -> list[Variant]:
        """Current elites, best (highest speedup) first."""
        return sorted((self.variants[v] for v in self._cells.values()),
                      key=lambda v: -(v.speedup or 0.0))

    def cells(self) -> dict[Cell, Variant]:
        return {c: self.variants[v] for c, v in self._cells.items()}

    def __len__(self) -> int:
        return len(self._cells)

    @property
    def coverage(self) -> float:
        return float(self._ribs.stats.coverage)

    # -- insertion --------------------------------------------------------------------

    def consider(self, variant: Variant, parent: Variant | None = None) -> Decision:
        """Offer an evaluated variant; returns whether it became its cell's elite."""
        if variant.ok and variant.cell is not None and variant.speedup is not None:
            cell = self._cell(variant.cell)
            self.tried[cell] += 1
            if parent is not None and parent.cell is not None and parent.speedup:
                gain = variant.speedup / parent.speedup - 1.0
                self._moves[(self._cell(parent.cell), cell)].append(gain)
        incumbent = self.elite(variant.cell) if variant.cell is not None else None
        ok, reason = accepts(variant, incumbent)
        if not ok:
            return Decision(False, reason)
        cell = self._cell(variant.cell)  # type: ignore[arg-type]
        measures = [c + 0.5 for c in cell]
        low = variant.speedup_low if variant.speedup_low is not None else variant.speedup
        self._ribs.add_single(variant.id, float(variant.speedup), measures, speedup_low=float(low))
        self.variants[variant.id] = variant
        self._cells[cell] = variant.id
        best_ok, _ = accepts(variant, self.best)
        if best_ok:
            self.best = variant
        return Decision(True, reason, incumbent.id if incumbent else None, best_ok)

    def remeasured(self, finals: Sequence[Variant], best: Variant | None,
                   reference: Variant | None = None) -> dict[Cell, Variant | None]:
        """Take in the final re-time's figures: an elite that was re-measured gets its new
        figures (None for its cell: it failed on the re-time and is dropped), the final best
        holds its own cell and is the best overall (the reference when nothing was claimed).
        Returns the cells that changed, for the store."""
        changed: dict[Cell, Variant | None] = {}
        for f in finals:
            if not f.ok:
                for cell, vid in list(self._cells.items()):
                    if vid == f.id:
                        del self._cells[cell]
                        changed[cell] = None
                continue
            if f.cell is None:
                continue
            cell = self._cell(f.cell)
            if self._cells.get(cell) == f.id:
                self.variants[f.id] = f
                changed[cell] = f
        if best is not None and best.cell is not None:
            cell = self._cell(best.cell)
            self._cells[cell] = best.id
            self.variants[best.id] = best
            changed[cell] = best
            self.best = best
        elif reference is not None and reference.id in self.variants:
            self.best = self.variants[reference.id]
        return changed

    # -- selection --------------------------------------------------------------------

    def _unexplored(self, cell: Cell) -> float:
        """How open a cell's surroundings are: empty neighbours count 1, tried ones less."""
        score = 0.0
        for n in self.neighbours(cell):
            score += 1.0 if n not in self._cells else 1.0 / (1.0 + self.tried[n])
        return score

    def select_parents(self, count: int) -> list[Variant]:
        elites = self.elites()
        if not elites:
            return []
        out: list[Variant] = []
        top = elites[: max(1, min(3, math.ceil(len(elites) / 4)))]
        for _ in range(count):
            r = self.rng.random()
            if r < self.exploit:
                # best cells, rank-weighted (the best twice as likely as the next)
                weights = [2.0 ** -i for i in range(len(top))]
                out.append(self.rng.choices(top, weights)[0])
            elif r < self.exploit + self.explore:
                weights = [self._unexplored(self._cell(v.cell)) + 1e-3 for v in elites]  # type: ignore[arg-type]
                out.append(self.rng.choices(elites, weights)[0])
            else:
                out.append(self.rng.choice(elites))
        return out

    def empty_neighbours(self, cells: Iterable[Sequence[int]]) -> list[list[int]]:
        seen: set[Cell] = set()
        out: list[list[int]] = []
        for c in cells:
            for n in self.neighbours(self._cell(c)):
                if n not in self._cells and n not in seen:
                    seen.add(n)
                    out.append(list(n))
        return out

    def good_moves(self, limit: int = 8) -> list[tuple[list[int], list[int], float]]:
        """Cell-to-cell moves whose children were faster on average, best first."""
        moves = [(list(a), list(b), sum(g) / len(g)) for (a, b), g in self._moves.items()
                 if a != b and g and sum(g) / len(g) > 0]
        moves.sort(key=lambda m: -m[2])
        return moves[:limit]


def best_history(variants: list[Variant], finals: list[Variant] | None = None) -> list[dict[str, float]]:
    """The best claimed speedup after each evaluation, in the order they were evaluated:
    [{"evaluation": 0, "best": 1.0}, ...], the reference being evaluation 0. Only correct
    variants whose claim held (confirmed on a second measurement or re-timed: the stored
    figures are the latest) move it; rejections (never evaluated) do not count. With
    `finals` (the final re-time) the last entry is the reported result, marked "final"."""
    history: list[dict[str, float]] = []
    best, n = 1.0, 0
    for v in variants:
        if v.operator == "reference":
            history.append({"evaluation": 0, "best": 1.0})
            continue
        if v.result is None:
            continue
        n += 1
        held = v.confirmed or (not v.blocks and v.significant)  # a record from before confirmations
        if v.ok and v.significant and held and v.speedup and v.speedup > best:
            best = v.speedup
            history.append({"evaluation": n, "best": best})
    if finals is not None:
        claimed = next((v for v in finals if v.ok and v.significant), None)
        history.append({"evaluation": n, "best": claimed.speedup if claimed and claimed.speedup else 1.0,
                        "final": 1.0})
    elif history and history[-1]["evaluation"] != n:
        history.append({"evaluation": n, "best": best})
    return history
