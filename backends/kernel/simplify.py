"""Tidying spec expressions read from host code: `((a) + (b)) - (1)) // (b)` -> `cdiv(a, b)`.

Host values arrive fully parenthesised and in C's own idioms (byte counts, `(n + b - 1) / b`).
A draft is read by people, so the rewrites here keep the value and make it read as the
spec language writes it: constants folded, byte counts divided back into element counts,
ceiling divisions named, and sub-products replaced by the names the kernel gives them.
"""

from __future__ import annotations

import ast
from collections import Counter

from backends.kernel.expressions import ExprError, evaluate

__all__ = ["tidy", "divide", "substitute", "factors", "names_in", "negate"]


def _parse(expr: str) -> ast.expr:
    return ast.parse(expr, mode="eval").body


def _const(node: ast.expr) -> int | float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    return None


def _same(a: ast.expr, b: ast.expr) -> bool:
    return ast.dump(a) == ast.dump(b)


def _num(v: int | float) -> ast.expr:
    if isinstance(v, int) and v < 0:
        return ast.UnaryOp(ast.USub(), ast.Constant(-v))
    return ast.Constant(v)


def _fold(node: ast.expr) -> ast.expr:
    """Constant subtrees become numbers (shifts of literals stay as written: `1 << 20`)."""
    if isinstance(node, ast.BinOp):
        node = ast.BinOp(_fold(node.left), node.op, _fold(node.right))
        a, b = _const(node.left), _const(node.right)
        if a is not None and b is not None and not isinstance(node.op, (ast.LShift, ast.Pow)):
            try:
                v = evaluate(ast.unparse(node), {})
            except (ExprError, ZeroDivisionError):
                return node
            if isinstance(v, int) or (isinstance(v, float) and v == v):
                return _num(v)
        return node
    if isinstance(node, ast.UnaryOp):
        inner = _fold(node.operand)
        c = _const(inner)
        if c is not None and isinstance(node.op, ast.USub):
            return _num(-c)
        return ast.UnaryOp(node.op, inner)
    if isinstance(node, ast.Call):
        return ast.Call(node.func, [_fold(a) for a in node.args], [])
    return node


def _rewrite(node: ast.expr, cancel: bool = True) -> ast.expr:
    """One bottom-up pass of the idioms: `x * 1`, `x + 0`, `x // 1`, ceiling divisions, and (with
    `cancel`) `x * k // k`."""
    if isinstance(node, ast.Call):
        args = [_rewrite(a, cancel) for a in node.args]
        if isinstance(node.func, ast.Name) and node.func.id in ("cdiv", "roundup") and len(args) == 2 \
                and _const(args[1]) == 1:
            return args[0]  # cdiv(n, 1) -> n
        return ast.Call(node.func, args, [])
    if isinstance(node, ast.UnaryOp):
        return ast.UnaryOp(node.op, _rewrite(node.operand, cancel))
    if not isinstance(node, ast.BinOp):
        return node
    left, right = _rewrite(node.left, cancel), _rewrite(node.right, cancel)
    op = node.op
    lc, rc = _const(left), _const(right)
    if isinstance(op, ast.Mult):
        if lc == 1:
            return right
        if rc == 1:
            return left
    if isinstance(op, (ast.Add, ast.Sub)) and rc == 0:
        return left
    if isinstance(op, ast.Add) and lc == 0:
        return right
    if isinstance(op, (ast.FloorDiv, ast.Div)):
        if rc == 1:
            return left
        # (a + b - 1) // b, (a + (b - 1)) // b -> cdiv(a, b)
        a = _ceil_numerator(left, right)
        if a is not None:
            return ast.Call(ast.Name("cdiv"), [a, right], [])
        if rc is not None and isinstance(rc, int) and rc > 0 and cancel:
            q = _divide(left, rc)
            if q is not None:
                return q
        if isinstance(op, ast.FloorDiv) and cancel:
            q = _cancel(left, right)
            if q is not None:
                return q
    if isinstance(op, ast.Mult):
        # cdiv(a, b) * b -> roundup(a, b)
        for x, y in ((left, right), (right, left)):
            if isinstance(x, ast.Call) and isinstance(x.func, ast.Name) and x.func.id == "cdiv" and _same(x.args[1], y):
                return ast.Call(ast.Name("roundup"), [x.args[0], y], [])
    return ast.BinOp(left, op, right)


