"""A source's normal form: what is left when comments and the amount of whitespace are taken
out, so two texts that differ only there share it (and the compiled kernel: compile_cache).

Built on the lexer (text.py), as C++ translation does: a comment is one space, a backslash-
newline joins lines, a run of whitespace is one space (never none: `F (x)` and `F(x)` differ
in a `#define`), and every preprocessor directive keeps its own line. String and character
literals are kept byte for byte. A text that can see its own layout (`__LINE__`, `__FILE__`,
`__DATE__`, `__TIME__`, `__COUNTER__`) has no normal form: None, and it is compiled as it is.
`#line` directives are left out: they move diagnostics, not code (kf writes one naming the
user's file above every text it compiles).
"""

from __future__ import annotations

import re

from backends.kernel.text import lex

__all__ = ["normal_form"]

_LAYOUT = re.compile(r"\b__(?:LINE|FILE|DATE|TIME|COUNTER|TIMESTAMP)__\b")
_SPACE = re.compile(r"[ \t\r\f\v]+")
_PLACEHOLDER = re.compile("\x00(\\d+)\x00")
_LINE_DIRECTIVE = re.compile(r"^# ?(line\b|\d)")


def normal_form(text: str) -> str | None:
    """The normal form of a C/C++/CUDA/SYCL source (module doc), or None."""
    if "\x00" in text:
        return None
    lexed = lex(text)
    spans = sorted([(a, b, True) for a, b in lexed.comments] + [(a, b, False) for a, b in lexed.strings])
    literals: list[str] = []
    parts: list[str] = []
    pos = 0
    for a, b, is_comment in spans:
        if a < pos:
            continue
        parts.append(text[pos:a])
        if is_comment:
            parts.append(" ")  # a line comment's newline is after its span: it stays
        else:
            parts.append(f"\x00{len(literals)}\x00")
            literals.append(text[a:b])
        pos = b
    parts.append(text[pos:])
    code = "".join(parts).replace("\\\r\n", "").replace("\\\n", "")
    if _LAYOUT.search(code):
        return None
    out: list[str] = []
    run: list[str] = []  # code lines since the last directive
    for line in code.split("\n"):
        stripped = _SPACE.sub(" ", line).strip()
        if _LINE_DIRECTIVE.match(stripped):
            continue  # `#line N "file"` moves diagnostics only (and __LINE__, which has no normal form)
        if stripped.startswith("#"):
            if run:
                out.append(" ".join(run))
                run = []
            out.append(stripped)
        elif stripped:
            run.append(stripped)
    if run:
        out.append(" ".join(run))
    joined = "\n".join(out)
    return _PLACEHOLDER.sub(lambda m: literals[int(m.group(1))], joined)
