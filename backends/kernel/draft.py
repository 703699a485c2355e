"""Drafting a spec that runs (`kf spec`): read from the kernel's body, not only its signature.

- dimensionality: `nd_range_kernel<N>` / `get_nd_item<N>` (SYCL), the highest of
  threadIdx/blockIdx .x/.y/.z used (CUDA);
- the launch: the bound each global index is guarded by (`if (i < n)`) gives its extent;
  a block/work-group size tunable the body uses (BLOCK, WG_SIZE, WG_X...) gives the shape;
- buffer lengths: every subscript `p[expr]` is rewritten in terms of the kernel's
  parameters, tunables and launch (local variables substituted, loop variables and
  guarded indices given their ranges) and its largest value taken by interval
  arithmetic; the length is that plus one, written in the simplest form (`n`, `M * N`...)
  that equals it at many sizes. A length it cannot derive is `[?]`, which the spec parser
  rejects with a message saying what to write: never a wrong length;
- `tune` lines for the `#define`s, `constexpr`s and template parameters the body uses;
- `check` lines at sizes that are not multiples of the launch.
"""

from __future__ import annotations

import ast
import itertools
import random
import re
from dataclasses import dataclass

from backends.kernel import dtypes
from backends.kernel.declarations import template_params
from backends.kernel.expressions import ExprError, evaluate, evaluate_c
from backends.kernel.callees import Callee, Callees
from backends.kernel.text import call_args, mask, match_bracket, range_to_offsets
from backends.model import KernelSource

__all__ = ["draft_spec_for", "analyse", "render", "BodyDraft", "aliases"]

_BLOCKISH = re.compile(r"^(BLOCK|BLOCK_SIZE|BLOCKSIZE|BS|TPB|THREADS|NTHREADS|BLOCK_DIM|WG|WG_SIZE|WGSIZE|"
                       r"THREADS_PER_BLOCK|LOCAL_SIZE|WORK_GROUP_SIZE|GROUP_SIZE)$", re.I)
_AXIS = re.compile(r"^(?:BLOCK|BLOCK_DIM|BLOCK_SIZE|WG|WG_SIZE|TILE|BS|TB|LOCAL)_?([XYZ])$", re.I)
_SIZE_NAMES = re.compile(r"^(n|num|numel|nelem|nelems|n_?elements|size|len|length|count|total|elements|"
                         r"n_?items|items)$", re.I)
_DIM2_NAMES = {"M", "N", "K", "rows", "cols", "nrows", "ncols", "num_rows", "num_cols", "height", "width",
               "h", "w", "H", "W", "nx", "ny", "nz", "D", "depth"}
_CAST = re.compile(r"\(\s*(?:const\s+)?(?:(?:unsigned|signed|long|short)\s+)*(?:size_t|std::size_t|int|long|unsigned|"
                   r"uint32_t|int32_t|uint64_t|int64_t|ptrdiff_t|short|char|float|double|uint|ulong)?\s*\)")


class _Fail(Exception):
    pass


# -- reading the body ------------------------------------------------------------------


def _body(text: str, kernel: KernelSource) -> str:
    code = mask(text)
    if kernel.form == "lambda":  # the lambda passed to (or stored for) its parallel_for
        from backends.kernel.host import Host

        site = Host(kernel.file, text).lambda_site(kernel.definition)
        body = site.lambda_node.child_by_field_name("body") if site is not None and site.lambda_node is not None else None
        if body is not None:
            tree = site.host.files[0].tree
            a, b = tree.span(body)
            return code[a + 1:b - 1]
    a, b = range_to_offsets(text, kernel.definition)
    lb = code.find("{", range_to_offsets(text, kernel.name_range)[1], b)
    if lb < 0:
        return ""
    rb = match_bracket(code, lb)
    return code[lb + 1:(rb - 1 if rb > 0 else b)]


def _normalize(body: str, language: str) -> str:
    """Launch built-ins become plain names: __gid0 (global id), __gsz0 (global range),
    __grp0, __lid0, __lsz0 (SYCL); __tid0, __bid0, __bdim0, __gdim0 (CUDA, x = 0)."""
    s = body
    if language == "sycl":
        for fn, short in (("get_global_id", "gid"), ("get_global_range", "gsz"), ("get_group", "grp"),
                          ("get_local_id", "lid"), ("get_local_range", "lsz"), ("get_group_range", "ngrp")):
            s = re.sub(rf"[\w:]+\s*(?:<\s*\d\s*>)?\s*\(\s*\)\s*\.\s*{fn}\s*\(\s*(\d)\s*\)", rf"__{short}\1", s)
            s = re.sub(rf"\b\w+\s*\.\s*{fn}\s*\(\s*(\d)\s*\)", rf"__{short}\1", s)
            s = re.sub(rf"\b{fn}\s*\(\s*(\d)\s*\)", rf"__{short}\1", s)
    else:
        for builtin, short in (("threadIdx", "tid"), ("blockIdx", "bid"), ("blockDim", "bdim"), ("gridDim", "gdim")):
            for d, axis in enumerate("xyz"):
                s = re.sub(rf"\b{builtin}\s*\.\s*{axis}\b", f"__{short}{d}", s)
    s = re.sub(r"\bstatic_cast\s*<[^<>]*>\s*\(", "(", s)
    s = _CAST.sub(" ", s)
    s = re.sub(r"(\d)[uUlLfF]+\b", r"\1", s)
    return s


