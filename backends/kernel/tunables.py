"""Binding tunable values (`@kf tune BLOCK = 64, 128, 256`) into a kernel's source.

A tunable is rewritten where the code defines it (a `#define`, a `constexpr`/`const`
initialiser), instantiated when it is a template parameter, or else defined in a
prelude. Rewrites keep the line count, so compiler diagnostics still point at the
user's lines.
"""

from __future__ import annotations

import re
from typing import Mapping

import msgspec

from backends.kernel.expressions import ExprError, evaluate_c
from backends.model import KernelSource
from backends.kernel.declarations import template_params
from backends.kernel.text import mask, range_to_offsets

__all__ = ["Bound", "TunableError", "defaults", "bind"]

Number = int | float
Value = int | float | str  # a str is a type (`tune T = float, half`) or a bound type (`@kf T = float`)


class TunableError(Exception):
    """A binding that cannot be made (unknown tunable, template parameter without value)."""


class Bound(msgspec.Struct, frozen=True):
    text: str  # the file with rewritten definitions (same number of lines)
    prelude: str  # lines to put before the file, e.g. "#define BLOCK 128\n"
    entry: str  # the kernel name, or a name expression such as "saxpy<128, float>"


def _fmt(value: Value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return str(int(value))
    return str(value) if isinstance(value, int) else repr(float(value))


def _is_type_tunable(t) -> bool:
    return any(isinstance(v, str) for v in t.values)


def _type_text(text: str) -> str | None:
    """A type written as a #define value, an alias or a template default, normalised."""
    t = " ".join(re.sub(r"\\\r?\n", " ", text).split())
    return t if t and re.fullmatch(r"[\w:<>, *&]+", t) else None


def _number(text: str) -> Number | None:
    try:
        return evaluate_c(re.sub(r"\\\r?\n", " ", text))  # joins continuation lines
    except ExprError:
        return None


def _define(code_pp: str, name: str) -> tuple[int, int] | None:
    """Span of the value of the first `#define NAME value` (comments excluded)."""
    m = re.search(rf"^[ \t]*#[ \t]*define[ \t]+{re.escape(name)}\b(?!\()[ \t]*", code_pp, re.M)
    if not m:
        return None
    end = m.end()
    while True:  # the logical line, through backslash continuations
        nl = code_pp.find("\n", end)
        if nl < 0:
            end = len(code_pp)
            break
        if code_pp[end:nl].rstrip(" \t\r").endswith("\\"):
            end = nl + 1
            continue
        end = nl
        break
    value_end = m.end() + len(code_pp[m.end():end].rstrip(" \t\r\n\\"))
    return m.end(), value_end


def _namespace_scope(code: str, pos: int) -> bool:
    """True when `pos` is only inside namespace / extern "C" braces."""
    stack: list[bool] = []
    for m in re.finditer(r"[{}]", code[:pos]):
        if m.group() == "}":
            if stack:
                stack.pop()
            continue
        i = m.start()
        head_start = max(code.rfind(";", 0, i), code.rfind("{", 0, i), code.rfind("}", 0, i)) + 1
        head = code[head_start:i]
        stack.append(bool(re.search(r'(\bnamespace\b[\w:\s]*|\bextern\s*"\s*")\s*$', head)))
    return all(stack)


def _constant(code: str, name: str) -> tuple[int, int] | None:
    """Span of the initialiser of the first `constexpr ... NAME = value;` (anywhere) or
    `const ... NAME = value;` (at namespace scope); brace initialisers count too."""
    pat = re.compile(rf"\b(constexpr|const)\b[^;{{}}()=]*?\b{re.escape(name)}\s*(?:=\s*([^;{{}}]+?)\s*;|\{{\s*([^{{}};]*?)\s*\}})")
    for m in pat.finditer(code):
        if m.group(1) == "const" and not re.search(r"\bconstexpr\b", m.group()) \
                and not _namespace_scope(code, m.start()):
            continue
        g = 2 if m.group(2) is not None else 3
        return m.start(g), m.end(g)
    return None


def _alias(code: str, name: str) -> tuple[int, int] | None:
    """Span of the type in the first `using NAME = type;` or `typedef type NAME;`."""
    m = re.search(rf"\busing\s+{re.escape(name)}\s*=\s*([^;{{}}]+?)\s*;", code)
    if m:
        return m.start(1), m.end(1)
    m = re.search(rf"\btypedef\s+([^;{{}}()]+?)\s+{re.escape(name)}\s*;", code)
    if m:
        return m.start(1), m.end(1)
    return None


def _template_arg_index(text: str, kernel: KernelSource) -> list[tuple[str, str, str | None]]:
    return template_params(text, kernel) if kernel.is_template else []


def _offset(text: str, kernel: KernelSource) -> int:
    """Offset just past the kernel's name."""
    return range_to_offsets(text, kernel.name_range)[1]


def defaults(text: str, kernel: KernelSource) -> dict[str, Value]:
    """The value the unmodified code uses for each tunable of the kernel's spec: the
    `#define`, the `constexpr`/`const`, the template default, else the first listed."""
    if kernel.spec is None or not kernel.spec.tunables:
        return {}
    code_pp = mask(text, preprocessor=False)
    code = mask(text)
    tparams = {name: default for _, name, default in _template_arg_index(text, kernel)}
    out: dict[str, Value] = {}
    for t in kernel.spec.tunables:
        if _is_type_tunable(t):  # the type the code writes (normalised), else the first listed
            span = _define(code_pp, t.name) or _alias(code, t.name)
            written = _type_text(text[span[0]:span[1]]) if span else _type_text(tparams.get(t.name) or "")
            out[t.name] = written if written else t.values[0]
            continue
        value: Number | None = None
        span = _define(code_pp, t.name)
        if span:
            value = _number(text[span[0]:span[1]])
        if value is None and (span := _constant(code, t.name)):
            value = _number(text[span[0]:span[1]])
        if value is None and tparams.get(t.name):
            value = _number(tparams[t.name])  # type: ignore[arg-type]
        if value is None:
            value = t.values[0]
        out[t.name] = value
    return out


def _variable_value(kernel: KernelSource, name: str, expr: str) -> str:
    """The value of spec variable `name` (default sizes) as a template argument."""
    from backends.kernel.expressions import resolve

    try:
        value = resolve(kernel.spec).get(name)  # type: ignore[arg-type]
    except Exception:
        value = None
    if isinstance(value, bool) or expr.strip() in ("true", "false"):
        return expr.strip() if expr.strip() in ("true", "false") else str(value).lower()
    return _fmt(value) if isinstance(value, (int, float)) else expr.strip()


def bind(text: str, kernel: KernelSource, values: Mapping[str, Value]) -> Bound:
    """The file with `values` bound (missing tunables take their defaults)."""
    spec_names = [t.name for t in kernel.spec.tunables] if kernel.spec else []
    unknown = [n for n in values if n not in spec_names]
    if unknown:
        raise TunableError(f"{', '.join(repr(n) for n in unknown)}: not a tunable of "
                           f"'{kernel.name}' (tunables: {', '.join(spec_names) or 'none'})")
    for t in (kernel.spec.tunables if kernel.spec else []):
        if t.name in values and isinstance(values[t.name], str) != _is_type_tunable(t):
            kind = "types" if _is_type_tunable(t) else "numbers"
            raise TunableError(f"tunable '{t.name}' takes {kind} ({', '.join(_fmt(v) for v in t.values)}), "
                               f"not `{values[t.name]}`")
    merged = {**defaults(text, kernel), **values}
    code_pp = mask(text, preprocessor=False)
    code = mask(text)
    tparams = _template_arg_index(text, kernel)
    tnames = {name for _, name, _ in tparams}
    edits: list[tuple[int, int, str]] = []
    prelude = ""
    type_names = {t.name for t in kernel.spec.tunables if _is_type_tunable(t)} if kernel.spec else set()
    for name in spec_names:
        v = _fmt(merged[name])
        span = _define(code_pp, name) or (_alias(code, name) if name in type_names else _constant(code, name))
        if span:
            old = text[span[0]:span[1]]
            sep = "" if old or text[span[0] - 1] in " \t" else " "
            edits.append((span[0], span[1], sep + v + "\n" * old.count("\n")))
        elif name not in tnames:
            prelude += f"using {name} = {v};\n" if name in type_names else f"#define {name} {v}\n"
    out = text
    for a, b, new in sorted(edits, reverse=True):
        out = out[:a] + new + out[b:]
    entry = kernel.name
    if kernel.is_template and not tparams:  # `template <> __global__ void k<256>(...)`
        after = _offset(text, kernel)
        m = re.match(r"\s*<([^()]*)>", code[after:])
        if m:
            entry = f"{kernel.name}<{' '.join(text[after + m.start(1):after + m.end(1)].split())}>"
    elif kernel.is_template:
        args: list[str | None] = []
        types = kernel.spec.types if kernel.spec else {}
        variables = {v.name: v.expr for v in kernel.spec.variables} if kernel.spec else {}
        for kind, name, default in tparams:
            if name in merged and name in spec_names:
                args.append(_fmt(merged[name]))
            elif name in types:  # `@kf T = float`
                args.append(types[name])
            elif name in variables:  # `@kf N = 512`: a non-type template parameter given a value
                args.append(_variable_value(kernel, name, variables[name]))
            else:
                args.append(None if default is None else default)
        # trailing unbound parameters whose defaults name other parameters stay implicit
        keep = len(args)
        for i in range(len(tparams) - 1, -1, -1):
            name, default = tparams[i][1], tparams[i][2]
            if name in spec_names or name in types or name in variables or default is None:
                break
            if any(re.search(rf"\b{re.escape(o)}\b", default) for o in tnames):
                keep = i
        for i, a in enumerate(args[:keep]):
            if a is None:
                kind, pname = tparams[i][0], tparams[i][1]
                if kind in ("typename", "class"):
                    raise TunableError(
                        f"type template parameter '{pname}' of '{kernel.name}' has no default: bind it with "
                        f"`// @kf {pname} = float` (or tune it: `// @kf tune {pname} = float, half`)")
                raise TunableError(
                    f"template parameter '{pname}' of '{kernel.name}' has no default: "
                    f"give it one or add `// @kf tune {pname} = ...`")
        entry = f"{kernel.name}<{', '.join(a for a in args[:keep] if a is not None)}>"
    return Bound(text=out, prelude=prelude, entry=entry)
