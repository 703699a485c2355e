"""Tunables defined in the headers a kernel's file includes (`#define BLOCK_Y 8` in kernel.h).

kf binds a tunable the kernel's own file does not define through a prelude `#define NAME v`
put before the file. A header the file includes with quotes may define the name too: then
the original's value is the header's, and kf can set another value only where the header
leaves it to an earlier definition (`#ifndef NAME ... #endif`); an unguarded `#define` (or a
constexpr) would override kf's value in the kernel while the launch used kf's, so such a
tunable is a spec error, not a run. Headers are found as the compiler finds them: next to
the including file, then in the project's include directories (compile_commands.json, the
file's `@kf flags -I...`). The spans of a `#define` and a constant's initialiser are found
here for the kernel's own file too (tunables.py rewrites them there).
"""

from __future__ import annotations

import os
import re
from typing import Iterator

import msgspec

from backends.kernel.text import mask

__all__ = ["HeaderDefinition", "constant_span", "define_span", "header_definition", "included_headers",
           "outside_message"]

_MAX_DEPTH = 4
_MAX_HEADERS = 64
_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"', re.M)
_cache: dict[tuple[str, int, int], tuple[str, str]] = {}  # (path, mtime_ns, size) -> (text, masked)


class HeaderDefinition(msgspec.Struct, frozen=True):
    name: str
    path: str  # the header
    line: int  # 0-based line of the definition
    value: str  # the text of the value (a #define's replacement, a constexpr's initialiser)
    kind: str  # "define" or "constant"
    guarded: bool  # inside `#ifndef NAME` / `#if !defined(NAME)`: a definition before it wins
    via: int  # 0-based line of the kernel file's #include that brings the header in


def define_span(code_pp: str, name: str) -> tuple[int, int] | None:
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


def constant_span(code: str, name: str) -> tuple[int, int] | None:
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


def _read(path: str) -> tuple[str, str] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = (path, st.st_mtime_ns, st.st_size)
    hit = _cache.get(key)
    if hit is None:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read(1_000_000)
        except OSError:
            return None
        hit = (text, mask(text, preprocessor=False))
        if len(_cache) > 256:
            _cache.clear()
        _cache[key] = hit
    return hit


def _headers(text: str, path: str, include_dirs: list[str]) -> Iterator[tuple[str, str, str, int]]:
    """(path, text, comment-masked text, line of the file's own #include that brings it in) of
    each header included with quotes, depth first in include order; headers not found (system,
    or outside the project) are skipped."""
    seen = {os.path.abspath(path)}
    count = 0

    def walk(src: str, src_path: str, depth: int, via: int) -> Iterator[tuple[str, str, str, int]]:
        nonlocal count
        if depth > _MAX_DEPTH:
            return
        here = os.path.dirname(os.path.abspath(src_path))
        base = os.path.dirname(os.path.abspath(path))
        dirs = [here] + [d if os.path.isabs(d) else os.path.join(base, d) for d in include_dirs]
        for m in _INCLUDE.finditer(mask(src, strings=False, preprocessor=False)):
            name = src[m.start(1):m.end(1)]
            line = src.count("\n", 0, m.start()) if depth == 0 else via
            for d in dirs:
                cand = os.path.normpath(os.path.join(d, name))
                if not os.path.isfile(cand):
                    continue
                if cand not in seen and count < _MAX_HEADERS:
                    seen.add(cand)
                    count += 1
                    got = _read(cand)
                    if got is not None:
                        yield cand, got[0], got[1], line
                        yield from walk(got[0], cand, depth + 1, line)
                break

    yield from walk(text, path, 0, -1)


def included_headers(text: str, path: str) -> list[tuple[str, str]]:
    """(path, text) of each header `text` (the file at `path`) includes with quotes, as the
    compiler finds them (the including file's folder, then the project's include directories)."""
    return [(h, t) for h, t, _, _ in _headers(text, path, _project_include_dirs(path, text))]


def _guarded(code: str, pos: int, name: str) -> bool:
    """Whether `pos` lies inside `#ifndef NAME` or `#if !defined(NAME)`."""
    stack: list[bool] = []
    n = re.escape(name)
    for m in re.finditer(r"^[ \t]*#[ \t]*(if|ifdef|ifndef|elif|else|endif)\b([^\n]*)", code[:pos], re.M):
        word, rest = m.group(1), m.group(2)
        if word.startswith("if"):
            stack.append(bool(word == "ifndef" and re.fullmatch(rf"\s*{n}\s*", rest)
                              or word == "if" and re.fullmatch(rf"\s*!\s*defined\s*(\(\s*{n}\s*\)|\s+{n})\s*", rest)))
        elif word in ("elif", "else") and stack:
            stack[-1] = False
        elif word == "endif" and stack:
            stack.pop()
    return any(stack)


def header_definition(text: str, path: str, name: str, include_dirs: list[str] | None = None
                      ) -> HeaderDefinition | None:
    """The first definition of `name` in the headers `text` (the file at `path`) includes."""
    dirs = list(include_dirs or []) + _project_include_dirs(path, text)
    for hpath, htext, hcode, via in _headers(text, path, dirs):
        span = define_span(hcode, name)
        kind = "define"
        if span is None:
            span, kind = constant_span(mask(htext), name), "constant"
        if span is None:
            continue
        line = htext.count("\n", 0, span[0])
        return HeaderDefinition(name, hpath, line, htext[span[0]:span[1]], kind,
                                kind == "define" and _guarded(hcode, span[0], name), via)
    return None


def _project_include_dirs(path: str, text: str) -> list[str]:
    """-I directories of the file's compile_commands.json entry and its `@kf flags` lines."""
    from backends.kernel.project_flags import compile_command_flags, include_dirs

    flags: list[str] = []
    try:
        pf = compile_command_flags(path)
        flags = list(pf.flags) if pf is not None else []
    except Exception:  # a broken database must not hide a kernel's spec
        flags = []
    for m in re.finditer(r"^[ \t]*//[ \t]*@kf[ \t]+flags[ \t]+(.*)$", text, re.M):
        flags += m.group(1).split()
    return include_dirs(flags)


def outside_message(d: HeaderDefinition, kernel_path: str) -> str | None:
    """Why kf cannot tune a name the header defines, or None when it can (an #ifndef guard)."""
    if d.guarded:
        return None
    here = os.path.dirname(os.path.abspath(kernel_path))
    shown = os.path.relpath(d.path, here) if d.path.startswith(here + os.sep) else d.path
    where = f"{shown}:{d.line + 1}"
    if d.kind == "constant":
        return (f"{d.name} is a constant defined at {where}: kf cannot set it from outside; "
                f"make it a #define wrapped in #ifndef {d.name} ... #endif or tune a name the kernel's file defines")
    return (f"{d.name} is #defined at {where} without #ifndef {d.name}: kf cannot set it from outside; "
            f"wrap it in #ifndef {d.name} ... #endif or tune a name the kernel's file defines")