def _dims(text: str, kernel: KernelSource, body: str) -> int:
    if kernel.language == "sycl":
        a, _ = range_to_offsets(text, kernel.definition)
        head = text[max(0, a - 400):range_to_offsets(text, kernel.name_range)[0]]
        m = re.findall(r"nd_range_kernel\s*<\s*(\d)\s*>", head) or re.findall(r"get_nd_item\s*<\s*(\d)\s*>", body)
        if m:
            return int(m[-1])
        used = [int(d) for d in re.findall(r"__(?:gid|lid|grp|gsz|lsz)(\d)", body)]
        return max(used) + 1 if used else 1
    used = [int(d) for d in re.findall(r"__(?:tid|bid|bdim|gdim)(\d)", body)]
    return max(used) + 1 if used else 1


def _definitions(body: str) -> dict[str, str]:
    """`T name = expr;` for locals defined once and never assigned again."""
    defs: dict[str, str] = {}
    bad: set[str] = set()
    for m in re.finditer(r"(?:^|(?<=[;{}(]))\s*(?:const\s+)?(?:auto|size_t|int|unsigned|long|uint32_t|int64_t|uint64_t|"
                         r"std::size_t|ptrdiff_t|unsigned\s+int|long\s+long|int32_t)\s+([A-Za-z_]\w*)\s*=\s*([^;]+);",
                         body):
        name, expr = m.group(1), m.group(2).strip()
        if name in defs:
            bad.add(name)
        defs[name] = expr
    for name in list(defs):
        if re.search(rf"\b{name}\s*(?:[-+*/%]?=(?!=)|\+\+|--)", body[body.find(defs[name]) + len(defs[name]):]) \
                or re.search(rf"(?:\+\+|--)\s*{name}\b", body):
            bad.add(name)
    for name in bad:
        defs.pop(name, None)
    return defs


def _loops(body: str) -> dict[str, tuple[str, str]]:
    """for (T v = START; v < END; ...) -> {v: (START, END exclusive)}."""
    out: dict[str, tuple[str, str]] = {}
    for m in re.finditer(r"\bfor\s*\(", body):
        close = match_bracket(body, m.end() - 1)
        head = body[m.end():close - 1] if close > 0 else ""
        parts = head.split(";")
        if len(parts) != 3:
            continue
        init = re.match(r"\s*(?:[\w:]+\s+)*([A-Za-z_]\w*)\s*=\s*(.+)$", parts[0].strip())
        if not init:
            continue
        v = init.group(1)
        cond = re.match(rf"\s*{v}\s*(<=|<)\s*(.+)$", parts[1].strip())
        if not cond:
            continue
        end = cond.group(2).strip()
        out[v] = (init.group(2).strip(), end if cond.group(1) == "<" else f"({end}) + 1")
    return out


def _guards(body: str) -> dict[str, str]:
    """`v < B` in an if or `v >= B) return` -> {v: B (exclusive)}."""
    out: dict[str, str] = {}
    for m in re.finditer(r"\b([A-Za-z_]\w*)\s*<\s*(?!=)([^&|;?)]+(?:\([^()]*\))?[^&|;?)]*)", body):
        out.setdefault(m.group(1), m.group(2).strip())
    for m in re.finditer(r"\b([A-Za-z_]\w*)\s*>=\s*([^&|;?)]+)\)\s*return", body):
        out.setdefault(m.group(1), m.group(2).strip())
    return out


# -- interval arithmetic over spec expressions --------------------------------------------


def _py(c_expr: str) -> ast.expr:
    e = c_expr.strip()
    e = _ternary(e)
    e = re.sub(r"(?<![/])/(?![/])", "//", e)
    try:
        return ast.parse(e, mode="eval").body
    except SyntaxError:
        raise _Fail(c_expr) from None


def _ternary(e: str) -> str:
    """`A < B ? A : B` -> min(A, B); `A > B ? A : B` -> max(A, B); other `c ? a : b` -> max(a, b) (an upper bound)."""
    depth, q = 0, -1
    for i, ch in enumerate(e):
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "?" and depth == 0:
            q = i
            break
    if q < 0:
        return e
    depth, c = 0, -1
    for i in range(q + 1, len(e)):
        ch = e[i]
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == ":" and depth == 0:
            c = i
            break
    if c < 0:
        raise _Fail(e)
    cond, a, b = e[:q].strip(), _ternary(e[q + 1:c]), _ternary(e[c + 1:])
    cm = re.fullmatch(r"(.+?)\s*(<=|<|>=|>)\s*(.+)", cond)
    na, nb = " ".join(a.split()), " ".join(b.split())
    if cm:
        left, op, right = " ".join(cm.group(1).split()), cm.group(2), " ".join(cm.group(3).split())
        if (left, right) == (na, nb):
            return f"{'min' if op in ('<', '<=') else 'max'}({a}, {b})"
        if (left, right) == (nb, na):
            return f"{'max' if op in ('<', '<=') else 'min'}({a}, {b})"
    return f"max({a}, {b})"


