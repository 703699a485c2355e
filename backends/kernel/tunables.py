"""Binding tunable values (`@kf tune BLOCK = 64, 128, 256`) into a kernel's source.

A tunable is rewritten where the code defines it (a `#define`, a `constexpr`/`const`
initialiser), instantiated when it is a template parameter, or else defined in a
prelude; where a header the file includes defines it, the original's value is the
header's, and the prelude's value wins only over a definition under `#ifndef NAME`
(backends/kernel/header_defines.py). Rewrites keep the line count, so compiler diagnostics still point at the
user's lines.
"""

from __future__ import annotations

import re
from typing import Mapping

import msgspec

from backends.kernel.expressions import ExprError, evaluate_c
from backends.model import KernelSource
from backends.kernel.declarations import template_params
from backends.kernel.header_defines import constant_span as _constant, define_span as _define
from backends.kernel.header_defines import HeaderDefinition, header_definition, outside_message
from backends.kernel.text import mask, range_to_offsets

__all__ = ["Bound", "TunableError", "defaults", "bind", "outside_definitions"]

Number = int | float
Value = int | float | str  # a str is a type (`tune T = float, half`) or a bound type (`@kf T = float`)


class TunableError(Exception):
    """A binding that cannot be made (unknown tunable, template parameter without value)."""


class Bound(msgspec.Struct, frozen=True):
    text: str  # the file with rewritten definitions (same number of lines)
    prelude: str  # lines to put after the file's includes, e.g. "#define BLOCK 128\n"
    entry: str  # the kernel name, or a name expression such as "saxpy<128, float>"
    # (line, "#define NAME v\n"): to put before that line, the file's #include of a header that
    # defines NAME under `#ifndef NAME` (the header's own code must see kf's value too)
    before: list[tuple[int, str]] = []


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
            if not span and not written and t.name not in tparams and (h := _in_header(text, kernel, t.name)):
                written = _type_text(h.value)
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
        if value is None and not span and t.name not in tparams and (h := _in_header(text, kernel, t.name)):
            value = _number(h.value)  # the header's #define (kernel.h's `#define BLOCK_Y 8`)
        if value is None:
            value = t.values[0]
        out[t.name] = value
    return out


def _own_definition(text: str, kernel: KernelSource, name: str) -> bool:
    """Whether the kernel's own file defines `name` (a #define, constant, alias, template parameter)."""
    if _define(mask(text, preprocessor=False), name) or _constant(mask(text), name) or _alias(mask(text), name):
        return True
    return any(n == name for _, n, _ in _template_arg_index(text, kernel))


def _in_header(text: str, kernel: KernelSource, name: str) -> HeaderDefinition | None:
    """The definition of `name` in a header the kernel's file includes, when the file has none."""
    if not kernel.file or _own_definition(text, kernel, name):
        return None
    return header_definition(text, kernel.file, name)


def outside_definitions(text: str, kernel: KernelSource) -> list[tuple[str, str]]:
    """(tunable, why) for each tunable of the spec that an included header defines so that kf
    cannot set it (an unguarded `#define`, a constant): a spec error at its tune line."""
    out = []
    for t in (kernel.spec.tunables if kernel.spec else []):
        h = _in_header(text, kernel, t.name)
        why = outside_message(h, kernel.file) if h is not None else None
        if why:
            out.append((t.name, why))
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
    for name, why in outside_definitions(text, kernel):
        raise TunableError(why)
    merged = {**defaults(text, kernel), **values}
    code_pp = mask(text, preprocessor=False)
    code = mask(text)
    tparams = _template_arg_index(text, kernel)
    tnames = {name for _, name, _ in tparams}
    edits: list[tuple[int, int, str]] = []
    prelude = ""
    before: list[tuple[int, str]] = []
    type_names = {t.name for t in kernel.spec.tunables if _is_type_tunable(t)} if kernel.spec else set()
    for name in spec_names:
        v = _fmt(merged[name])
        span = _define(code_pp, name) or (_alias(code, name) if name in type_names else _constant(code, name))
        if span:
            old = text[span[0]:span[1]]
            sep = "" if old or text[span[0] - 1] in " \t" else " "
            edits.append((span[0], span[1], sep + v + "\n" * old.count("\n")))
        elif name not in tnames:
            h = _in_header(text, kernel, name) if name not in type_names else None
            if h is not None and h.guarded and h.via >= 0:
                before.append((h.via, f"#define {name} {v}\n"))
            else:
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
    return Bound(text=out, prelude=prelude, entry=entry, before=sorted(before))
