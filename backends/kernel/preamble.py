"""A source's preamble: its leading comments and preprocessor directives (the `#include`s at
the top), as a compiler that precompiles headers sees it.

clang's precompiled preambles (the SYCL run-time compiler's `--persistent-auto-pch`) cover
the leading region of comments, whitespace and directives, and reuse a preamble whose text
and options are the same *without checking the headers it includes* (intel/llvm's
sycl-jit: "auto-pch doesn't track" a changed header). So a preamble is precompiled only
where nothing in it can change under kf: `headers_fixed` allows only angle-bracket includes
that are not found in the unit's own include directories (they come from the toolchain and
the system, fixed for a runtime version) and no directive whose value depends on files or
the clock. `preamble` errs long (it goes on through every directive, where clang stops at
some), so the checks cover at least what clang precompiles.
"""

from __future__ import annotations

import os
import re

_INCLUDE = re.compile(r"^\s*#\s*(include|include_next|import)\b\s*(.*)$")
# their values depend on the file system or the clock: a precompiled copy would go stale
_VOLATILE = re.compile(r"__has_include|__has_include_next|__DATE__|__TIME__|__TIMESTAMP__|__COUNTER__")


def preamble(source: str) -> str:
    """The leading comments, blank space and preprocessor directives of `source` (directives
    continued with backslashes, comments inside them); stops at the first other token."""
    i, n = 0, len(source)
    while i < n:
        c = source[i]
        if c in " \t\r\n\f\v":
            i += 1
        elif source.startswith("//", i):
            i = _line_end(source, i)
        elif source.startswith("/*", i):
            end = source.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif c == "#":
            i = _directive_end(source, i)
        else:
            break
    return source[:i]


def _line_end(s: str, i: int) -> int:
    """The end of the line at i, following backslash continuations (past the newline)."""
    n = len(s)
    while i < n:
        j = s.find("\n", i)
        if j < 0:
            return n
        if j > 0 and s[j - 1] == "\\" or j > 1 and s[j - 1] == "\r" and s[j - 2] == "\\":
            i = j + 1
            continue
        return j + 1
    return n


def _directive_end(s: str, i: int) -> int:
    """The end of the directive starting at i: its logical line, with any /* */ comment in it."""
    n = len(s)
    while i < n:
        c = s[i]
        if c == "\n":
            if i > 0 and (s[i - 1] == "\\" or s[i - 1] == "\r" and i > 1 and s[i - 2] == "\\"):
                i += 1
                continue
            return i + 1
        if s.startswith("/*", i):
            end = s.find("*/", i + 2)
            if end < 0:
                return n
            i = end + 2
            continue
        if s.startswith("//", i):
            return _line_end(s, i)
        i += 1
    return n


def headers_fixed(text: str, include_dirs: list[str]) -> str | None:
    """None when every header `text` (a preamble) includes is fixed under kf: an angle include
    not found in any of `include_dirs`; else why not (for logs and tests)."""
    joined = re.sub(r"\\\r?\n", "", text)
    if _VOLATILE.search(joined):
        return "the preamble asks the file system or the clock"
    includes = 0
    for line in joined.splitlines():
        m = _INCLUDE.match(line)
        if not m:
            continue
        includes += 1
        arg = re.sub(r"/\*.*?\*/|//.*$", "", m[2]).strip()
        if m[1] != "include" or not (arg.startswith("<") and arg.endswith(">")):
            return f"it includes {arg or m[1]!r} (only <...> toolchain headers are precompiled)"
        name = arg[1:-1].strip()
        for d in include_dirs:
            if os.path.exists(os.path.join(d, name)):
                return f"<{name}> is found in {d}, which may change"
    return None if includes else "no #include to precompile"
