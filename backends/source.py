"""Finding CUDA `__global__` kernels and SYCL free-function kernels in source text.

Editors send half-typed files, so nothing here raises on bad input: a malformed kernel
becomes a Diagnostic. A small lexer blanks comments, string contents and preprocessor
lines (keeping every offset and newline), so brace matching and keyword searches see
only code; positions found in the masked text are positions in the real text.
"""

from __future__ import annotations

import bisect
import hashlib

import msgspec
import re
from dataclasses import dataclass, field

from .model import Diagnostic, KernelSource, Language, Param, Position, Range

__all__ = ["KernelNotFound", "language_of", "find_kernels", "find_kernel", "mask",
           "template_params", "Lines"]


class KernelNotFound(Exception):
    """No kernel of that name (the message lists the kernels present)."""


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
class _Scan:
    comments: list[tuple[int, int]] = field(default_factory=list)  # whole comment spans
    strings: list[tuple[int, int]] = field(default_factory=list)  # contents only
    preprocessor: list[tuple[int, int]] = field(default_factory=list)  # directive lines


def _scan(text: str) -> _Scan:
    out = _Scan()
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


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    if not spans:
        return text
    chars = list(text)
    for a, b in spans:
        chars[a:b] = _NON_NEWLINE.sub(" ", text[a:b])
    return "".join(chars)


