"""Behavioural descriptors: which cell of the MAP-Elites grid a kernel variant belongs to.

The features come from what the compiler produced (backends/kernel/features.py: PTX
instruction counts for CUDA, a masked-source analysis for SYCL), so comments and names
cannot move a kernel. This module turns them into one level per axis, by rules that are
plain data: for every axis, for every language, one condition per level above 0; the
kernel's level is the HIGHEST level whose condition holds (0 when none does).

Conditions are small arithmetic/boolean expressions over feature names, e.g.
"ld_shared + st_shared > 0" or "accumulators >= 4 and loops > 0". A feature the kernel
does not have counts as 0. Allowed: numbers, names, + - * / // %, comparisons,
and/or/not, parentheses, min(), max(), abs(). `derived` values (per language) are
evaluated first, in order, and may be used by the rules like features.

The default grid (docs/descriptors.md explains each level and its evidence):

    memory       plain global | vectorized / read-only | shared-memory tiling | async copy / tensor memory
    compute      scalar | unrolled / ILP | register blocking | tensor cores
    parallelism  independent threads | block barriers / atomics | warp / sub-group intrinsics | hierarchical

The search's grid (SEARCH_GRID) adds two axes that the launch moves, so that a search
without an LLM (tuning launch shapes and tunables only) keeps diverse elites:

    work-group     < 64 | 64-127 | 128-255 | >= 256 work-items per work-group
    work per item  < 16 B | 16-63 B | 64-255 B | >= 256 B moved per work-item

Everything here is a pure function of plain data; grids load from dicts or JSON
(`DescriptorGrid.from_dict`, `load_grid`) and dump with `to_dict`.
"""

from __future__ import annotations

import ast
import json
import math
import operator
from dataclasses import dataclass, field
from typing import Callable, Iterator, Mapping

__all__ = ["Axis", "DescriptorGrid", "DEFAULT_GRID", "DEFAULT_CONFIG", "OCCUPANCY_AXIS", "SEARCH_GRID",
           "WORKGROUP_AXIS", "WORK_PER_ITEM_AXIS", "launch_features", "grid_for", "load_grid",
           "cell_of", "describe_cell", "neighbours", "grid_dims", "RuleError"]


class RuleError(ValueError):
    """A grid configuration that cannot be used (bad expression, wrong number of rules)."""


# ---------------------------------------------------------------------------
# Safe expressions
# ---------------------------------------------------------------------------

_BIN = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
        ast.Div: lambda a, b: a / b if b else 0.0, ast.FloorDiv: lambda a, b: a // b if b else 0.0,
        ast.Mod: lambda a, b: a % b if b else 0.0}
_CMP = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
        ast.Eq: operator.eq, ast.NotEq: operator.ne}
_FUNCS: dict[str, Callable[..., float]] = {"min": min, "max": max, "abs": abs}

Env = Mapping[str, float]
Compiled = Callable[[Env], float]


