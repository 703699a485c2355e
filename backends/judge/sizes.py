"""Problem sizes nobody wrote: the derived sizes kf checks besides the spec's own.

A spec with only its default size lets a candidate hard-code it (`i < (1 << 20)`), and
sizes that are all multiples of the work-group size hide a missing bounds guard. So for
every integer size variable (a variable given by a constant, used by a buffer length or
the launch shape, not marked `@kf fixed`), kf also checks, one variable at a time:
1, a prime of at least 37 (a multiple of no tunable or launch size) and default - 1 (made
a multiple of none of them), each only when smaller than the default; and all of them at
their prime at once. A derived size that would cost more than the default size (more
bytes or more work-items: `chunk = 1` of a reduction) is left out, and so is one where
the original itself cannot run (the harness skips it and says so). Derived sizes run with
one seed; the spec's own sizes with every seed.
"""

from __future__ import annotations

import math
from typing import Mapping

from backends.kernel import dtypes
from backends.kernel.expressions import ExprError, evaluate, holds, names, resolve
from backends.model import Spec

__all__ = ["DerivedSize", "derived_sizes", "size_variables", "satisfies", "respecting"]

SMALL_PRIME = 37


class DerivedSize:
    def __init__(self, label: str, overrides: dict[str, str]):
        self.label = label
        self.overrides = overrides

    def __repr__(self) -> str:
        return f"DerivedSize({self.label!r})"


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


def respecting(spec: Spec, overrides: dict[str, int], tunables: Mapping[str, int | float] | None = None,
               default: Mapping[str, int] | None = None) -> dict[str, int] | None:
    """`overrides` if their sizes meet the spec's requires; else, for one variable, the nearest
    value above it (below its default) that does (`C = 37` with `require C % 4 == 0` gives
    `C = 40`); None when none does."""
    def ok(ov: dict[str, int]) -> bool:
        try:
            return satisfies(spec, resolve(spec, {k: str(v) for k, v in ov.items()}, tunables))
        except ExprError:
            return False
    if not spec.requires or ok(overrides):
        return overrides
    if len(overrides) != 1:
        return None
    (name, v), = overrides.items()
    top = (default or {}).get(name, v + 1024)
    for w in range(v + 1, min(top, v + 4096)):
        if ok({name: w}):
            return {name: w}
    return None


def _avoid(spec: Spec, env: Mapping[str, int | float]) -> set[int]:
    """Sizes a derived size must not be a multiple of: tunable values and launch sizes."""
    avoid = {int(x) for t in spec.tunables for x in t.values if isinstance(x, int) and x > 1}
    if spec.launch:
        for x in spec.launch.block:
            try:
                v = evaluate(x, env)
            except ExprError:
                continue
            if isinstance(v, int) and v > 1:
                avoid.add(v)
    return avoid


def _prime_at_least(k: int, avoid: set[int]) -> int:
    p = k
    while p in avoid or any(p % d == 0 for d in range(2, math.isqrt(p) + 1)):
        p += 1
    return p


def _cost(spec: Spec, env: Mapping[str, int | float]) -> tuple[int, int] | None:
    try:
        nbytes = sum(int(evaluate(b.length, env)) * dtypes.itemsize(b.dtype) for b in spec.buffers)
        items = 1
        if spec.launch:
            for g in spec.launch.grid:
                items *= max(1, int(evaluate(g, env)))
    except (ExprError, KeyError, ValueError, TypeError):
        return None
    return nbytes, items


def derived_sizes(spec: Spec, tunables: Mapping[str, int | float] | None = None,
                  listed: list[dict[str, str]] | None = None) -> list[DerivedSize]:
    """Sizes to check besides the spec's own (`listed`: its check lines' overrides)."""
    sizes = size_variables(spec, tunables)
    if not sizes:
        return []
    try:
        env = resolve(spec, None, tunables)
    except ExprError:
        return []
    avoid = _avoid(spec, env)
    base = _cost(spec, env)
    seen = [dict(x) for x in (listed or [])] + [{}]
    out: list[DerivedSize] = []

    def add(overrides: dict[str, int]) -> None:
        kept = respecting(spec, overrides, tunables, sizes)
        if kept is None:
            return  # no size near it meets the spec's `require` lines
        ov = {k: str(v) for k, v in kept.items()}
        if any(_same(ov, s, env) for s in seen):
            return
        try:
            sub = resolve(spec, ov, tunables)
        except ExprError:
            return
        cost = _cost(spec, sub)
        if cost is None or base is None or cost[0] > base[0] * 1.5 or cost[1] > max(base[1], 1) * 1.5:
            return
        seen.append(ov)
        out.append(DerivedSize(", ".join(f"{k}={v}" for k, v in ov.items()), ov))

    primes: dict[str, int] = {}
    for name, default in sizes.items():
        values = [1]
        p = _prime_at_least(SMALL_PRIME, avoid)
        if p < default:
            values.append(p)
            primes[name] = p
        d = default - 1
        while d > 1 and any(d % a == 0 for a in avoid):
            d -= 1
        if d > 1 and d not in values:
            values.append(d)
        for v in values:
            add({name: v})
    if len(primes) > 1:
        add(dict(primes))
    return out


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
