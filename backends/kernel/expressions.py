"""Safe arithmetic for spec expressions (`cdiv(n, BLOCK)`, `M*K`, `1 << 20`).

Spec text comes from files the user opened, so it is parsed with `ast` and only a
whitelist of nodes is interpreted: never `eval`. Values stay within 64 bits so a typo
like `1 << 100000` fails fast instead of eating memory.
"""

from __future__ import annotations

import ast
import functools
import math
import operator
import re
from typing import Callable, Mapping

from backends.model import Spec

Number = int | float

_LIMIT = 2**63


class ExprError(Exception):
    """A spec expression that cannot be evaluated. `variable` names the spec variable
    it belongs to when known (resolve sets it), so callers can point at its line."""

    def __init__(self, message: str, variable: str | None = None):
        super().__init__(message)
        self.variable = variable


def _cdiv(a: Number, b: Number) -> Number:
    if b == 0:
        raise ExprError("division by zero in cdiv")
    if isinstance(a, int) and isinstance(b, int):
        return -(-a // b)
    return math.ceil(a / b)


def _roundup(a: Number, b: Number) -> Number:
    return _cdiv(a, b) * b


_FUNCS: dict[str, tuple[Callable[..., Number], int | None]] = {
    "cdiv": (_cdiv, 2),
    "roundup": (_roundup, 2),
    "min": (min, None),
    "max": (max, None),
    "abs": (abs, 1),
}

_BINOPS: dict[type, str] = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//",
    ast.Mod: "%", ast.LShift: "<<", ast.RShift: ">>", ast.Pow: "**",
}


_COMPARE: dict[type, Callable[[Number, Number], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}


@functools.lru_cache(maxsize=4096)  # a pure function of the text; the tree is only read (a run evaluates ~20)
def _parse(expr: str, condition: bool = False) -> ast.expr:
    """Parse and check the shape of an expression (no values needed); with `condition`,
    comparisons and `and`/`or`/`not` are allowed too (`@kf require C % 4 == 0`)."""
    if not isinstance(expr, str) or not expr.strip():
        raise ExprError("empty expression")
    try:
        tree = ast.parse(expr.strip(), mode="eval")
    except SyntaxError as e:
        raise ExprError(f"syntax error in `{expr.strip()}`: {e.msg}") from None
    for node in ast.walk(tree):
        if condition and isinstance(node, (ast.Compare, ast.BoolOp, ast.boolop, ast.cmpop, ast.Not)):
            if isinstance(node, ast.cmpop) and type(node) not in _COMPARE:
                raise ExprError(f"comparison not allowed in `{expr.strip()}`: use == != < <= > >=")
            continue
        if isinstance(node, (ast.Expression, ast.Load, ast.operator, ast.USub, ast.UAdd)):
            if isinstance(node, ast.operator) and type(node) not in _BINOPS:
                raise ExprError(f"operator not allowed in `{expr.strip()}`")
            continue
        if isinstance(node, ast.BinOp) or isinstance(node, ast.Name):
            continue
        if isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.USub, ast.UAdd)) and not (condition and isinstance(node.op, ast.Not)):
                raise ExprError(f"operator not allowed in `{expr.strip()}`")
            continue
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise ExprError(f"only numbers are allowed, not {node.value!r}")
            continue
        if isinstance(node, ast.Call):
            fname = node.func.id if isinstance(node.func, ast.Name) else None
            if fname not in _FUNCS or node.keywords:
                raise ExprError(
                    f"unknown function {fname or ast.unparse(node.func)!r}: "
                    "use cdiv, roundup, min, max or abs")
            arity = _FUNCS[fname][1]
            if arity is not None and len(node.args) != arity:
                raise ExprError(f"{fname} takes {arity} argument{'s' * (arity > 1)}")
            if arity is None and not node.args:
                raise ExprError(f"{fname} needs arguments")
            continue
        raise ExprError(f"not allowed in a spec expression: `{ast.unparse(node)}`")
    return tree.body


def names(expr: str, condition: bool = False) -> set[str]:
    """Variable names an expression (or, with `condition`, a condition) refers to (function
    names excluded)."""
    tree = _parse(expr, condition)
    funcs = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in funcs}


def _check(value: Number) -> Number:
    if isinstance(value, int):
        if abs(value) > _LIMIT:
            raise ExprError("value too large (beyond 64 bits)")
    elif not math.isfinite(value):
        raise ExprError("value is not finite")
    return value


def _binop(op: str, a: Number, b: Number) -> Number:
    both_int = isinstance(a, int) and isinstance(b, int)
    if op in ("/", "//", "%") and b == 0:
        raise ExprError("division by zero")
    if op == "/":
        if both_int:
            if a % b:
                raise ExprError(f"{a} / {b} is not a whole number: write // or cdiv")
            return a // b
        return a / b
    if op in ("<<", ">>"):
        if not both_int:
            raise ExprError(f"{op} needs integers")
        if b < 0 or b > 62:
            raise ExprError(f"shift by {b} is out of range (0..62)")
        return a << b if op == "<<" else a >> b
    if op == "**":
        if both_int and (b < 0 or b > 63):
            raise ExprError(f"exponent {b} is out of range")
        if abs(a) > 1 and abs(b) > 1 and math.log2(abs(a)) * abs(b) > 64:
            raise ExprError("value too large (beyond 64 bits)")
        try:
            result = a ** b
        except (OverflowError, ZeroDivisionError) as e:
            raise ExprError(f"{a} ** {b}: {e}") from None
        if isinstance(result, complex):
            raise ExprError(f"{a} ** {b} is not a real number")
        return result
    fn = {"+": operator.add, "-": operator.sub, "*": operator.mul,
          "//": operator.floordiv, "%": operator.mod}[op]
    return fn(a, b)