class _Intervals:
    def __init__(self, leaves: dict[str, tuple[str, str]], defs: dict[str, str], known: set[str],
                 element_ranges: dict[str, tuple[str, str]] | None = None):
        self.leaves = leaves  # name -> (lo, hi) inclusive, spec expressions
        self.defs = defs
        self.known = known  # plain values: parameters, tunables
        self.elements = element_ranges or {}  # small-integer buffers: the values their elements take
        self.depth = 0

    def of(self, node: ast.expr) -> tuple[str, str]:
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return str(node.value), str(node.value)
        if isinstance(node, ast.Name):
            n = node.id
            if n in self.leaves:
                return self.leaves[n]
            if n in self.known:
                return n, n
            if n in self.defs:
                self.depth += 1
                if self.depth > 40:
                    raise _Fail(n)
                r = self.of(_py(self.defs[n]))
                self.depth -= 1
                return r
            raise _Fail(n)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            lo, hi = self.of(node.operand)
            return f"-({hi})", f"-({lo})"
        if isinstance(node, ast.BinOp):
            (alo, ahi), (blo, bhi) = self.of(node.left), self.of(node.right)
            op = type(node.op)
            if op is ast.Add:
                return f"({alo}) + ({blo})", f"({ahi}) + ({bhi})"
            if op is ast.Sub:
                return f"({alo}) - ({bhi})", f"({ahi}) - ({blo})"
            if op is ast.Mult:  # indices and sizes are not negative
                return f"({alo}) * ({blo})", f"({ahi}) * ({bhi})"
            if op is ast.FloorDiv:
                return f"({alo}) // max(1, {bhi})", f"({ahi}) // max(1, {blo})"
            if op is ast.Mod:
                return "0", f"({bhi}) - 1"
            if op is ast.LShift:
                return f"({alo}) << ({blo})", f"({ahi}) << ({bhi})"
            if op is ast.RShift:
                return f"({alo}) >> ({bhi})", f"({ahi}) >> ({blo})"
            raise _Fail(ast.dump(node))
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in self.elements:
            return self.elements[node.value.id]  # hist[data[i]]: data's element type bounds it
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("min", "max") and node.args:
            parts = [self.of(a) for a in node.args]
            f = node.func.id
            return f"{f}({', '.join(p[0] for p in parts)})", f"{f}({', '.join(p[1] for p in parts)})"
        raise _Fail(ast.dump(node))


# -- simplifying: the simplest expression equal to a length at many sizes ---------------------


def _simplest(expr: str, sizes: list[str], fixed_env: dict[str, int | float], extra: list[str],
              inner: set[str] = frozenset()) -> str | None:  # type: ignore[assignment]
    """`expr` (a length) if it evaluates, written as a simpler equal form when one exists.
    Sizes are sampled small and large (a form that only holds for large sizes is not the
    length); inner loop bounds (a filter width) smaller than the others."""
    rng = random.Random(12345)
    points = []
    for i in range(16):
        env = dict(fixed_env)
        for s in sizes:
            if s in inner:
                env[s] = rng.randint(1, 8)
            else:
                env[s] = rng.randint(9, 64) if i % 2 else rng.randint(65, 3000)
        points.append(env)
    try:
        want = [evaluate(expr, p) for p in points]
    except (ExprError, KeyError, TypeError, ZeroDivisionError):
        return None
    if any(not isinstance(w, int) or w < 0 for w in want):
        return None
    if len(set(want)) == 1 and not any(s in expr for s in sizes):
        return str(want[0])
    forms = list(sizes)
    forms += [f"{a} * {b}" for a, b in itertools.combinations(sizes, 2)]
    forms += [f"{a} * {b} * {c}" for a, b, c in itertools.combinations(sizes, 3)]
    forms += [f"{a} * {a}" for a in sizes]
    forms += [_tidy(x) for x in extra]
    if "1" not in forms:
        forms.insert(0, "1")
    for f in forms:
        try:
            if all(evaluate(f, p) == w for p, w in zip(points, want)):
                return f
        except (ExprError, KeyError, TypeError, ZeroDivisionError):
            continue
    return _tidy(expr)


def _tidy(expr: str) -> str:
    try:
        return ast.unparse(ast.parse(expr, mode="eval"))
    except SyntaxError:
        return expr


# -- the draft --------------------------------------------------------------------------------


def _tunables(text: str, kernel: KernelSource, body: str) -> dict[str, int]:
    """Compile-time knobs the body uses: #define / constexpr numbers and int template parameters."""
    code_pp = mask(text, preprocessor=False)
    idents = set(re.findall(r"\b[A-Za-z_]\w*\b", body))
    out: dict[str, int] = {}
    for m in re.finditer(r"^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)[ \t]+([^\n]+)$", code_pp, re.M):
        name = m.group(1)
        if (name in idents or _BLOCKISH.match(name) or _AXIS.match(name)) and name not in out:
            try:
                v = evaluate_c(m.group(2).strip())
            except ExprError:
                continue
            if isinstance(v, int) and not name.startswith("__"):
                out[name] = v
    for m in re.finditer(r"\bconstexpr\b[^;{}()=]*?\b([A-Za-z_]\w*)\s*(?:=\s*([^;{}]+?)\s*;|\{\s*([^{};]*?)\s*\})", mask(text)):
        name = m.group(1)
        if name in idents and name not in out:
            try:
                v = evaluate_c((m.group(2) or m.group(3) or "").strip())
            except ExprError:
                continue
            if isinstance(v, int):
                out[name] = v
    for kind, name, default in template_params(text, kernel):
        if kind in ("typename", "class") or not name:
            continue
        v = None
        if default:
            try:
                v = evaluate_c(default)
            except ExprError:
                v = None
        out[name] = v if isinstance(v, int) else (256 if _BLOCKISH.match(name) else 16)
    return out


