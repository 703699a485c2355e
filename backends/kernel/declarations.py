"""C/C++ function declarations: a kernel's name, parameters and template header.

Works on masked text (kernel/text.py), so comments and strings never look like code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from backends.model import KernelSource, Param
from backends.kernel.text import Lines, mask, match_bracket, split_top

__all__ = ["Declaration", "declaration", "parameters", "template_header", "template_params",
           "statement_start"]

# ---------------------------------------------------------------------------
# Declarations
# ---------------------------------------------------------------------------

_IDENT = re.compile(r"[A-Za-z_]\w*")
_ATTRIBUTE_WORDS = {"__launch_bounds__", "__attribute__", "__declspec", "__cluster_dims__",
                    "__maxnreg__", "alignas", "SYCL_EXT_ONEAPI_FUNCTION_PROPERTY",
                    "__grid_constant__"}
_QUALIFIER_WORDS = r"const|volatile|__restrict__|__restrict|restrict|__grid_constant__|struct|class|typename"
_QUALIFIERS = re.compile(rf"\b(?:{_QUALIFIER_WORDS})\b")
_BUILTIN_TYPES = {"int", "float", "double", "char", "short", "long", "unsigned", "signed",
                  "bool", "void", "half", "__half", "size_t", "auto"}


def statement_start(code: str, pos: int) -> int:
    """Start of the declaration containing `pos`: just after the previous `;`, `{` or `}`."""
    i = max(code.rfind(";", 0, pos), code.rfind("{", 0, pos), code.rfind("}", 0, pos)) + 1
    while i < pos and code[i].isspace():
        i += 1
    return i


@dataclass
class Declaration:
    name: str
    name_start: int
    params_open: int  # index of "("
    params_close: int  # index past ")"
    body_open: int  # index of "{", -1 for a prototype


def declaration(code: str, pos: int) -> Declaration | None:
    """Parse a function declaration from `pos` (after `__global__` or the SYCL property)."""
    i, last_ident, last_start = pos, None, -1
    while i < len(code):
        c = code[i]
        if c.isspace():
            i += 1
            continue
        if c in "{;":
            return None
        if c == "[" and code.startswith("[[", i):
            j = match_bracket(code, i)
            if j < 0:
                return None
            i = j
            continue
        m = _IDENT.match(code, i)
        if m:
            last_ident, last_start = m.group(), i
            i = m.end()
            while code.startswith("::", i):
                m2 = _IDENT.match(code, i + 2)
                if not m2:
                    break
                last_ident, last_start = m2.group(), m2.start()
                i = m2.end()
            continue
        if c == "<" and last_ident is not None:  # a template type in the return type
            j = match_bracket(code, i)
            i = j if j > 0 else i + 1
            continue
        if c == "(":
            j = match_bracket(code, i)
            if j < 0:
                return None
            if last_ident is None or last_ident in _ATTRIBUTE_WORDS:
                i, last_ident = j, None
                continue
            rest = code[j:j + 200].lstrip()
            nxt = _IDENT.match(rest)
            if nxt and nxt.group() not in ("const", "noexcept", "throw", "override") and \
                    nxt.group() not in _ATTRIBUTE_WORDS and \
                    rest[nxt.end():].lstrip().startswith("("):
                i, last_ident = j, None  # a macro taking arguments before the name
                continue
            k = j
            while k < len(code) and code[k] not in "{;":
                k += 1
            if k >= len(code):
                return None
            body = k if code[k] == "{" else -1
            return Declaration(last_ident, last_start, i, j, body)
        i += 1
    return None


def _clean(s: str) -> str:
    return " ".join(s.split())


def _param(raw: str) -> Param:
    text = _clean(raw)
    eq = [off for off, _ in split_top(text, "=")]
    if len(eq) > 1:
        text = text[:eq[1] - 1].strip()
    array = ""
    am = re.search(r"(\s*\[[^\]]*\])+$", text)
    if am:
        array, text = am.group().strip(), text[:am.start()].strip()
    name = ""
    nm = re.search(r"[A-Za-z_]\w*$", text)
    if nm and nm.group() not in _BUILTIN_TYPES and \
            _IDENT.search(_QUALIFIERS.sub(" ", text[:nm.start()])):
        name, text = nm.group(), text[:nm.start()].rstrip()
    type_text = (text + array).replace(" *", "*").replace(" &", "&") if text else text
    type_text = _clean(re.sub(r"\*(?=\w)", "* ", type_text))
    is_pointer = "*" in type_text or bool(array)
    base = _QUALIFIERS.sub(" ", type_text)
    base = _clean(re.sub(r"[*&]|\[[^\]]*\]", " ", base))
    if is_pointer:
        head = type_text.split("*", 1)[0] if "*" in type_text else type_text
        is_const = bool(re.search(r"\bconst\b", head))
    else:
        is_const = bool(re.search(r"\bconst\b", type_text))
    return Param(name=name, type=type_text, base_type=base, is_pointer=is_pointer,
                 is_const=is_const)


def parameters(code: str, decl: Declaration) -> list[Param]:
    inner = code[decl.params_open + 1:decl.params_close - 1]
    if not inner.strip() or _clean(inner) == "void":
        return []
    return [_param(p) for _, p in split_top(inner)]


def template_header(code: str, start: int, stop: int) -> tuple[int, int] | None:
    """(open, close) offsets of the `<...>` of a `template` keyword in code[start:stop]."""
    m = re.compile(r"\btemplate\s*<").search(code, start, stop)
    if not m:
        return None
    j = match_bracket(code, m.end() - 1)
    return (m.end() - 1, j) if j > 0 else None


def template_params(text: str, kernel: KernelSource) -> list[tuple[str, str, str | None]]:
    """(kind, name, default) for each template parameter of `kernel`, e.g.
    ("int", "BLOCK", "256") or ("typename", "T", "float"); [] for a plain kernel."""
    if not kernel.is_template:
        return []
    code = mask(text)
    lines = Lines(text)
    a, b = lines.offset(kernel.definition.start), lines.offset(kernel.name_range.start)
    header = template_header(code, a, b)
    if not header:
        return []
    inner = text[header[0] + 1:header[1] - 1]
    masked_inner = code[header[0] + 1:header[1] - 1]
    out = []
    for off, piece in split_top(masked_inner):
        if not piece.strip():
            continue  # `template <>`: an explicit specialization
        eq = split_top(piece, "=")
        decl = _clean(piece[:eq[1][0] - 1] if len(eq) > 1 else piece)
        default = _clean(inner[off + eq[1][0]:off + len(piece)]) if len(eq) > 1 else None
        nm = re.search(r"[A-Za-z_]\w*$", decl)
        name = nm.group() if nm else ""
        kind = _clean(decl[:nm.start()] if nm else decl).replace("...", "").strip()
        out.append((kind or "typename", name, default))
    return out
