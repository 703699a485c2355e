"""Problem sizes nobody wrote: the sizes kf checks besides the spec's own, and what they cost.

A spec with only its default size lets a candidate hard-code it (`i < (1 << 20)`); sizes
that are all multiples of the work-group size hide a missing bounds guard; a float4 kernel
that drops an element shows only where `n % 4 == 2`; an index computed in float is wrong
only above 2^24. So for every integer *size variable* (a variable given by a constant, used
by a buffer length or the launch shape, not marked `@kf fixed`) kf derives:

- **residue sizes**, one variable at a time: 1, then M-1 and M+1 ... M+7 where M is the
  least common multiple of 8 and the original's work-group sizes (so every residue modulo
  2, 4 and 8 is met, with several work-groups and a partial last one), and L-1, L+1 for the
  largest work-group size or tunable value L; a default too small for that gives 1 ... 7
  and default - 1 instead. The *other* variables stay at small values
  meanwhile (about 32-64, keeping the default's power-of-two factors up to 64 and meeting
  the launch and `require` lines), never at their defaults: for (B, T, C) = (8, 1024, 768),
  B = 7 with T and C at their defaults would be 88% of the full problem, for little more
  than the full size itself checks;
- **all at once**: every size variable at its M+1 together (partial groups in every
  dimension);
- **one size above the default**: the smallest size whose largest buffer holds index
  2^24 + 1 (the first integer a float cannot hold) when that costs at most
  ABOVE_MAX_FACTOR times the default; otherwise the largest variable at about 9/8 of its
  default (odd) with the others small. Skipped, and said so, when it does not fit the
  device (harness: memory plan);
- **one random size per evaluation**, drawn from the request's nonce (every variable
  log-uniform in [1, default]) and reported: sizes a candidate cannot know in advance.

At PROBES_PER_VARIABLE residue sizes of each variable, all at once and the random size, the
candidate runs twice more (other guard contents, then a repeat: docs/evaluation.md).

Every size meets the spec's `@kf require` lines (a size that does not is never run) and
leaves `@kf fixed` variables at their defaults. A residue or combined size costing more
than the default (bytes or work-items, e.g. `chunk = 1` of a reduction) is left out; one
where the original itself cannot run is skipped by the harness, which says so.
"""

from __future__ import annotations

import math
from typing import Mapping

import msgspec
import numpy as np

from backends.kernel import dtypes
from backends.kernel.expressions import ExprError, evaluate, holds, names, resolve
from backends.model import Spec

__all__ = ["DerivedSize", "derived_sizes", "size_variables", "satisfies", "random_size", "small_point",
           "footprint", "ABOVE_MAX_FACTOR", "FLOAT_EXACT"]

FLOAT_EXACT = 1 << 24  # float32 holds every integer up to here; 2^24 + 1 is the first it does not
ABOVE_MAX_FACTOR = 4.5  # the 2^24 crossing is checked when it costs at most this times the default
SMALL_TARGET = 32  # other variables sit at about this (a multiple of the default's power-of-two part, <= 64)
MAX_MODULUS = 4096  # M (the residue sizes' base) stays at most this
MAX_COST = 1.5  # residue/combined/random sizes costing more than this times the default are left out
PROBES_PER_VARIABLE = 2  # residue sizes per variable (above 1) where the candidate runs three times
_CACHE: dict[tuple, list] = {}  # derived sizes of a spec (they cost ~0.5 s to derive on a loaded 2-core host)


class DerivedSize:
    """A size kf chose: `kind` is "residue", "combined", "above" or "random"; `probe`: one of
    the small sizes where the candidate runs three times (PROBES_PER_VARIABLE residue sizes
    of each variable, all at once, the random size)."""

    def __init__(self, label: str, overrides: dict[str, str], kind: str = "residue", probe: bool = False):
        self.label = label
        self.overrides = overrides
        self.kind = kind
        self.probe = probe

    def __repr__(self) -> str:
        return f"DerivedSize({self.label!r}, {self.kind})"


# -- the spec's `require` lines ------------------------------------------------------------