def compile_rule(text: str) -> Compiled:
    """Compile one condition/expression; raises RuleError on anything outside the whitelist."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise RuleError(f"bad rule {text!r}: {e.msg}") from None
    return _build(tree.body, text)


def _build(node: ast.AST, text: str) -> Compiled:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, bool)):
        v = float(node.value)
        return lambda env: v
    if isinstance(node, ast.Name):
        name = node.id
        if name in ("True", "False"):
            v = float(name == "True")
            return lambda env: v
        return lambda env: float(env.get(name, 0.0) or 0.0)
    if isinstance(node, ast.BoolOp):
        parts = [_build(v, text) for v in node.values]
        if isinstance(node.op, ast.And):
            return lambda env: float(all(p(env) for p in parts))
        return lambda env: float(any(p(env) for p in parts))
    if isinstance(node, ast.UnaryOp):
        inner = _build(node.operand, text)
        if isinstance(node.op, ast.Not):
            return lambda env: float(not inner(env))
        if isinstance(node.op, ast.USub):
            return lambda env: -inner(env)
        if isinstance(node.op, ast.UAdd):
            return inner
    if isinstance(node, ast.BinOp) and type(node.op) in _BIN:
        fn = _BIN[type(node.op)]
        left, right = _build(node.left, text), _build(node.right, text)
        return lambda env: float(fn(left(env), right(env)))
    if isinstance(node, ast.Compare) and all(type(o) in _CMP for o in node.ops):
        first = _build(node.left, text)
        rest = [(_CMP[type(o)], _build(c, text)) for o, c in zip(node.ops, node.comparators)]

        def cmp(env: Env) -> float:
            a = first(env)
            for op, c in rest:
                b = c(env)
                if not op(a, b):
                    return 0.0
                a = b
            return 1.0

        return cmp
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS
            and not node.keywords and node.args):
        fn = _FUNCS[node.func.id]
        args = [_build(a, text) for a in node.args]
        if len(args) == 1 and node.func.id != "abs":
            return args[0]
        return lambda env: float(fn(*(a(env) for a in args)))
    raise RuleError(f"rule {text!r}: {ast.dump(node)[:60]} is not allowed "
                    "(numbers, feature names, + - * / // %, comparisons, and/or/not, min/max/abs)")


# ---------------------------------------------------------------------------
# Axes and grids
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Axis:
    """One behavioural dimension. `levels`: human-readable names, level 0 first.
    `rules`: language ("cuda", "sycl", or "*" for any other) -> one condition per level
    above 0 (len(levels) - 1 entries; None or "" = never). The level of a kernel is the
    highest one whose condition holds."""

    name: str
    levels: list[str]
    rules: dict[str, list[str | None]] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self) -> None:
        if len(self.levels) < 2:
            raise RuleError(f"axis {self.name!r}: at least 2 levels")
        for lang, conds in self.rules.items():
            if len(conds) != len(self.levels) - 1:
                raise RuleError(f"axis {self.name!r}, {lang}: {len(conds)} rules for {len(self.levels)} levels "
                                f"(one per level above 0: {len(self.levels) - 1})")
        compiled = {lang: [compile_rule(c) if c else None for c in conds] for lang, conds in self.rules.items()}
        object.__setattr__(self, "_compiled", compiled)

    def rules_for(self, language: str) -> list[str | None]:
        return self.rules.get(language) or self.rules.get("*") or []

    def level(self, env: Env, language: str) -> tuple[int, str | None]:
        """(level, the rule that put it there or None for level 0)."""
        compiled = self._compiled.get(language) or self._compiled.get("*") or []  # type: ignore[attr-defined]
        texts = self.rules_for(language)
        for lvl in range(len(compiled), 0, -1):
            rule = compiled[lvl - 1]
            if rule is not None and rule(env):
                return lvl, texts[lvl - 1]
        return 0, None

    def to_dict(self) -> dict:
        return {"name": self.name, "levels": list(self.levels), "rules": {k: list(v) for k, v in self.rules.items()},
                "description": self.description}


class DescriptorGrid:
    """Axes (in order) plus optional derived values per language."""

    def __init__(self, axes: list[Axis], derived: dict[str, dict[str, str]] | None = None):
        if not axes:
            raise RuleError("a grid needs at least one axis")
        names = [a.name for a in axes]
        if len(set(names)) != len(names):
            raise RuleError(f"duplicate axis names: {names}")
        self.axes = list(axes)
        self.derived = {lang: dict(d) for lang, d in (derived or {}).items()}
        self._derived = {lang: [(k, compile_rule(v)) for k, v in d.items()] for lang, d in self.derived.items()}

    # -- config ---------------------------------------------------------------------

    @classmethod
    def from_dict(cls, config: Mapping) -> "DescriptorGrid":
        try:
            axes = [Axis(name=a["name"], levels=list(a["levels"]),
                         rules={k: list(v) for k, v in (a.get("rules") or {}).items()},
                         description=a.get("description", "")) for a in config["axes"]]
        except (KeyError, TypeError) as e:
            raise RuleError(f"bad grid configuration: {type(e).__name__}: {e}") from None
        return cls(axes, config.get("derived"))

    @classmethod
    def from_json(cls, text: str) -> "DescriptorGrid":
        return cls.from_dict(json.loads(text))

    def to_dict(self) -> dict:
        return {"axes": [a.to_dict() for a in self.axes], "derived": {k: dict(v) for k, v in self.derived.items()}}

    def with_axis(self, axis: Axis) -> "DescriptorGrid":
        """This grid plus one more axis (e.g. OCCUPANCY_AXIS)."""
        return DescriptorGrid(self.axes + [axis], self.derived)

    # -- cells ----------------------------------------------------------------------

    def grid_dims(self) -> list[int]:
        return [len(a.levels) for a in self.axes]

    def cell_count(self) -> int:
        return math.prod(self.grid_dims())

    def _env(self, features: Mapping[str, float], language: str) -> dict[str, float]:
        env = {k: float(v) for k, v in features.items() if isinstance(v, (int, float))}
        for name, rule in self._derived.get(language) or self._derived.get("*") or []:
            env[name] = rule(env)
        return env

    def cell_of(self, features: Mapping[str, float], language: str) -> list[int]:
        env = self._env(features, language)
        return [a.level(env, language)[0] for a in self.axes]

    def explain(self, features: Mapping[str, float], language: str) -> list[dict]:
        """Per axis: its level, the level's name and the rule that holds (None: level 0)."""
        env = self._env(features, language)
        out = []
        for a in self.axes:
            lvl, rule = a.level(env, language)
            out.append({"axis": a.name, "level": lvl, "name": a.levels[lvl], "rule": rule})
        return out

    def _check(self, cell: list[int]) -> list[int]:
        cell = [int(c) for c in cell]
        if len(cell) != len(self.axes) or any(not 0 <= c < n for c, n in zip(cell, self.grid_dims())):
            raise ValueError(f"cell {cell} is not in a grid of {self.grid_dims()}")
        return cell

    def describe_cell(self, cell: list[int]) -> str:
        cell = self._check(cell)
        return ", ".join(f"{a.name}: {a.levels[c]}" for a, c in zip(self.axes, cell))

    def neighbours(self, cell: list[int]) -> list[list[int]]:
        """Cells one level away along exactly one axis (inside the grid), axis order, down first."""
        cell = self._check(cell)
        out = []
        for i, n in enumerate(self.grid_dims()):
            for d in (-1, 1):
                c = cell[i] + d
                if 0 <= c < n:
                    out.append(cell[:i] + [c] + cell[i + 1:])
        return out

    def cells(self) -> Iterator[list[int]]:
        for flat in range(self.cell_count()):
            yield self.unflatten(flat)

    def flatten(self, cell: list[int]) -> int:
        cell = self._check(cell)
        idx = 0
        for c, n in zip(cell, self.grid_dims()):
            idx = idx * n + c
        return idx

    def unflatten(self, index: int) -> list[int]:
        out = []
        for n in reversed(self.grid_dims()):
            index, c = divmod(index, n)
            out.append(c)
        return out[::-1]


