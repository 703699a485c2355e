"""C/C++ source text: a total lexer that blanks comments, strings and preprocessor lines,
offset <-> line/column conversion, and bracket matching.

The layer every kernel-reading module stands on: blanked text keeps every offset and
newline, so positions found in it are positions in the real text. Imports nothing of kf
but the model.
"""

from __future__ import annotations

import bisect
import functools
import re
from dataclasses import dataclass, field

from backends.model import Position, Range

__all__ = ["Lexed", "lex", "blank", "mask", "Lines", "match_bracket", "split_top", "call_args",
           "range_to_offsets", "kf_comment_text"]

# ---------------------------------------------------------------------------
# Lexer
# ---------------------------------------------------------------------------

_SPECIAL = re.compile(r'//|/\*|"|\'|\n|^[ \t]*#', re.M)
_STRING = re.compile(r'"(?:[^"\\\n]|\\[\s\S])*"?')
_CHAR = re.compile(r"'(?:[^'\\\n]|\\[\s\S])*'?")
_RAW_PREFIX = re.compile(r"(?:^|[^\w])(u8R|uR|UR|LR|R)$")
_RAW_OPEN = re.compile(r'"([^()\\\s"]{0,16})\(')
_NUMBER_BEFORE = re.compile(r"(?:^|[^\w])\d[\w.]*$")
_NON_NEWLINE = re.compile(r"[^\n]")


@dataclass
class Lexed:
    comments: list[tuple[int, int]] = field(default_factory=list)  # whole comment spans
    strings: list[tuple[int, int]] = field(default_factory=list)  # contents only
    preprocessor: list[tuple[int, int]] = field(default_factory=list)  # directive lines


def lex(text: str) -> Lexed:
    """Comment, string-content and preprocessor spans of `text` (never raises)."""
    out = Lexed()
    pos, n = 0, len(text)
    pp_start: int | None = None
    while pos < n:
        m = _SPECIAL.search(text, pos)
        if not m:
            break
        tok, start = m.group(), m.start()
        if tok == "\n":
            pos = m.end()
            if pp_start is not None and not text[:start].rstrip("\r").endswith("\\"):
                out.preprocessor.append((pp_start, start))
                pp_start = None
        elif tok.endswith("#"):
            pos = m.end()
            if pp_start is None:
                pp_start = start
        elif tok == "//":
            end = start
            while True:
                nl = text.find("\n", end)
                if nl < 0:
                    end = n
                    break
                end = nl
                if not text[start:nl].rstrip("\r").endswith("\\"):
                    break
                end = nl + 1
            out.comments.append((start, end))
            pos = end
        elif tok == "/*":
            end = text.find("*/", start + 2)
            end = n if end < 0 else end + 2
            out.comments.append((start, end))
            pos = end
        elif tok == '"':
            raw = _RAW_PREFIX.search(text, max(0, start - 4), start)
            ro = _RAW_OPEN.match(text, start) if raw else None
            if ro:
                close = text.find(")" + ro.group(1) + '"', ro.end())
                end = n if close < 0 else close + len(ro.group(1)) + 2
                out.strings.append((start + 1, max(start + 1, end - 1)))
                pos = end
            else:
                sm = _STRING.match(text, start)
                end = sm.end()
                inner_end = end - 1 if end - start > 1 and text[end - 1] == '"' else end
                out.strings.append((start + 1, inner_end))
                pos = end
        else:  # "'": a character literal or a digit separator (1'000'000)
            if _NUMBER_BEFORE.search(text, max(0, start - 40), start):
                pos = start + 1
                continue
            cm = _CHAR.match(text, start)
            end = cm.end()
            inner_end = end - 1 if end - start > 1 and text[end - 1] == "'" else end
            out.strings.append((start + 1, inner_end))
            pos = end
    if pp_start is not None:
        out.preprocessor.append((pp_start, n))
    return out


@functools.lru_cache(maxsize=4)
def _lex_cached(text: str) -> Lexed:
    return lex(text)