def satisfies(spec: Spec, env: Mapping[str, int | float]) -> bool:
    """Whether the sizes in `env` meet every `@kf require` line of the spec (a condition that
    cannot be evaluated there does not hold)."""
    for r in spec.requires:
        try:
            if not holds(r.expr, env):
                return False
        except ExprError:
            return False
    return True


# -- size variables --------------------------------------------------------------------------


def _used_by_shape(spec: Spec) -> set[str]:
    """Variables that buffer lengths and the launch shape depend on, transitively."""
    exprs = [b.length for b in spec.buffers]
    if spec.launch:
        exprs += spec.launch.grid + spec.launch.block
    deps = {v.name: v.expr for v in spec.variables}
    seen: set[str] = set()
    todo = [n for x in exprs for n in _names(x)]
    while todo:
        n = todo.pop()
        if n in seen or n not in deps:
            continue
        seen.add(n)
        todo.extend(_names(deps[n]))
    return seen


def _names(x: str) -> set[str]:
    try:
        return names(x)
    except ExprError:
        return set()


def size_variables(spec: Spec, tunables: Mapping[str, int | float] | None = None) -> dict[str, int]:
    """The spec's integer size variables with their default values (see the module doc)."""
    try:
        env = resolve(spec, None, tunables)
    except ExprError:
        return {}
    used = _used_by_shape(spec)
    out: dict[str, int] = {}
    for v in spec.variables:
        value = env.get(v.name)
        if v.name in spec.fixed or v.name not in used or _names(v.expr):
            continue
        if isinstance(value, int) and not isinstance(value, bool) and value >= 2:
            out[v.name] = value
    return out


def _launch_sizes(spec: Spec, env: Mapping[str, int | float]) -> tuple[set[int], set[int]]:
    """(the original's work-group sizes, those and every integer tunable value)."""
    block: set[int] = set()
    if spec.launch:
        for x in spec.launch.block:
            try:
                v = evaluate(x, env)
            except ExprError:
                continue
            if isinstance(v, int) and v > 1:
                block.add(v)
    tunable = {int(x) for t in spec.tunables for x in t.values if isinstance(x, int) and not isinstance(x, bool) and x > 1}
    return block, block | tunable


def _modulus(block: set[int]) -> int:
    """M: the least common multiple of 8 and the original's work-group sizes (at most MAX_MODULUS)."""
    m = 8
    for x in sorted(block):
        m2 = m * x // math.gcd(m, x)
        if m2 > MAX_MODULUS:
            break
        m = m2
    return m


def footprint(spec: Spec, env: Mapping[str, int | float]) -> tuple[int, int] | None:
    """(bytes of all buffers, work-items launched) at one size; None when it cannot be evaluated."""
    try:
        nbytes = sum(int(evaluate(b.length, env)) * dtypes.itemsize(b.dtype) for b in spec.buffers)
        items = 1
        if spec.launch:
            for g in spec.launch.grid:
                items *= max(1, int(evaluate(g, env)))
    except (ExprError, KeyError, ValueError, TypeError):
        return None
    return nbytes, items


def _resolve(spec: Spec, overrides: Mapping[str, int], tunables) -> dict[str, int | float] | None:
    try:
        return resolve(spec, {k: str(v) for k, v in overrides.items()}, tunables)
    except ExprError:
        return None


def _valid(spec: Spec, env: Mapping[str, int | float] | None, language: str | None) -> bool:
    """Meets the `require` lines, and the launch is well formed (SYCL: uniform work-groups)."""
    if env is None or not satisfies(spec, env):
        return False
    if spec.launch is None:
        return True
    try:
        grid = [int(evaluate(g, env)) for g in spec.launch.grid]
        block = [int(evaluate(b, env)) for b in spec.launch.block]
    except (ExprError, ValueError, TypeError):
        return False
    if any(v <= 0 for v in grid + block):
        return False
    if language == "sycl" and any(g % b for g, b in zip(grid, block)):
        return False
    return True


