"""The preprocessor, as far as reading host code needs it: which `#if` branches a file's own
macros decide.

tree-sitter parses the text as written, so a call split by `#if PREBUILD_KERNEL ... #endif`
is not a call to it. A chain of `#if`/`#elif`/`#else` whose conditions name only macros the
files define (and numbers) is decided here and its untaken branches blanked, offsets and
newlines kept; a chain that names anything else (a `-D` flag, a compiler's macro) stays whole.
"""

from __future__ import annotations

import re

__all__ = ["macros_of", "active_text"]

_DIRECTIVE = re.compile(r"^[ \t]*#[ \t]*(if|ifdef|ifndef|elif|else|endif)\b(.*)$")


def macros_of(files: list[tuple[str, str]]) -> dict[str, tuple[str, str, int]]:
    """Object-like `#define NAME value` of the files (the first of each name): name -> (value,
    file, line)."""
    out: dict[str, tuple[str, str, int]] = {}
    for p, t in files:
        for m in re.finditer(r"^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)(?![\w(])[ \t]*([^\n]*)$", t, re.M):
            out.setdefault(m.group(1), (re.sub(r"//.*|/\*.*?\*/", "", m.group(2)).strip(), p,
                                        t.count("\n", 0, m.start())))
    return out


def _known_at(macros: dict[str, tuple[str, str, int]], path: str, line: int) -> dict[str, str]:
    """The macros defined before `line` of `path` (another file's count as included before):
    an include guard's `#ifndef X` comes before its `#define X`."""
    return {n: v for n, (v, p, ln) in macros.items() if p != path or ln < line}


def _pp_truth(kind: str, cond: str, macros: dict[str, str]) -> bool | None:
    """The value of a preprocessor condition from the file's own macros; None when it names
    anything else (a -D flag, a compiler's macro, a system header's)."""
    from backends.kernel.expressions import ExprError, holds

    c = re.sub(r"//.*|/\*.*?\*/", "", cond).strip()
    if kind in ("ifdef", "ifndef"):
        name = c.split()[0] if c else ""
        if name not in macros:
            return None
        return kind == "ifdef"
    c = re.sub(r"\bdefined\s*\(\s*(\w+)\s*\)|\bdefined\s+(\w+)",
               lambda m: "1" if (m.group(1) or m.group(2)) in macros else "__kf_unknown", c)
    for _ in range(4):
        c = re.sub(r"\b[A-Za-z_]\w*\b", lambda m: macros[m.group()] if m.group() in macros and
                   re.fullmatch(r"[\d\s()+*<>=!&|-]*", macros[m.group()] or "x") else m.group(), c)
    c = re.sub(r"(?<=\d)[uUlL]+\b", "", c).replace("&&", " and ").replace("||", " or ")
    c = re.sub(r"!(?!=)", " not ", c)
    if re.search(r"[A-Za-z_]\w*", re.sub(r"\b(and|or|not)\b", "", c)):
        return None
    try:
        return holds(c, {})
    except (ExprError, ZeroDivisionError):
        return None


def active_text(text: str, all_macros: dict[str, tuple[str, str, int]], path: str = "") -> str:
    """`text` with the branches of `#if`/`#ifdef` chains that the macros decide blanked, and those
    chains' directive lines too (every offset and newline kept); undecided chains stay whole."""
    lines = text.splitlines(keepends=True)
    chains: list[list[tuple[int, str, str]]] = []
    stack: list[list[tuple[int, str, str]]] = []
    for i, ln in enumerate(lines):
        m = _DIRECTIVE.match(ln.rstrip("\r\n"))
        if not m:
            continue
        kind, rest = m.group(1), m.group(2)
        if kind in ("if", "ifdef", "ifndef"):
            stack.append([(i, kind, rest)])
        elif stack:
            stack[-1].append((i, kind, rest))
            if kind == "endif":
                chains.append(stack.pop())
    blank: set[int] = set()
    for chain in chains:
        if chain[-1][1] != "endif":
            continue
        values = []
        macros = _known_at(all_macros, path, chain[0][0])
        for i, kind, rest in chain[:-1]:
            values.append(True if kind == "else" else _pp_truth("if" if kind == "elif" else kind, rest, macros))
        if any(v is None for v in values):
            continue
        taken = next((k for k, v in enumerate(values) if v), None)
        for k, (i, kind, rest) in enumerate(chain):
            blank.add(i)
            if k < len(chain) - 1 and k != taken:
                blank.update(range(i + 1, chain[k + 1][0]))
    if not blank:
        return text
    return "".join(re.sub(r"[^\r\n]", " ", ln) if i in blank else ln for i, ln in enumerate(lines))