# ---------------------------------------------------------------------------
# The default grid
# ---------------------------------------------------------------------------

DEFAULT_CONFIG: dict = {
    "derived": {
        # which levels of the thread hierarchy the kernel's threads cooperate at (1/0)
        "cuda": {
            "warp_level": "shfl + vote + match + redux + warp_sync > 0",
            "block_level": "bar_sync + atom_shared > 0",
            "grid_level": "atom_global + atom_generic + cluster_barrier > 0",
            "global_loads": "ld_global + ld_global_v2 + ld_global_v4 + ld_global_v8",
        },
        "sycl": {
            "warp_level": "sub_group_ops + sub_group_collectives > 0",
            "block_level": "group_barrier + group_collectives + atomic_local > 0",
            "grid_level": "atomic_global > 0",
        },
    },
    "axes": [
        {
            "name": "memory",
            "description": "how the kernel moves data: the most advanced path it uses",
            "levels": ["plain global", "vectorized / read-only", "shared-memory tiling",
                       "async copy / tensor memory"],
            "rules": {
                "cuda": [
                    "ld_global_v2 + ld_global_v4 + ld_global_v8 + st_global_vec + tex > 0"
                    " or 2 * ld_global_nc >= max(global_loads, 1)",
                    "ld_shared + st_shared > 0",
                    "cp_async + cp_async_bulk + ldmatrix + stmatrix + prefetch > 0",
                ],
                "sycl": [
                    "vec_types + vec_load + read_only > 0",
                    "local_mem > 0",
                    "async_copy > 0",
                ],
            },
        },
        {
            "name": "compute",
            "description": "how the arithmetic is organised in each thread",
            "levels": ["scalar", "unrolled / ILP", "register blocking", "tensor cores"],
            "rules": {
                "cuda": [
                    "unroll >= 8 or straight_stores >= 4",
                    "accumulators >= 4",
                    "mma + wgmma > 0",
                ],
                "sycl": [
                    "pragma_unroll > 0 or loop_fma_max >= 4",
                    "private_arrays > 0 and loop_fma_max > 0",
                    "joint_matrix > 0",
                ],
            },
        },
        {
            "name": "parallelism",
            "description": "at which levels of the thread hierarchy threads cooperate",
            "levels": ["independent threads", "block barriers / atomics", "warp / sub-group intrinsics",
                       "hierarchical"],
            "rules": {
                "cuda": [
                    "block_level or grid_level",
                    "warp_level",
                    "warp_level + block_level + grid_level >= 2",
                ],
                "sycl": [
                    "block_level or grid_level",
                    "warp_level",
                    "warp_level + block_level + grid_level >= 2",
                ],
            },
        },
    ],
}