def small_point(spec: Spec, tunables: Mapping[str, int | float] | None = None,
                language: str | None = None) -> dict[str, int]:
    """Small values of every size variable, used for the variables a derived size does not
    vary: each at the least multiple of gcd(default, 64) that is >= SMALL_TARGET (at most its
    default), raised together, level by level, until the launch and the `require` lines
    hold; the defaults if no level does."""
    sizes = size_variables(spec, tunables)
    ladders: dict[str, list[int]] = {}
    for name, d in sizes.items():
        g = math.gcd(d, 64)
        v = max(g, -(-SMALL_TARGET // g) * g)
        ladder = []
        while v < d and len(ladder) < 24:
            ladder.append(v)
            v *= 2
        ladder.append(d)
        ladders[name] = ladder
    depth = max((len(x) for x in ladders.values()), default=0)
    for level in range(depth):
        point = {n: lad[min(level, len(lad) - 1)] for n, lad in ladders.items()}
        if _valid(spec, _resolve(spec, point, tunables), language):
            return point
    return dict(sizes)


def _label(ov: Mapping[str, int]) -> str:
    return ", ".join(f"{k}={v}" for k, v in ov.items())


def derived_sizes(spec: Spec, tunables: Mapping[str, int | float] | None = None,
                  listed: list[dict[str, str]] | None = None, language: str | None = None) -> list[DerivedSize]:
    """Sizes to check besides the spec's own (`listed`: its check lines' overrides): the
    residue sizes, all-at-once and the size above the default (module doc). The random size
    is separate (random_size): it changes with every request."""
    key = (msgspec.msgpack.encode(spec), repr(sorted((tunables or {}).items())), repr(listed), language)
    found = _CACHE.get(key)
    if found is None:
        found = _derive(spec, tunables, listed, language)
        if len(_CACHE) >= 64:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = found
    return [DerivedSize(d.label, dict(d.overrides), d.kind, d.probe) for d in found]


def _derive(spec: Spec, tunables, listed, language) -> list[DerivedSize]:
    sizes = size_variables(spec, tunables)
    if not sizes:
        return []
    env = _resolve(spec, {}, tunables)
    if env is None:
        return []
    base = footprint(spec, env)
    if base is None:
        return []
    small = small_point(spec, tunables, language)
    block, launch = _launch_sizes(spec, env)
    modulus = _modulus(block)
    largest = max(launch, default=0)  # the largest work-group size a variant may take
    seen = [dict(x) for x in (listed or [])] + [{}]
    out: list[DerivedSize] = []

    def add(overrides: dict[str, int], kind: str, max_cost: float | None = MAX_COST, probe: bool = False) -> str:
        """"added", "seen" (a listed or derived size already), "invalid" (require, launch) or "costly"."""
        ov = {k: str(v) for k, v in overrides.items()}
        if any(_same(ov, s, env) for s in seen):
            return "seen"
        sub = _resolve(spec, overrides, tunables)
        if not _valid(spec, sub, language):
            return "invalid"
        cost = footprint(spec, sub)
        if cost is None:
            return "invalid"
        if max_cost is not None and (cost[0] > base[0] * max_cost or cost[1] > max(base[1], 1) * max_cost):
            return "costly"
        seen.append(ov)
        out.append(DerivedSize(_label(overrides), ov, kind, probe))
        return "added"

    odd: dict[str, int] = {}  # each variable's value with a partial last group (M+1 or default-1)
    for name, default in sizes.items():
        others = {k: v for k, v in small.items() if k != name}
        if modulus + 7 < default:
            classes = [1] + [modulus + r for r in range(-1, 8) if r != 0]
            if largest > modulus + 8 and largest + 1 < default:
                classes += [largest - 1, largest + 1]  # a partial last group of the largest size too
            step = modulus
        else:
            classes = [r for r in range(1, min(8, default))] + ([default - 1] if default - 1 >= 8 else [])
            step = 8
        probes = 0
        for first in classes:
            # the first value of this residue class that meets the spec's lines (`require C % 4 == 0`
            # leaves some classes empty), staying below the default
            v = first
            while v < default:
                probe = v > 1 and probes < PROBES_PER_VARIABLE
                status = add({**others, name: v}, "residue", probe=probe)
                probes += status == "added" and probe
                if status in ("added", "seen"):
                    if name not in odd and v > 1 and (v % modulus == 1 or v == default - 1):
                        odd[name] = v
                    break
                if status == "costly" or first == 1:
                    break  # larger values cost more; and 1 is 1: nothing above it stands for it
                v += step
    if len(odd) > 1:
        add({**small, **odd}, "combined", probe=True)
    above = _above(spec, sizes, small, env, base, tunables, language)
    if above is not None:
        add(above, "above", max_cost=None)
    return out


def _above(spec: Spec, sizes: dict[str, int], small: dict[str, int], env, base: tuple[int, int],
           tunables, language: str | None) -> dict[str, int] | None:
    """The size above the default (module doc), or None."""
    lengths = {}
    for b in spec.buffers:
        try:
            lengths[b.name] = int(evaluate(b.length, env))
        except (ExprError, ValueError, TypeError):
            return None
    if not lengths:
        return None
    biggest = max(spec.buffers, key=lambda b: lengths[b.name])
    deps = _names(biggest.length)
    candidates = [n for n in sizes if n in deps] or list(sizes)
    name = max(candidates, key=lambda n: sizes[n])
    d = sizes[name]
    if lengths[biggest.name] <= FLOAT_EXACT + 1:
        # the smallest value of `name` whose largest buffer holds index 2^24 + 1 (not a float)
        lo, hi = d + 1, d + 1
        while hi < (1 << 40):
            sub = _resolve(spec, {name: hi}, tunables)
            if sub is not None and _length(biggest, sub) > FLOAT_EXACT + 1:
                break
            hi *= 2
        while lo < hi:
            mid = (lo + hi) // 2
            sub = _resolve(spec, {name: mid}, tunables)
            if sub is not None and _length(biggest, sub) > FLOAT_EXACT + 1:
                hi = mid
            else:
                lo = mid + 1
        for v in (lo | 1, lo + 2 | 1, lo + 4 | 1):
            sub = _resolve(spec, {name: v}, tunables)
            cost = footprint(spec, sub) if sub is not None else None
            if cost is None or cost[0] > base[0] * ABOVE_MAX_FACTOR or cost[1] > max(base[1], 1) * ABOVE_MAX_FACTOR:
                break
            if _valid(spec, sub, language):
                return {name: v}
    others = {k: v for k, v in small.items() if k != name}
    v = (d + max(1, d // 8)) | 1
    for _ in range(64):
        if _valid(spec, _resolve(spec, {**others, name: v}, tunables), language):
            return {**others, name: v}
        v += 2
    return None


def _length(b, env) -> int:
    try:
        return int(evaluate(b.length, env))
    except (ExprError, ValueError, TypeError):
        return 0


def random_size(spec: Spec, nonce: int, tunables: Mapping[str, int | float] | None = None,
                language: str | None = None, tries: int = 200) -> DerivedSize | None:
    """One size drawn from the request's nonce: every size variable log-uniform in [1, its
    default], meeting the spec's lines and costing at most MAX_COST times the default."""
    sizes = size_variables(spec, tunables)
    env = _resolve(spec, {}, tunables)
    base = footprint(spec, env) if env is not None else None
    if not sizes or base is None:
        return None
    rng = np.random.default_rng([nonce & 0xFFFFFFFFFFFFFFFF, 0x5EED51])
    for _ in range(tries):
        point = {n: int(min(d, max(1, round(math.exp(rng.uniform(0.0, math.log(d + 0.5)))))))
                 for n, d in sizes.items()}
        if point == sizes:
            continue
        sub = _resolve(spec, point, tunables)
        if not _valid(spec, sub, language):
            continue
        cost = footprint(spec, sub)
        if cost is None or cost[0] > base[0] * MAX_COST or cost[1] > max(base[1], 1) * MAX_COST:
            continue
        return DerivedSize(_label(point), {k: str(v) for k, v in point.items()}, "random", probe=True)
    return None


def _same(a: Mapping[str, str], b: Mapping[str, str], env: Mapping[str, int | float]) -> bool:
    """Do two override sets give the same sizes?"""
    def value(ov: Mapping[str, str], k: str):
        if k in ov:
            try:
                return evaluate(ov[k], env)
            except ExprError:
                return ov[k]
        return env.get(k)
    keys = set(a) | set(b)
    return all(value(a, k) == value(b, k) for k in keys)