def _eval(node: ast.expr, env: Mapping[str, Number]) -> Number:
    if isinstance(node, ast.Constant):
        return _check(node.value)
    if isinstance(node, ast.Name):
        if node.id not in env:
            raise ExprError(f"unknown name '{node.id}'")
        value = env[node.id]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ExprError(f"'{node.id}' is not a number")
        return value
    if isinstance(node, ast.UnaryOp):
        v = _eval(node.operand, env)
        return _check(-v if isinstance(node.op, ast.USub) else v)
    if isinstance(node, ast.BinOp):
        a, b = _eval(node.left, env), _eval(node.right, env)
        return _check(_binop(_BINOPS[type(node.op)], a, b))
    if isinstance(node, ast.Call):
        fn = _FUNCS[node.func.id][0]  # type: ignore[union-attr]
        return _check(fn(*(_eval(a, env) for a in node.args)))
    raise ExprError(f"not allowed: `{ast.unparse(node)}`")  # _parse rejects these first


def _truth(node: ast.expr, env: Mapping[str, Number]) -> bool:
    if isinstance(node, ast.BoolOp):
        parts = (_truth(v, env) for v in node.values)
        return all(parts) if isinstance(node.op, ast.And) else any(parts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return not _truth(node.operand, env)
    if isinstance(node, ast.Compare):
        left = _eval(node.left, env)
        for op, right_node in zip(node.ops, node.comparators):
            right = _eval(right_node, env)
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True
    return _eval(node, env) != 0


def holds(condition: str, env: Mapping[str, Number]) -> bool:
    """Whether a condition such as `C % 4 == 0 and C >= 32` is true with `env`'s values
    (a bare expression is true when nonzero). Raises ExprError like `evaluate`."""
    return _truth(_parse(condition, condition=True), env)


def evaluate(expr: str, env: Mapping[str, Number]) -> Number:
    """Value of `expr` with names taken from `env`. Raises ExprError with a short reason."""
    return _eval(_parse(expr), env)


_C_SUFFIX = re.compile(r"\b((?:0[xX][0-9a-fA-F]+)|(?:\d+\.?\d*(?:[eE][-+]?\d+)?)|(?:\.\d+(?:[eE][-+]?\d+)?))"
                       r"(?:[uU](?:ll|LL|l|L)?|(?:ll|LL|l|L)[uU]?|[fF])\b")


def evaluate_c(expr: str, env: Mapping[str, Number] | None = None) -> Number:
    """Value of a C constant such as `256u`, `(1 << 8)` or `0.5f`, for `#define` and
    `constexpr` initialisers (integer suffixes and casts-free arithmetic only)."""
    text = _C_SUFFIX.sub(r"\1", expr.strip())
    if "/" in text and "//" not in text:  # C division truncates
        text = text.replace("/", "//") if "." not in text else text
    return evaluate(text, env or {})


def resolve(spec: Spec, overrides: Mapping[str, str] | None = None,
            tunables: Mapping[str, Number] | None = None) -> dict[str, Number]:
    """Values of every spec variable (plus the tunables), evaluated in dependency order.

    `overrides` replace variable expressions (a `check` line's sizes) and may add new
    names. Tunables are visible by name and win over a variable of the same name; a
    tunable of the spec missing from `tunables` takes its first listed value (pass
    `tunables.defaults(text, kernel)` to get the value the code uses).
    """
    exprs: dict[str, str] = {v.name: v.expr for v in spec.variables}
    exprs.update(overrides or {})
    # a type tunable (`tune T = float, half`) has no numeric value: it is not a name expressions see
    env: dict[str, Number] = {t.name: t.values[0] for t in spec.tunables  # type: ignore[misc]
                              if t.values and not isinstance(t.values[0], str)}
    env.update({k: v for k, v in (tunables or {}).items() if not isinstance(v, str)})
    for name in env:
        exprs.pop(name, None)
    deps: dict[str, set[str]] = {}
    for name, text in exprs.items():
        try:
            deps[name] = names(text)
        except ExprError as e:
            raise ExprError(f"variable '{name}': {e}", name) from None
    state: dict[str, int] = {}  # 1 visiting, 2 done
    stack: list[str] = []

    def visit(name: str) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = stack[stack.index(name):] + [name]
            raise ExprError(f"variables depend on each other: {' -> '.join(cycle)}", name)
        state[name] = 1
        stack.append(name)
        for dep in sorted(deps[name]):
            if dep in deps:
                visit(dep)
            elif dep not in env:
                raise ExprError(f"variable '{name}': unknown name '{dep}'", name)
        try:
            env[name] = evaluate(exprs[name], env)
        except ExprError as e:
            raise ExprError(f"variable '{name}': {e}", name) from None
        stack.pop()
        state[name] = 2

    for name in exprs:
        visit(name)
    return env