def mask(text: str, *, comments: bool = True, strings: bool = True,
         preprocessor: bool = True) -> str:
    """`text` with the chosen parts replaced by spaces (newlines kept): same length, same
    line numbers and columns, so offsets found in the result apply to `text`."""
    scan = _scan(text)
    return _blank(text, (scan.comments if comments else []) + (scan.strings if strings else [])
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


def _split_top(s: str, sep: str = ",") -> list[tuple[int, str]]:
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


def _statement_start(code: str, pos: int) -> int:
    """Start of the declaration containing `pos`: just after the previous `;`, `{` or `}`."""
    i = max(code.rfind(";", 0, pos), code.rfind("{", 0, pos), code.rfind("}", 0, pos)) + 1
    while i < pos and code[i].isspace():
        i += 1
    return i


@dataclass
class _Decl:
    name: str
    name_start: int
    params_open: int  # index of "("
    params_close: int  # index past ")"
    body_open: int  # index of "{", -1 for a prototype


def _declaration(code: str, pos: int) -> _Decl | None:
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
            return _Decl(last_ident, last_start, i, j, body)
        i += 1
    return None


def _clean(s: str) -> str:
    return " ".join(s.split())


def _param(raw: str) -> Param:
    text = _clean(raw)
    eq = [off for off, _ in _split_top(text, "=")]
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


def _params(code: str, decl: _Decl) -> list[Param]:
    inner = code[decl.params_open + 1:decl.params_close - 1]
    if not inner.strip() or _clean(inner) == "void":
        return []
    return [_param(p) for _, p in _split_top(inner)]


def _template_header(code: str, start: int, stop: int) -> tuple[int, int] | None:
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
    header = _template_header(code, a, b)
    if not header:
        return []
    inner = text[header[0] + 1:header[1] - 1]
    masked_inner = code[header[0] + 1:header[1] - 1]
    out = []
    for off, piece in _split_top(masked_inner):
        if not piece.strip():
            continue  # `template <>`: an explicit specialization
        eq = _split_top(piece, "=")
        decl = _clean(piece[:eq[1][0] - 1] if len(eq) > 1 else piece)
        default = _clean(inner[off + eq[1][0]:off + len(piece)]) if len(eq) > 1 else None
        nm = re.search(r"[A-Za-z_]\w*$", decl)
        name = nm.group() if nm else ""
        kind = _clean(decl[:nm.start()] if nm else decl).replace("...", "").strip()
        out.append((kind or "typename", name, default))
    return out


# ---------------------------------------------------------------------------
# Files and kernels
# ---------------------------------------------------------------------------

_CUDA_EXT = (".cu", ".cuh")
_SYCL_EXT = (".cpp", ".cxx", ".cc", ".hpp", ".hxx", ".sycl", ".h")
_SYCL_MARK = re.compile(r"SYCL_EXT_ONEAPI_FUNCTION_PROPERTY|#\s*include\s*<sycl/sycl\.hpp>")
_SYCL_PROP = re.compile(r"\bSYCL_EXT_ONEAPI_FUNCTION_PROPERTY\s*\(")
_SYCL_KIND = re.compile(r"\b(nd_range_kernel|single_task_kernel)\b")
_GLOBAL = re.compile(r"\b__global__\b")
_KF_LINE = re.compile(r"^\s*(?://+!?|/\*+!?|\*+(?!/))?\s*(@kf\b.*)$")


def language_of(path: str, text: str | None = None) -> Language | None:
    """The kernel language of a file: by extension for CUDA; C++ files count as SYCL only
    when they hold SYCL free-function kernels or include <sycl/sycl.hpp>."""
    low = path.lower()
    if low.endswith(_CUDA_EXT):
        return "cuda"
    if not low.endswith(_SYCL_EXT):
        return None
    if text is None:
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError:
            return None
    return "sycl" if _SYCL_MARK.search(text) else None


def _comment_text(line: str) -> str | None:
    """'@kf ...' when a comment line carries a spec entry, else None."""
    m = _KF_LINE.match(line)
    return m.group(1).rstrip() if m else None


@dataclass
class _Found:
    language: Language
    decl: _Decl
    start: int  # definition start
    end: int  # past the closing brace
    unbalanced: bool = False


def _find_decls(code: str, language: Language | None) -> list[_Found]:
    found: list[_Found] = []
    if language in (None, "cuda"):
        for m in _GLOBAL.finditer(code):
            d = _declaration(code, m.end())
            if d and d.body_open >= 0:
                found.append(_Found("cuda", d, _statement_start(code, m.start()), -1))
    if language in (None, "sycl"):
        after = -1
        for m in _SYCL_PROP.finditer(code):
            if m.start() < after:
                continue
            j = match_bracket(code, m.end() - 1)
            if j < 0 or not _SYCL_KIND.search(code, m.end(), j):
                continue
            d = _declaration(code, j)
            if d:
                after = d.params_close
                if d.body_open >= 0:
                    found.append(_Found("sycl", d, _statement_start(code, m.start()), -1))
    found.sort(key=lambda f: f.start)
    for f in found:
        close = match_bracket(code, f.decl.body_open)
        f.end, f.unbalanced = (close, False) if close > 0 else (len(code), True)
    return found


def _comment_only(lines: Lines, no_comments: str, line: int) -> bool:
    """True for a line holding nothing but comment text."""
    if line < 0 or line >= len(lines):
        return False
    a, b = lines.starts[line], lines.line_end(line)
    return bool(lines.text[a:b].strip()) and not no_comments[a:b].strip()


def _markers(lines: Lines, no_comments: str) -> tuple[list[tuple[int, int]], list[int]]:
    """Paired `@kf begin` / `@kf end` lines, and the lines of unpaired markers."""
    pairs, unpaired, open_line = [], [], None
    for i in range(len(lines)):
        t = lines.line_text(i)
        if "@kf" not in t or not _comment_only(lines, no_comments, i):
            continue
        c = _comment_text(t)
        word = c.split()[1] if c and len(c.split()) == 2 else None
        if word == "begin":
            if open_line is not None:
                unpaired.append(open_line)
            open_line = i
        elif word == "end":
            if open_line is None:
                unpaired.append(i)
            else:
                pairs.append((open_line, i))
                open_line = None
    if open_line is not None:
        unpaired.append(open_line)
    return pairs, unpaired


def find_kernels(text: str, path: str, language: Language | None = None) -> list[KernelSource]:
    """Every kernel defined in `text`, in file order. With no language, the file's
    extension decides; an unknown extension looks for both kinds."""
    from .spec import parse_spec  # spec imports model only; avoids a cycle at import

    if language is None and path.lower().endswith(_CUDA_EXT):
        language = "cuda"
    try:
        scan = _scan(text)
        scan_code = _blank(text, scan.comments + scan.strings + scan.preprocessor)
        no_comments = _blank(text, scan.comments)
        comment_starts = [a for a, _ in scan.comments]
        lines = Lines(text)
        found = _find_decls(scan_code, language)
    except Exception:  # the lexer is total; this is a last line of defence for editors
        return []
    pairs, unpaired = _markers(lines, no_comments) if "@kf" in text else ([], [])
    kernels: list[KernelSource] = []
    seen: dict[str, int] = {}
    for f in found:
        errors: list[Diagnostic] = []
        d = f.decl
        name_pos = lines.pos(d.name_start)
        start_pos, end_pos = lines.pos(f.start), lines.pos(f.end)
        if f.unbalanced:
            errors.append(Diagnostic(path, name_pos.line, name_pos.column, "error",
                                     f"kernel '{d.name}' has no closing brace"))
        # spec comment block directly above the definition
        spec_lines: list[tuple[int, str]] = []
        line = start_pos.line - 1
        first_kf = None
        while _comment_only(lines, no_comments, line):
            t = lines.line_text(line)
            c = _comment_text(t)
            if c is not None:
                spec_lines.append((line, t))
                if c.split()[1:2] not in (["begin"], ["end"]):
                    first_kf = line
            line -= 1
        spec_lines.reverse()
        # region: from the first line of the comment holding the first @kf entry
        region_start = f.start
        if first_kf is not None:
            off = lines.starts[first_kf]
            # the comment holding that line: the last one starting before its end
            i = bisect.bisect_right(comment_starts, lines.line_end(first_kf)) - 1
            if i >= 0 and scan.comments[i][1] > off:
                a = scan.comments[i][0]
                a_line = lines.starts[lines.pos(a).line]
                off = min(off, a if text[a_line:a].strip() else a_line)
            region_start = off
        elif not text[lines.starts[start_pos.line]:f.start].strip():
            region_start = lines.starts[start_pos.line]
        region_end = f.end
        for b_line, e_line in pairs:
            if lines.starts[b_line] <= f.start and f.end <= lines.starts[e_line]:
                region_start, region_end = lines.starts[b_line], lines.line_end(e_line)
                break
        for u in unpaired:
            if u < start_pos.line:
                errors.append(Diagnostic(path, u, 0, "warning",
                                         "`@kf begin` / `@kf end` without its partner: ignored"))
        params = _params(scan_code, d)
        header = _template_header(scan_code, f.start, d.name_start)
        tparams: list[str] = []
        if header:
            for _, piece in _split_top(scan_code[header[0] + 1:header[1] - 1]):
                eq = _split_top(piece, "=")
                decl = piece[:eq[1][0] - 1] if len(eq) > 1 else piece
                nm = re.search(r"[A-Za-z_]\w*\s*$", decl)
                if nm:
                    tparams.append(nm.group().strip())
        spec, spec_diags = (None, [])
        if any(c.split()[1:2] not in (["begin"], ["end"])
               for c in (_comment_text(t) or "" for _, t in spec_lines)):
            try:
                spec, spec_diags = parse_spec(spec_lines, path, params, f.language, tparams)
            except Exception as e:  # a bug in the parser must not hide the kernel
                spec_diags = [Diagnostic(path, spec_lines[0][0], 0, "error",
                                         f"internal error reading the spec: {e}")]
        errors = spec_diags + errors
        if d.name in seen:
            errors.append(Diagnostic(path, name_pos.line, name_pos.column, "warning",
                                     f"duplicate kernel name '{d.name}' (also defined at "
                                     f"line {seen[d.name] + 1}): `kf` picks the first"))
        else:
            seen[d.name] = name_pos.line
        region = text[region_start:region_end]
        kernels.append(KernelSource(
            file=path, language=f.language, name=d.name, params=params,
            definition=Range(start_pos, end_pos),
            name_range=Range(name_pos, lines.pos(d.name_start + len(d.name))),
            region=Range(lines.pos(region_start), lines.pos(region_end)),
            spec=spec, spec_errors=errors, is_template=header is not None,
            template_params=tparams,
            content_hash=hashlib.sha256(region.encode("utf-8", "surrogatepass")).hexdigest(),
        ))
    return [_with_code_hash(text, k) for k in kernels]


def _with_code_hash(text: str, kernel: KernelSource) -> KernelSource:
    """code_hash: the region plus the tunable values the file binds outside it (a
    `#define BLOCK 256` above the kernel), so a change there is a change of the kernel."""
    digest = hashlib.sha256(kernel.content_hash.encode())
    if kernel.spec is not None and kernel.spec.tunables:
        from .tunables import TunableError, defaults

        try:
            bound = defaults(text, kernel)
        except (TunableError, ValueError):
            bound = {}
        digest.update(repr(sorted(bound.items())).encode())
    return msgspec.structs.replace(kernel, code_hash=digest.hexdigest())


def find_kernel(text: str, path: str, name: str | None) -> KernelSource:
    """The kernel called `name` (the first of duplicates); with no name, the only one."""
    kernels = find_kernels(text, path)
    present = ", ".join(k.name for k in kernels) or "none"
    if name is None:
        if len(kernels) == 1:
            return kernels[0]
        if not kernels:
            raise KernelNotFound(f"no kernel found in {path}")
        raise KernelNotFound(f"{path} has {len(kernels)} kernels ({present}): name one")
    for k in kernels:
        if k.name == name:
            return k
    raise KernelNotFound(f"no kernel '{name}' in {path} (kernels: {present})")
