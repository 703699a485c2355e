"""When a speedup may be claimed: the rule that turns independent measurements into one figure.

One evaluation measures the reference and a candidate with alternating trials; its
bootstrap interval describes the noise *inside* that measurement. On a shared machine
the drift *between* measurements is larger (identical code measured twice minutes apart:
1.94x [1.94-1.96] and 2.15x [2.13-2.16]). So a figure that matters (a new best, an elite
over an incumbent, a prompt's fitness, the final claim) rests on several independent
measurements ("blocks": each its own evaluation, new inputs, its own place in time), and:

- the point estimate is the lower median of the blocks' speedups (with two blocks the
  smaller one: a claim is never larger than its weaker look; with three the median);
- the interval spans every block's interval, [min low, max high], so it covers the spread
  between blocks as well as within each;
- "faster" is claimed only when that interval is above 1 and the point is at least
  1 + min_effect. The default min_effect is the noise this search measured: the median,
  over the variants measured more than once, of how far a block strays from the others
  (sqrt(max/min) - 1 of their figures), clamped to [2%, 10%], so a "1.01x" on a machine
  that drifts by 3% is not a claim.
- a claim below 1 + MIN_EFFECT_CAP must also clear what identical code measures: the final
  re-time then measures a recompiled, unchanged copy of the original against the original
  the same way (the "control"), and the minimum effect is raised to the control's upper
  end above 1. Independent blocks cancel noise, not a bias they all share (the order of the
  two kernels in a trial, where the runtime put each binary): an A/A search once claimed
  1.04x [1.01-1.07] in both of its blocks.

Pure functions of plain data; the engine (evolver/engine.py) applies them and
docs/search.md states the rule for users.
"""

from __future__ import annotations

import math
from typing import Iterable, Sequence

import msgspec

from backends.judge.stats import MIN_EFFECT_FLOOR, claims_faster
from backends.model import EvalResult

from .records import Block, Variant

__all__ = ["MIN_EFFECT_FLOOR", "MIN_EFFECT_CAP", "block_of", "combine", "between_block_spread", "measured_noise",
           "default_min_effect", "claims_faster", "with_blocks", "needs_control", "control_min_effect",
           "control_copy_text"]

MIN_EFFECT_CAP = 0.10  # the measured noise sets the default up to 10%; wider drift shows in the interval


def block_of(result: EvalResult, stage: str) -> Block | None:
    """The block an evaluation gives (None when it has no speedup)."""
    if not result.ok or result.speedup is None:
        return None
    s = float(result.speedup)
    low = float(result.speedup_low) if result.speedup_low is not None else s
    high = float(result.speedup_high) if result.speedup_high is not None else s
    rt = result.reference.timing if result.reference else None
    ct = result.candidate.timing if result.candidate else None
    return Block(stage, s, low, high, rt.median if rt else None, ct.median if ct else None)


def combine(blocks: Sequence[Block]) -> tuple[float, float, float]:
    """(point, low, high) of several blocks: lower median; the span of every interval."""
    if not blocks:
        raise ValueError("no blocks")
    speeds = sorted(b.speedup for b in blocks)
    point = speeds[(len(speeds) - 1) // 2]
    low = min(min(b.low, b.speedup) for b in blocks)
    high = max(max(b.high, b.speedup) for b in blocks)
    return point, low, high


def between_block_spread(blocks: Sequence[Block]) -> float | None:
    """How far a block's figure strays from the others: sqrt(max/min) - 1 over the blocks'
    point estimates (half the range, on a log scale; None for < 2 blocks)."""
    speeds = [b.speedup for b in blocks if b.speedup > 0 and math.isfinite(b.speedup)]
    if len(speeds) < 2:
        return None
    return math.sqrt(max(speeds) / min(speeds)) - 1.0


def measured_noise(groups: Iterable[Sequence[Block]]) -> float | None:
    """The median between-block spread over every variant measured more than once."""
    spreads = sorted(s for s in (between_block_spread(g) for g in groups) if s is not None)
    if not spreads:
        return None
    n = len(spreads)
    return spreads[n // 2] if n % 2 else 0.5 * (spreads[n // 2 - 1] + spreads[n // 2])


def default_min_effect(noise: float | None) -> float:
    """The measured noise, clamped to [MIN_EFFECT_FLOOR, MIN_EFFECT_CAP]: a larger drift
    already widens the interval (which must clear 1), the cap keeps real 1.2x wins claimable."""
    return min(MIN_EFFECT_CAP, max(MIN_EFFECT_FLOOR, noise or 0.0))


def needs_control(point: float, low: float, min_effect: float) -> bool:
    """A claim small enough that a bias shared by every block could make it: checked against
    the control (an identical copy of the original) before it stands."""
    return claims_faster(point, low, min_effect) and point < 1.0 + MIN_EFFECT_CAP


def control_min_effect(min_effect: float, control: Sequence[Block]) -> float:
    """The minimum effect once the control is measured: at least how far above 1 identical
    code reached (the high end of the control's combined interval)."""
    if not control:
        return min_effect
    _, _, high = combine(control)
    return max(min_effect, high - 1.0)


def control_copy_text(text: str) -> str:
    """The original's text, unchanged in code, as another compile unit: a trailing comment
    makes it a separate build (compile caches key on the text)."""
    return text + ("" if text.endswith("\n") else "\n") + "// kf: an identical copy of the original (control)\n"


def with_blocks(v: Variant, blocks: list[Block], min_effect: float, *, stages: Sequence[str] | None = None,
                **changes) -> Variant:
    """`v` with `blocks` and the figures combined from those of `stages` (all by default)."""
    used = [b for b in blocks if stages is None or b.stage in stages] or blocks
    point, low, high = combine(used)
    significant = claims_faster(point, low, min_effect)
    return msgspec.structs.replace(v, blocks=list(blocks), speedup=point, speedup_low=low, speedup_high=high,
                                   significant=significant, **changes)