def blank(text: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return text
    chars = list(text)
    for a, b in spans:
        chars[a:b] = _NON_NEWLINE.sub(" ", text[a:b])
    return "".join(chars)


@functools.lru_cache(maxsize=8)
def mask(text: str, *, comments: bool = True, strings: bool = True,
         preprocessor: bool = True) -> str:
    """`text` with the chosen parts replaced by spaces (newlines kept): same length, same
    line numbers and columns, so offsets found in the result apply to `text`. Cached (a few
    texts): finding a file's kernels masks the same text once per kernel with tunables,
    which made a 1 MB file with many kernels take minutes to scan."""
    scan = _lex_cached(text)
    return blank(text, (scan.comments if comments else []) + (scan.strings if strings else [])
                  + (scan.preprocessor if preprocessor else []))


class Lines:
    """Offset <-> (line, column) conversion. Columns count characters of the line."""

    def __init__(self, text: str):
        self.text = text
        self.starts = [0] + [m.end() for m in re.finditer(r"\n", text)]

    def __len__(self) -> int:
        return len(self.starts)

    def pos(self, offset: int) -> Position:
        line = bisect.bisect_right(self.starts, offset) - 1
        return Position(line, offset - self.starts[line])

    def line_text(self, line: int) -> str:
        """The line without its line ending."""
        end = self.starts[line + 1] if line + 1 < len(self.starts) else len(self.text)
        return self.text[self.starts[line]:end].rstrip("\n").rstrip("\r")

    def line_end(self, line: int) -> int:
        return self.starts[line] + len(self.line_text(line))

    def offset(self, p: Position) -> int:
        if p.line >= len(self.starts):
            return len(self.text)
        return self.starts[max(0, p.line)] + min(max(0, p.column), len(self.line_text(max(0, p.line))))



_CLOSE = {"(": ")", "[": "]", "{": "}", "<": ">"}


def match_bracket(code: str, i: int) -> int:
    """Index just past the bracket group opening at `i` (-1 if unbalanced). Angle
    brackets are tracked only when the group is one, and never inside parentheses."""
    opener = code[i]
    stack = [_CLOSE[opener]]
    j = i + 1
    while j < len(code):
        c = code[j]
        if c in "([{" or (c == "<" and opener == "<" and stack[-1] != ")"):
            stack.append(_CLOSE[c])
        elif c in ")]}" or (c == ">" and stack[-1] == ">"):
            if c != stack[-1]:
                if c == ">":
                    j += 1
                    continue
                return -1
            stack.pop()
            if not stack:
                return j + 1
        elif c == ";" and opener == "<":
            return -1
        j += 1
    return -1


def split_top(s: str, sep: str = ",") -> list[tuple[int, str]]:
    """Split at top-level separators (outside (), [], {}, <>); (offset, piece) pairs."""
    parts, depth, angle, start = [], 0, 0, 0
    for i, c in enumerate(s):
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth = max(0, depth - 1)
        elif c == "<" and depth == 0:
            angle += 1
        elif c == ">" and depth == 0 and angle:
            angle -= 1
        elif c == sep and depth == 0 and angle == 0:
            parts.append((start, s[start:i]))
            start = i + 1
    parts.append((start, s[start:]))
    return parts


def call_args(code: str, open_paren: int) -> tuple[list[str], int]:
    """The texts of the top-level arguments of the call whose '(' is at `open_paren` (as
    written, unstripped; `f()` has one, empty), and the offset just past its ')': -1 when it
    never closes, the last argument then running to the end of `code`. Brackets of every kind
    nest alike; angle brackets are not tracked (a `<` in an argument may be a comparison)."""
    depth, args, start = 0, [], open_paren + 1
    for i in range(open_paren, len(code)):
        c = code[i]
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
            if depth == 0:
                args.append(code[start:i])
                return args, i + 1
        elif c == "," and depth == 1:
            args.append(code[start:i])
            start = i + 1
    args.append(code[start:])
    return args, -1


def range_to_offsets(text: str, rng: Range) -> tuple[int, int]:
    """(start, end) string offsets of a 0-based line/column range; columns count
    characters and are clamped to their line, lines past the end map to len(text)."""
    lines = Lines(text)
    return lines.offset(rng.start), lines.offset(rng.end)


_KF_LINE = re.compile(r"^\s*(?://+!?|/\*+!?|\*+(?!/))?\s*(@kf\b.*)$")


def kf_comment_text(line: str) -> str | None:
    """'@kf ...' when a comment line carries a spec entry, else None."""
    m = _KF_LINE.match(line)
    return m.group(1).rstrip() if m else None
