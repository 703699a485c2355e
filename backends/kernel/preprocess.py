"""The preprocessor, as far as reading host code needs it: which `#if` branches a file's own
macros decide.

tree-sitter parses the text as written, so a call split by `#if PREBUILD_KERNEL ... #endif`
is not a call to it. A chain of `#if`/`#elif`/`#else` whose conditions name only macros the
files define (and numbers) is decided here and its untaken branches blanked, offsets and
newlines kept; a chain that names anything else (a `-D` flag, a compiler's macro) stays whole.
"""

from __future__ import annotations

import re

from backends.kernel.text import call_args

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


# -- launches written inside function-like macros ------------------------------------------------

_LAUNCH = re.compile(r"<<<|\bparallel_for\b|\bcudaLaunchKernel\b|\bsingle_task\b")
_FUNC_DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)\(([^)]*)\)[ \t]*(.*)$")


def _logical_lines(text: str) -> list[tuple[int, int, str]]:
    """(first line, last line, text) of each logical line: backslash continuations joined."""
    out, lines, i = [], text.split("\n"), 0
    while i < len(lines):
        start, parts = i, [lines[i]]
        while parts[-1].rstrip("\r").endswith("\\") and i + 1 < len(lines):
            parts[-1] = parts[-1].rstrip("\r")[:-1]
            i += 1
            parts.append(lines[i])
        out.append((start, i, " ".join(p.strip() for p in parts)))
        i += 1
    return out


def launch_macros(files: list[tuple[str, str]]) -> dict[str, tuple[list[str], str, str, int]]:
    """Function-like macros whose body launches a kernel (`<<<...>>>`, `parallel_for`), also
    through another such macro: name -> (parameters, body, file, line)."""
    found: dict[str, tuple[list[str], str, str, int]] = {}
    for p, t in files:
        for first, _, ln in _logical_lines(t):
            m = _FUNC_DEFINE.match(ln)
            if m and m.group(1) not in found:
                body = re.sub(r"/\*.*?\*/", " ", m.group(3))
                found[m.group(1)] = ([x.strip() for x in m.group(2).split(",") if x.strip()], body, p, first)
    keep = {n for n, (_, body, _, _) in found.items() if _LAUNCH.search(body)}
    while True:  # macros calling a launching macro launch too
        more = {n for n, (_, body, _, _) in found.items() if n not in keep
                and any(re.search(rf"\b{re.escape(k)}\s*\(", body) for k in keep)}
        if not more:
            break
        keep |= more
    return {n: found[n] for n in keep}


def _expand(text: str, macros: dict[str, tuple[list[str], str, str, int]], depth: int, used: list[str]) -> str:
    if depth > 6 or not macros:
        return text
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, macros)) + r")\s*\(")
    out, pos = [], 0
    for m in pattern.finditer(text):
        if m.start() < pos:
            continue
        args, end = call_args(text, m.end() - 1)
        if end < 0:
            continue
        args = [a.strip() for a in args]
        params, body, _, _ = macros[m.group(1)]
        if args == [""] and not params:
            args = []
        if len(args) != len(params) and not (params and params[-1] == "..."):
            continue
        values = dict(zip(params, args))
        if params and params[-1] == "...":
            values["__VA_ARGS__"] = ", ".join(args[len(params) - 1:])
        expanded = re.sub(r"\b[A-Za-z_]\w*\b", lambda t: values.get(t.group(), t.group()), body)
        expanded = re.sub(r"\s*##\s*", "", expanded)
        if m.group(1) not in used:
            used.append(m.group(1))
        expanded = _expand(expanded, macros, depth + 1, used)
        newlines = text.count("\n", m.start(), end)
        out.append(text[pos:m.start()] + expanded + "\n" * newlines)
        pos = end
    out.append(text[pos:])
    return "".join(out)


def expand_launch_macros(text: str, macros: dict[str, tuple[list[str], str, str, int]]) -> tuple[str, dict[int, list[str]]]:
    """`text` with every use of a launching macro (`launch_macros`) written out in place, on the
    line of the use (the lines after it keep their numbers), so the launch inside is read like
    any other; the macros' own `#define` lines are left as they are. Also returns, by line, the
    macros expanded there (for the draft's note)."""
    if not macros:
        return text, {}
    lines = _logical_lines(text)
    directive = {i for first, last, ln in lines if re.match(r"[ \t]*#", ln) for i in range(first, last + 1)}
    out_lines = text.split("\n")
    where: dict[int, list[str]] = {}
    # expand statement by statement: a use may span lines, so work on the code between directives
    i = 0
    result: list[str] = []
    while i < len(out_lines):
        if i in directive:
            result.append(out_lines[i])
            i += 1
            continue
        j = i
        while j < len(out_lines) and j not in directive:
            j += 1
        chunk = "\n".join(out_lines[i:j])
        if re.search(r"\b(" + "|".join(map(re.escape, macros)) + r")\s*\(", chunk):
            used: list[str] = []
            new = _expand(chunk, macros, 0, used)
            if new != chunk:
                for k, ln in enumerate(chunk.split("\n")):
                    if re.search(r"\b(" + "|".join(map(re.escape, macros)) + r")\s*\(", ln):
                        where[i + k] = used
                chunk = new
        result.extend(chunk.split("\n"))
        i = j
    return "\n".join(result), where