def _tune_values(default: int) -> list[int]:
    if default > 1 and default & (default - 1) == 0:
        vals = [default // 4, default // 2, default, default * 2, default * 4]
        return [default] + [v for v in vals if v != default and 1 <= v <= 1024]
    return [default]


@dataclass
class BodyDraft:
    """What the kernel's body says, before it is written as spec lines (the host drafter,
    backends/kernel/host_draft.py, starts from it)."""

    raw: str  # the body, masked
    body: str  # normalized (launch built-ins as __tid0, __gid0...)
    dims: int
    tunables: dict[str, int]
    values: dict[str, str]  # integer parameter -> drafted value
    grid: list[str]
    local: list[str]
    extent: list[str | None]  # per dimension: the bound the global index is guarded by (None: no guard)
    lengths: dict[str, str]  # pointer parameter -> length ("?" unknown)
    roles: dict[str, str]  # pointer parameter -> in / out / inout
    accumulates: dict[str, bool]
    checks: list[str]
    entries: list[str]


def draft_spec_for(text: str, kernel: KernelSource, comment: str = "//") -> str:
    """A spec for `kernel` that runs, read from its body alone."""
    return render(analyse(text, kernel).entries, comment)


def render(entries: list[str], comment: str = "//") -> str:
    """Spec lines as comment lines (`// @kf ...` or a `/* ... */` block); an entry that starts
    with `//` is free text (a note), written as a comment line of its own."""
    if comment.startswith("/*"):
        return "/*\n" + "".join(f" * {x[2:].strip()}\n" if x.startswith("//") else f" * @kf {x}\n"
                                for x in entries) + " */\n"
    return "".join(f"{comment} {x[2:].strip()}\n" if x.startswith("//") else f"{comment} @kf {x}\n"
                   for x in entries)


def analyse(text: str, kernel: KernelSource) -> BodyDraft:
    """The body's draft: launch, lengths, roles, tunables and checks read from the kernel's code."""
    raw = _body(text, kernel)
    body = _normalize(raw, kernel.language)
    dims = _dims(text, kernel, body)
    tun = _tunables(text, kernel, raw)
    params = kernel.params
    ints = [p for p in params if not p.is_pointer and (dtypes.canonical(p.base_type) or "f").startswith(("i", "u"))]
    floats = [p for p in params if not p.is_pointer and p not in ints]
    pointers = [p for p in params if p.is_pointer]
    defs = _definitions(body)
    loops = _loops(body)
    guards = _guards(body)

    # values of integer parameters
    values: dict[str, str] = {}
    for p in ints:
        if re.search(r"offset|seed|^lo$|start|begin|shift", p.name, re.I):
            values[p.name] = "0"
        elif re.search(r"chunk|tile|per_group|per_block", p.name, re.I):
            values[p.name] = "256"
        elif re.search(r"stride|step|inc|^ld[a-z]?$|pitch", p.name, re.I):
            values[p.name] = "1"
        elif dims >= 2 or p.name in _DIM2_NAMES:
            values[p.name] = "256" if dims >= 2 else "1 << 20"
        elif _SIZE_NAMES.match(p.name) or not any(_SIZE_NAMES.match(q.name) for q in ints):
            values[p.name] = "1 << 20"
        else:
            values[p.name] = "1"
    # a parameter bounding an inner loop (a filter width, a matmul's K) is kept small, so
    # the work per element stays small and the draft's original does not run for minutes
    extents = {re.sub(r"\s", "", b) for v, b in _guards(body).items() if v in defs and "__" in defs[v]}
    inner: set[str] = set()
    for v, (start, end) in loops.items():
        if "__" in start:
            continue  # a grid-stride loop over the elements
        for p in ints:
            if re.search(rf"\b{p.name}\b", end) and p.name not in extents:
                inner.add(p.name)
    for p in ints:
        if p.name in inner and values[p.name] not in ("0",):
            values[p.name] = "16"
    if dims == 1 and ints and not any(v == "1 << 20" for v in values.values()):
        values[next((p.name for p in ints if p.name not in inner), ints[0].name)] = "1 << 20"
    pitch = [p.name for p in ints if re.search(r"^ld[a-z]?$|pitch|stride", p.name, re.I)]

    # the launch: per dimension, the extent its global index is guarded by
    lang = kernel.language
    axis_tun = {m.group(1).upper(): n for n in tun if (m := _AXIS.match(n))}
    block_tun = next((n for n in tun if _BLOCKISH.match(n)), None)
    local: list[str] = []
    for d in range(dims):
        ax = "XYZ"[d] if lang == "cuda" else "XYZ"[dims - 1 - d]  # SYCL: the last dimension is the fastest (x)
        local.append(axis_tun.get(ax) or (block_tun if dims == 1 else None) or ("256" if dims == 1 else "16"))
    if lang == "cuda" and dims == 3 and not axis_tun:
        local = ["8", "8", "4"]
    gid_vars: dict[int, list[str]] = {d: [] for d in range(dims)}
    for name, expr in defs.items():
        if lang == "sycl":
            m = re.search(r"__gid(\d)", expr)
        else:
            m = re.search(r"__bid(\d)", expr) if re.search(r"__tid(\d)", expr) else None
        if m and int(m.group(1)) < dims:
            gid_vars[int(m.group(1))].append(name)
    for v, (start, _) in loops.items():  # grid-stride loops: for (i = gid; i < n; i += stride)
        m = re.search(r"__gid(\d)", start) if lang == "sycl" else (re.search(r"__bid(\d)", start) if "__tid" in start else None)
        if m and int(m.group(1)) < dims:
            gid_vars[int(m.group(1))].append(v)
            guards.setdefault(v, loops[v][1])
    known = {p.name for p in ints} | set(tun)
    extent: list[str | None] = []
    for d in range(dims):
        bound = next((guards[v] for v in gid_vars[d] if v in guards), None)
        if bound is not None:
            try:
                iv = _Intervals({}, defs, known).of(_py(bound))[1]
                bound = (_simplest(iv, [p.name for p in ints], {**tun}, [], inner) or _tidy(iv)) if iv else None
            except _Fail:
                bound = None
        extent.append(bound)
    size_default = next((p.name for p in ints if values[p.name] != "0" and values[p.name] != "1"), None)
    grid: list[str] = []
    for d in range(dims):
        e = extent[d] or size_default or "1"
        grid.append(f"cdiv({e}, {local[d]})" if lang == "cuda" else f"roundup({e}, {local[d]})")

    # ranges of the launch built-ins, in spec expressions
    leaves: dict[str, tuple[str, str]] = {}
    for d in range(3):
        if d < dims:
            L, G = local[d], grid[d]
            if lang == "sycl":
                leaves[f"__gid{d}"] = ("0", f"({G}) - 1")
                leaves[f"__gsz{d}"] = (G, G)
                leaves[f"__lid{d}"] = ("0", f"({L}) - 1")
                leaves[f"__lsz{d}"] = (L, L)
                leaves[f"__grp{d}"] = ("0", f"({G}) // ({L}) - 1")
                leaves[f"__ngrp{d}"] = (f"({G}) // ({L})",) * 2
            else:
                leaves[f"__tid{d}"] = ("0", f"({L}) - 1")
                leaves[f"__bdim{d}"] = (L, L)
                leaves[f"__bid{d}"] = ("0", f"({G}) - 1")
                leaves[f"__gdim{d}"] = (G, G)
        else:
            for k in ("gid", "lid", "grp", "tid", "bid"):
                leaves[f"__{k}{d}"] = ("0", "0")
            for k in ("gsz", "lsz", "ngrp", "bdim", "gdim"):
                leaves[f"__{k}{d}"] = ("1", "1")
    for v, b in guards.items():  # a guarded index stays below its bound where it is used
        if v in defs or v in loops:
            try:
                iv = _Intervals(leaves, defs, known)
                lo = iv.of(_py(defs[v] if v in defs else loops[v][0]))[0]
                leaves[v] = (lo, f"({iv.of(_py(b))[1]}) - 1")
            except _Fail:
                pass
    for v, (start, end) in loops.items():
        if v not in leaves:
            try:
                iv = _Intervals(leaves, defs, known)
                leaves[v] = (iv.of(_py(start))[0], f"({iv.of(_py(end))[1]}) - 1")
            except _Fail:
                pass

    # buffer lengths
    sizes = [p.name for p in ints if values[p.name] not in ("0",)]
    fixed_env = {**tun, **{p.name: 0 for p in ints if values[p.name] == "0"},
                 **{p.name: 1 for p in ints if values[p.name] == "1" and p.name not in sizes}}
    extra = [f"cdiv({a}, {b})" for a in sizes for b in list(tun) + sizes if a != b]
    extra += [g for g in grid] + [f"({g}) // ({local[d]})" for d, g in enumerate(grid)]
    known_extents = [e for e in extent if e]
    extra += known_extents + ([" * ".join(f"({e})" for e in known_extents)] if len(known_extents) > 1 else [])
    elements: dict[str, tuple[str, str]] = {}
    for p in pointers:
        dt = dtypes.canonical(p.base_type)
        if dt in ("u8", "u16"):
            elements[p.name] = ("0", str(255 if dt == "u8" else 65535))
    lengths: dict[str, str] = {}
    for p in pointers:
        lengths[p.name] = _length(p.name, body, leaves, defs, known, sizes, fixed_env, extra, elements, inner)
        if any(re.search(rf"\b{re.escape(k)}\b", lengths[p.name]) for k in tun):
            # a length is the contract every variant keeps: one that moves with a tunable (a launch
            # rounded up to the work-group) is a wrong length, so it stays a failing placeholder
            lengths[p.name] = "?"

    for p in ints:  # a count that sizes a buffer needs a size, not 1 (bias[i % channels])
        if values[p.name] == "1" and not re.search(r"stride|step|inc|^ld[a-z]?$|pitch", p.name, re.I) \
                and any(re.search(rf"\b{p.name}\b", x) for x in lengths.values()):
            values[p.name] = "64"
    entries: list[str] = []
    roles: dict[str, str] = {}
    accum: dict[str, bool] = {}
    calls = Callees(text, kernel.file)  # functions of the file and its headers a buffer is handed to
    for p in pointers:
        accumulates = not p.is_const and _accumulates(p.name, body, calls)
        role = _role(p.name, p.is_const, accumulates, body, calls)
        roles[p.name], accum[p.name] = role, accumulates
        t = p.base_type  # a type kf cannot read (a template parameter, a typedef) fails with a message, never a guess
        tail = " start 0" if accumulates else ""
        entries.append(f"{role:<3} {p.name}: {t}[{lengths[p.name]}]{tail}")
    for p in params:
        if p.is_pointer:
            continue
        if p in floats:
            entries.append(f"{p.name} = {'1.5' if floats.index(p) == 0 else '0.5'}")
        else:
            entries.append(f"{p.name} = {values[p.name]}")
    a, b = ("grid", "block") if lang == "cuda" else ("global", "local")
    # a dimension whose index nothing bounds, in a kernel with no integer parameter, has no size
    # kf could read: a placeholder with the reason, never a launch of one block that runs and
    # checks next to nothing (a SYCL lambda's launch kf could not follow drafted `roundup(1, 16)`)
    shown = [g if extent[d] is not None or size_default is not None else "?" for d, g in enumerate(grid)]
    if "?" in shown:
        what = "work-items" if lang == "sycl" else "blocks"
        entries.append(f"// kf: {a}: nothing in the kernel bounds its index and no size parameter says how "
                       f"many {what} it needs: write the launch its program makes")
    entries += [f"{a} " + ", ".join(shown), f"{b} " + ", ".join(local)]
    for name, default in tun.items():
        entries.append(f"tune {name} = " + ", ".join(str(v) for v in _tune_values(default)))
    checks = _checks(sizes, values, pitch, dims, inner)
    entries += [f"check {c}" for c in checks]
    return BodyDraft(raw, body, dims, tun, values, grid, local, extent, lengths, roles, accum, checks, entries)


def _tidy_c(c_expr: str) -> str:
    e = _ternary(c_expr.strip())
    return re.sub(r"(?<![/])/(?![/])", "//", e)


def _subscripts(name: str, body: str) -> list[str] | None:
    """Index expressions of `name[...]`; None when the pointer is used some other way (an offset)."""
    out: list[str] = []
    for m in re.finditer(rf"(?<![\w.>]){re.escape(name)}\b", body):
        after = body[m.end():].lstrip()
        before = body[:m.start()].rstrip()
        if after.startswith("["):
            i = body.index("[", m.end())
            j = match_bracket(body, i)
            if j < 0:
                return None
            out.append(body[i + 1:j - 1])
        elif before.endswith("*") and not re.search(r"[\w)\]]\s*\*$", before):
            out.append("0")  # *p
        elif re.search(r"(atomicAdd|atomicMax|atomicMin|atomicInc|atomicSub|atomicExch|atomicCAS|atomic_ref\s*<[^;]*>\s*\w*)\s*\(\s*$", before) \
                and re.match(r"\s*[,)]", after):
            out.append("0")
        else:
            return None
    return out


def _length(name, body, leaves, defs, known, sizes, fixed_env, extra, elements, inner) -> str:
    subs = _subscripts(name, body)
    if not subs:
        return "?"
    his = []
    for s in subs:
        try:
            his.append(_Intervals(leaves, defs, known, elements).of(_py(s))[1])
        except _Fail:
            return "?"
    expr = his[0] if len(set(his)) == 1 else "max(" + ", ".join(sorted(set(his))) + ")"
    m = re.fullmatch(r"\((.*)\) - 1", expr)
    out = _simplest(m.group(1) if m and _balanced(m.group(1)) else f"({expr}) + 1", sizes, fixed_env, extra, inner)
    return out or "?"


def _balanced(s: str) -> bool:
    depth = 0
    for ch in s:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


_LOADS = re.compile(r"^(?:__ldg|__ldcs|__ldcg|__ldca|__ldlu|__ldcv|load\w*|ld\w*|read\w*|fetch\w*|tex1Dfetch)$", re.I)
_STORES = re.compile(r"^(?:__stcs|__stcg|__stwb|__stwt|store\w*|st\w*|write\w*)$", re.I)
_ATOMICS = re.compile(r"^(?:atomic\w*|__hip_atomic\w*)$", re.I)
_NOT_CALLS = {"if", "for", "while", "switch", "return", "sizeof", "static_cast", "reinterpret_cast", "const_cast"}


def aliases(name: str, body: str) -> set[str]:
    """`name` and the local pointers made from it (`const float* x = inp + i * C`,
    `auto v = reinterpret_cast<float4*>(out)`)."""
    out = {name}
    decl = re.compile(r"(?:[\w:<>]+\s*\*+\s*(?:const\s+|__restrict__\s+)*|\bauto\s*\*?\s*)([A-Za-z_]\w*)\s*=\s*([^;]+);")
    for _ in range(4):
        grew = False
        for m in decl.finditer(body):
            lhs, rhs = m.group(1), m.group(2)
            if lhs in out:
                continue
            if any(re.search(rf"(?<![\w.]){re.escape(a)}\b(?!\s*\[)", rhs) for a in out) and \
                    not re.search(r"\w\s*\(", re.sub(r"(?:reinterpret_cast|static_cast|const_cast)\s*<[^<>]*>\s*\(", "(", rhs)):
                out.add(lhs)
                grew = True
        if not grew:
            break
    return out


def _uses(name: str, body: str, calls: Callees | None = None, depth: int = 0) -> tuple[bool, bool, bool]:
    """(reads, writes, unknown) of `name`'s elements through itself and its aliases: subscripts and
    dereferences on either side of an assignment, loads and stores by name (`__ldg`, `store128`),
    atomics, and what a function of the file or its headers (`calls`) does with it when it is
    handed one; passed to any other function it may be read or written (`unknown`)."""
    reads = writes = unknown = False
    # a pointer cast is the pointer: `((half2*)src)[i] = v`, `reinterpret_cast<float4*>(x)[i]`
    cast = r"(?:const\s+)?[\w:]+(?:\s*<[^<>;]*>)?\s*\*+\s*(?:const\s*)?"
    for _ in range(2):
        body = re.sub(rf"\(\s*\(\s*{cast}\)\s*([A-Za-z_]\w*)\s*\)", r" \1 ", body)
        body = re.sub(rf"(?:reinterpret_cast|static_cast|const_cast)\s*<\s*{cast}>\s*\(\s*([A-Za-z_]\w*)\s*\)", r" \1 ", body)
    body = _element_casts(body, cast)
    for a in aliases(name, body):
        for m in re.finditer(rf"(?<![\w.>]){re.escape(a)}\b", body):
            before = body[:m.start()].rstrip()
            after = body[m.end():]
            if after.lstrip().startswith("["):
                i = body.index("[", m.end())
                j = match_bracket(body, i)
                rest = body[j:].lstrip() if j > 0 else ""
                while rest.startswith("[") and j > 0:  # `x[i][0] = v` (a cast element's vector, a row)
                    k = body.index("[", j)
                    j = match_bracket(body, k)
                    rest = body[j:].lstrip() if j > 0 else ""
                if re.match(r"=(?!=)", rest):
                    writes = True
                elif re.match(r"[-+*/%&|^]=|\+\+|--|<<=|>>=", rest) or re.search(r"(\+\+|--)\s*$", before):
                    reads = writes = True
                else:
                    reads = True
                continue
            call = _enclosing_call(body, m.start())
            if call is not None:
                fname = call
                # a function of the file or its headers is read for what it does (`atomic_reduction(in,
                # ...)` only reads `in`); a wrapper of an atomic (`atomicAdd` over atomic_ref) stays one
                inner = _callee_param(a, body, m.start(), calls, depth) if fname not in _NOT_CALLS else None
                if inner is not None and not (_ATOMICS.match(fname) and _accumulates(inner[1], inner[0].body)):
                    r, w, u = _uses(inner[1], inner[0].body, calls, depth + 1)
                    reads, writes, unknown = reads or r, writes or w, unknown or u
                elif _ATOMICS.match(fname):
                    reads = writes = True
                elif _STORES.match(fname):
                    writes = True
                elif _LOADS.match(fname):
                    reads = True
                elif fname not in _NOT_CALLS:
                    unknown = True
                continue
            if re.search(r"\*\s*\(?\s*$", before) and not re.search(r"[\w)\]]\s*\*\s*\(?\s*$", before):
                deref_end = m.end()
                close = re.match(r"[^;()]*\)", body[deref_end:]) if before.endswith("(") else None
                rest = body[deref_end + (close.end() if close else 0):].lstrip()
                if re.match(r"=(?!=)", rest):
                    writes = True
                elif re.match(r"[-+*/%&|^]=", rest):
                    reads = writes = True
                else:
                    reads = True
    return reads, writes, unknown


def _element_casts(body: str, cast: str) -> str:
    """`reinterpret_cast<float4*>(&C[i])[0] = v` and `*(float4*)(&C[i]) = v` read as `C[i][0] = v`
    and `C[i][0] = v`: a vector access through an element's address reads or writes the buffer."""
    pat = re.compile(rf"(?:(?:reinterpret_cast|static_cast)\s*<\s*{cast}>|\(\s*{cast}\))\s*\(\s*&\s*(?=[A-Za-z_]\w*\s*\[)")
    out, pos = [], 0
    while True:
        m = pat.search(body, pos)
        if m is None:
            break
        open_paren = body.rindex("(", m.start(), m.end())
        close = match_bracket(body, open_paren)
        if close <= 0:
            break
        inner = body[m.end():close - 1]
        deref = re.search(r"\*\s*\(?\s*$", body[:m.start()])
        out.append(body[pos:deref.start() if deref and body[:m.start()].rstrip().endswith("*") else m.start()])
        out.append(f" {inner} " + ("[0]" if deref and body[:m.start()].rstrip().endswith("*") else ""))
        pos = close
    out.append(body[pos:])
    return "".join(out)


def _enclosing_call(body: str, pos: int) -> str | None:
    """The function whose argument list holds position `pos` directly (`f(a, x + 1)` -> f)."""
    i = _enclosing_paren(body, pos)
    if i is None:
        return None
    m = re.search(r"([A-Za-z_][\w:]*)\s*(?:<[^<>;]*>)?\s*$", body[:i])
    return m.group(1).split("::")[-1] if m else None


def _enclosing_paren(body: str, pos: int) -> int | None:
    """The `(` of the call whose argument list holds position `pos` directly."""
    depth = 0
    i = pos - 1
    while i >= 0:
        c = body[i]
        if c in ")]":
            depth += 1
        elif c in "([":
            if depth == 0:
                return None if c == "[" else i
            depth -= 1
        elif c in ";{}" and depth == 0:
            return None
        elif c == "=" and depth == 0 and (i == 0 or body[i - 1] not in "=!<>") and body[i + 1:i + 2] != "=":
            return None
        i -= 1
    return None


def _callee_param(name: str, body: str, pos: int, calls: Callees | None, depth: int) -> tuple[Callee, str] | None:
    """The function (of the file or its headers) and its parameter that the pointer `name` at
    `pos` is passed to as a whole argument (`f(x, ...)`, `f(x + off)`, `f(&x[i])`), or None."""
    if calls is None or depth >= 3:
        return None
    open_paren = _enclosing_paren(body, pos)
    fname = _enclosing_call(body, pos)
    callee = calls.get(fname) if fname else None
    if open_paren is None or callee is None:
        return None
    args, _ = call_args(body, open_paren)
    at, index = open_paren + 1, None
    for i, arg in enumerate(args):
        if at <= pos < at + len(arg) + 1:
            index = i
            break
        at += len(arg) + 1
    if index is None or index >= len(callee.params) or not callee.params[index]:
        return None
    n = re.escape(name)
    if not re.fullmatch(rf"\s*(?:{n}(?:\s*[-+][^,]*)?|&\s*{n}\s*\[[^,]*\])\s*", args[index]):
        return None
    return callee, callee.params[index]


def _role(name: str, is_const: bool, accumulates: bool, body: str, calls: Callees | None = None) -> str:
    """`in` for a buffer the kernel never writes (const or not), `out` for one it writes without
    reading (or accumulates into from a start value), else `inout` (always safe)."""
    if is_const:
        return "in"
    if accumulates:
        return "out"
    reads, writes, unknown = _uses(name, body, calls)
    if not writes and not unknown:
        return "in"
    if not reads and not unknown:
        return "out"
    return "inout"


def _reads(name: str, body: str) -> bool:
    """Does the kernel read `name`'s elements (besides writing them)?"""
    for m in re.finditer(rf"(?<![\w.]){re.escape(name)}\s*\[", body):
        j = match_bracket(body, m.end() - 1)
        after = body[j:].lstrip() if j > 0 else ""
        if re.match(r"[-+*/%&|^]=|\+\+|--", after):
            return True
        if not re.match(r"=(?!=)", after):
            return True
    return False


def _accumulates(name: str, body: str, calls: Callees | None = None, depth: int = 0) -> bool:
    if re.search(rf"(atomicAdd|atomicSub|atomicInc|atomicMax|atomicMin)\s*\(\s*&?\s*{re.escape(name)}\b", body) \
            or re.search(rf"atomic_ref\s*<[^;]*>\s*\w*\s*\(\s*\*?\s*{re.escape(name)}\b", body):
        return True
    if calls is None:
        return False
    for m in re.finditer(rf"(?<![\w.>]){re.escape(name)}\b(?!\s*\[)", body):  # handed to a function
        inner = _callee_param(name, body, m.start(), calls, depth)
        if inner is not None and _accumulates(inner[1], inner[0].body, calls, depth + 1):
            return True
    return False


def _checks(sizes: list[str], values: dict[str, str], pitch: list[str], dims: int, inner: set[str]) -> list[str]:
    """Sizes that are not multiples of the launch; loop bounds small (3, 5) so sizes
    derived from them (`H - K + 1`) stay positive."""
    main = [s for s in sizes if values.get(s) not in ("0", "1", "64") and s not in pitch]
    if not main:
        return []
    outer = [s for s in main if s not in inner]
    loop = [s for s in main if s in inner]
    if len(outer) == 1:
        return [", ".join([f"{outer[0]} = {v}"] + [f"{s} = {lv}" for s in loop]) for v, lv in ((1000, 3), (4097, 5))]
    odd, odd2 = [33, 65, 47, 57], [100, 37, 70, 29]
    return [", ".join([f"{s} = {odd[i % 4]}" for i, s in enumerate(outer)] + [f"{s} = 3" for s in loop]),
            ", ".join([f"{s} = {odd2[i % 4]}" for i, s in enumerate(outer)] + [f"{s} = 5" for s in loop])]