def _terms(node: ast.expr, sign: int = 1) -> list[tuple[int, ast.expr]]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        return _terms(node.left, sign) + _terms(node.right, sign if isinstance(node.op, ast.Add) else -sign)
    return [(sign, node)]


def _ceil_numerator(num: ast.expr, den: ast.expr) -> ast.expr | None:
    """`a + den - 1` (in any grouping) -> a; None if `num` is not of that form."""
    terms = _terms(num)
    dc = _const(den)
    for i, (s, t) in enumerate(terms):
        if s != 1 or not _same(t, den) and not (dc is not None and _const(t) == dc - 1):
            continue
        rest = terms[:i] + terms[i + 1:]
        if dc is not None and _const(t) == dc - 1:  # a + (b - 1) folded: a + 255 with b = 256
            return _join(rest) if rest else None
        minus_one = next((j for j, (s2, t2) in enumerate(rest) if s2 == -1 and _const(t2) == 1), None)
        if minus_one is None:
            continue
        rest = rest[:minus_one] + rest[minus_one + 1:]
        return _join(rest) if rest else None
    return None


def _join(terms: list[tuple[int, ast.expr]]) -> ast.expr:
    out = terms[0][1] if terms[0][0] == 1 else ast.UnaryOp(ast.USub(), terms[0][1])
    for s, t in terms[1:]:
        out = ast.BinOp(out, ast.Add() if s == 1 else ast.Sub(), t)
    return out


def _divide(node: ast.expr, k: int) -> ast.expr | None:
    """`node / k` when the division is exact by its form (`n * 4` / 4, `(a + b) * 8` / 2)."""
    c = _const(node)
    if isinstance(c, int):
        return ast.Constant(c // k) if c % k == 0 else None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        for a, b in ((node.left, node.right), (node.right, node.left)):
            q = _divide(a, k)
            if q is not None:
                return b if _const(q) == 1 else ast.BinOp(q, ast.Mult(), b) if a is node.left else ast.BinOp(b, ast.Mult(), q)
        return None
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub)):
        a, b = _divide(node.left, k), _divide(node.right, k)
        return ast.BinOp(a, node.op, b) if a is not None and b is not None else None
    return None


def _cancel(num: ast.expr, den: ast.expr) -> ast.expr | None:
    """`x * d // d` -> x for a factor `d` that is a name or product of names."""
    nf, df = factors(num), factors(den)
    if not df or any(_const_text(f) for f in df):
        return None
    left = nf - df
    if sum((nf & df).values()) != sum(df.values()):
        return None
    return _product(left)


def _const_text(t: str) -> bool:
    try:
        return isinstance(ast.literal_eval(t), (int, float))
    except (ValueError, SyntaxError):
        return False


def factors(node: ast.expr | str) -> Counter:
    """The factors of a product as texts (`B * T * 4` -> {B, T, 4})."""
    if isinstance(node, str):
        node = _parse(node)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
        return factors(node.left) + factors(node.right)
    return Counter([ast.unparse(node)])


def _product(fs: Counter) -> ast.expr:
    items = list(fs.elements())
    if not items:
        return ast.Constant(1)
    consts = [f for f in items if _const_text(f)]
    rest = [f for f in items if not _const_text(f)]
    value = 1
    for c in consts:
        value *= ast.literal_eval(c)
    parts = [_parse(f) for f in rest] + ([ast.Constant(value)] if value != 1 or not rest else [])
    out = parts[0]
    for p in parts[1:]:
        out = ast.BinOp(out, ast.Mult(), p)
    return out