OCCUPANCY_AXIS = Axis(
    name="occupancy",
    levels=["< 25%", "25-50%", "50-75%", ">= 75%"],
    rules={"*": ["occupancy >= 0.25", "occupancy >= 0.5", "occupancy >= 0.75"]},
    description="estimated fraction of the SM's warp slots the kernel can fill (CUDA, from registers, "
                "shared memory and block size; unknown counts as < 25%)",
)

DEFAULT_GRID = DescriptorGrid.from_dict(DEFAULT_CONFIG)

# Axes that the launch moves (read from the evaluation: the work-group the kernel was
# launched with and the bytes the spec says one launch moves): a search that only tunes
# launch shapes and tunables still spreads over cells (docs/descriptors.md).
WORKGROUP_AXIS = Axis(
    name="work-group",
    levels=["< 64 work-items", "64-127", "128-255", ">= 256"],
    rules={"*": ["block_threads >= 64", "block_threads >= 128", "block_threads >= 256"]},
    description="work-items (threads) per work-group (block) of the launch",
)
WORK_PER_ITEM_AXIS = Axis(
    name="work per item",
    levels=["< 16 B", "16-63 B", "64-255 B", ">= 256 B"],
    rules={"*": ["bytes_per_item >= 16", "bytes_per_item >= 64", "bytes_per_item >= 256"]},
    description="bytes the launch moves (from the spec) per work-item launched: how much work each "
                "thread does (0 when the spec says nothing about bytes)",
)
SEARCH_GRID = DEFAULT_GRID.with_axis(WORKGROUP_AXIS).with_axis(WORK_PER_ITEM_AXIS)
"""The grid the search uses (kf optimize, the language server): the code axes of
DEFAULT_GRID plus the two launch axes."""


def launch_features(profile: object | None) -> dict[str, float]:
    """Features of the launch itself (from an evaluation's Profile): the work-group size,
    work-groups, work-items, bytes per work-item and (CUDA) the occupancy estimate."""
    out: dict[str, float] = {}
    if profile is None:
        return out

    def num(name: str) -> float | None:
        v = getattr(profile, name, None)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None

    threads, blocks, moved, occ = num("block_threads"), num("grid_blocks"), num("bytes_moved"), num("occupancy")
    if threads is not None:
        out["block_threads"] = threads
    if blocks is not None:
        out["grid_blocks"] = blocks
    if threads and blocks:
        out["work_items"] = threads * blocks
        if moved:
            out["bytes_per_item"] = moved / (threads * blocks)
    if occ is not None:
        out["occupancy"] = occ
    return out


def grid_for(cell_length: int) -> DescriptorGrid:
    """The built-in grid whose cells have this many levels (an archive made before the
    launch axes has 3)."""
    return SEARCH_GRID if cell_length == len(SEARCH_GRID.axes) else DEFAULT_GRID


def load_grid(config: Mapping | str | None = None) -> DescriptorGrid:
    """A grid from a dict, a JSON text, or a path to a JSON file; DEFAULT_GRID for None."""
    if config is None:
        return DEFAULT_GRID
    if isinstance(config, str):
        text = config
        if not text.lstrip().startswith("{"):
            with open(text, encoding="utf-8") as fh:
                text = fh.read()
        return DescriptorGrid.from_json(text)
    return DescriptorGrid.from_dict(config)


# Module-level shorthands on a grid (the default one unless given)

def cell_of(features: Mapping[str, float], language: str, grid: DescriptorGrid | None = None) -> list[int]:
    return (grid or DEFAULT_GRID).cell_of(features, language)


def describe_cell(cell: list[int], grid: DescriptorGrid | None = None) -> str:
    return (grid or DEFAULT_GRID).describe_cell(cell)


def neighbours(cell: list[int], grid: DescriptorGrid | None = None) -> list[list[int]]:
    return (grid or DEFAULT_GRID).neighbours(cell)


def grid_dims(grid: DescriptorGrid | None = None) -> list[int]:
    return (grid or DEFAULT_GRID).grid_dims()
