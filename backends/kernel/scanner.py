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
from dataclasses import dataclass

from backends.model import Diagnostic, KernelSource, Language, Range
from backends.kernel.declarations import Declaration, declaration, parameters, statement_start, template_header
from backends.kernel.spec import parse_spec
from backends.kernel.text import Lines, blank, kf_comment_text, lex, match_bracket, split_top
from backends.kernel.tunables import TunableError, defaults

__all__ = ["KernelNotFound", "language_of", "find_kernels", "find_kernel"]


class KernelNotFound(Exception):
    """No kernel of that name (the message lists the kernels present)."""


# ---------------------------------------------------------------------------
# Files and kernels
# ---------------------------------------------------------------------------

_CUDA_EXT = (".cu", ".cuh")
_SYCL_EXT = (".cpp", ".cxx", ".cc", ".hpp", ".hxx", ".sycl", ".h")
_SYCL_MARK = re.compile(r"SYCL_EXT_ONEAPI_FUNCTION_PROPERTY|#\s*include\s*<sycl/sycl\.hpp>")
_SYCL_PROP = re.compile(r"\bSYCL_EXT_ONEAPI_FUNCTION_PROPERTY\s*\(")
_SYCL_KIND = re.compile(r"\b(nd_range_kernel|single_task_kernel)\b")
_GLOBAL = re.compile(r"\b__global__\b")


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


@dataclass
class _Found:
    language: Language
    decl: Declaration
    start: int  # definition start
    end: int  # past the closing brace
    unbalanced: bool = False


def _find_decls(code: str, language: Language | None) -> list[_Found]:
    found: list[_Found] = []
    if language in (None, "cuda"):
        for m in _GLOBAL.finditer(code):
            d = declaration(code, m.end())
            if d and d.body_open >= 0:
                found.append(_Found("cuda", d, statement_start(code, m.start()), -1))
    if language in (None, "sycl"):
        after = -1
        for m in _SYCL_PROP.finditer(code):
            if m.start() < after:
                continue
            j = match_bracket(code, m.end() - 1)
            if j < 0 or not _SYCL_KIND.search(code, m.end(), j):
                continue
            d = declaration(code, j)
            if d:
                after = d.params_close
                if d.body_open >= 0:
                    found.append(_Found("sycl", d, statement_start(code, m.start()), -1))
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
        c = kf_comment_text(t)
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
    if language is None and path.lower().endswith(_CUDA_EXT):
        language = "cuda"
    try:
        scan = lex(text)
        scan_code = blank(text, scan.comments + scan.strings + scan.preprocessor)
        no_comments = blank(text, scan.comments)
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
            c = kf_comment_text(t)
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
        params = parameters(scan_code, d)
        header = template_header(scan_code, f.start, d.name_start)
        tparams: list[str] = []
        if header:
            for _, piece in split_top(scan_code[header[0] + 1:header[1] - 1]):
                eq = split_top(piece, "=")
                decl = piece[:eq[1][0] - 1] if len(eq) > 1 else piece
                nm = re.search(r"[A-Za-z_]\w*\s*$", decl)
                if nm:
                    tparams.append(nm.group().strip())
        spec, spec_diags = (None, [])
        if any(c.split()[1:2] not in (["begin"], ["end"])
               for c in (kf_comment_text(t) or "" for _, t in spec_lines)):
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
            template_params=tparams, form="global" if f.language == "cuda" else "free_function",
            content_hash=hashlib.sha256(region.encode("utf-8", "surrogatepass")).hexdigest(),
        ))
    return [_with_code_hash(text, k) for k in kernels]


def _with_code_hash(text: str, kernel: KernelSource) -> KernelSource:
    """code_hash: the region plus the tunable values the file binds outside it (a
    `#define BLOCK 256` above the kernel), so a change there is a change of the kernel."""
    digest = hashlib.sha256(kernel.content_hash.encode())
    if kernel.spec is not None and kernel.spec.tunables:
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