def tidy(expr: str, cancel: bool = True) -> str:
    """The value of `expr` written as the spec language would (see the module doc); without
    `cancel`, `x * k // k` stays (its parts may still be renamed)."""
    try:
        node = _parse(expr)
    except SyntaxError:
        return expr
    for _ in range(4):
        new = _rewrite(_fold(node), cancel)
        if _same(new, node):
            break
        node = new
    return ast.unparse(node)


def divide(expr: str, k: int) -> str | None:
    """`expr / k` written without a division when its form allows it, else None."""
    try:
        node = _fold(_parse(expr))
    except SyntaxError:
        return None
    if k == 1:
        return tidy(expr)
    q = _divide(node, k)
    return tidy(ast.unparse(q)) if q is not None else None


def substitute(expr: str, name: str, value: str) -> str:
    """`expr` with the sub-expression `value` written as `name`: whole subtrees, and the factors
    of a product (`B * T * C` with N = B * T -> `N * C`)."""
    try:
        node, target = _parse(expr), _parse(value)
    except SyntaxError:
        return expr
    tf = factors(target)
    single = sum(tf.values()) == 1

    def go(n: ast.expr) -> ast.expr:
        if _same(n, target):
            return ast.Name(name)
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Mult) and not single:
            nf = factors(n)
            if sum((nf & tf).values()) == sum(tf.values()):
                rest = nf - tf
                out = _product(rest) if rest else None
                return ast.Name(name) if out is None else ast.BinOp(ast.Name(name), ast.Mult(), out)
        if isinstance(n, ast.BinOp):
            return ast.BinOp(go(n.left), n.op, go(n.right))
        if isinstance(n, ast.UnaryOp):
            return ast.UnaryOp(n.op, go(n.operand))
        if isinstance(n, ast.Call):
            return ast.Call(n.func, [go(a) for a in n.args], [])
        return n

    for _ in range(8):  # every occurrence: `A * B * A * B` with x = A * B -> x * x
        new = go(node)
        if _same(new, node):
            break
        node = new
    return ast.unparse(node)


def names_in(expr: str) -> set[str]:
    """Variable names an expression uses (function names excluded)."""
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        return set()
    funcs = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in funcs}


_FLIP = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE, ast.LtE: ast.Gt}


def negate(condition: str) -> str:
    """`not condition`, written without `not` where a comparison can be flipped (De Morgan for
    `and`/`or`): `a != b or c % 4 != 0` -> `a == b and c % 4 == 0`."""
    def neg(n: ast.expr) -> ast.expr:
        if isinstance(n, ast.Compare) and len(n.ops) == 1 and type(n.ops[0]) in _FLIP:
            return ast.Compare(n.left, [_FLIP[type(n.ops[0])]()], n.comparators)
        if isinstance(n, ast.BoolOp):
            return ast.BoolOp(ast.Or() if isinstance(n.op, ast.And) else ast.And(), [neg(v) for v in n.values])
        if isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.Not):
            return n.operand
        return ast.UnaryOp(ast.Not(), n)

    try:
        node = _parse(condition)
    except SyntaxError:
        return f"not ({condition})"
    return ast.unparse(neg(node))


def tidy_condition(condition: str) -> str:
    """A condition with each side of its comparisons tidied."""
    try:
        node = _parse(condition)
    except SyntaxError:
        return condition

    def go(n: ast.expr) -> ast.expr:
        if isinstance(n, ast.Compare):
            return ast.Compare(_parse(tidy(ast.unparse(n.left))), n.ops, [_parse(tidy(ast.unparse(c))) for c in n.comparators])
        if isinstance(n, ast.BoolOp):
            return ast.BoolOp(n.op, [go(v) for v in n.values])
        if isinstance(n, ast.UnaryOp):
            return ast.UnaryOp(n.op, go(n.operand))
        return _parse(tidy(ast.unparse(n)))

    return ast.unparse(go(node))
