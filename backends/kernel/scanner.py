"""Finding CUDA `__global__` kernels and SYCL kernels (free-function kernels, lambdas passed
to `parallel_for`, functions taking `sycl::nd_item<N>`) in source text.

Editors send half-typed files, so nothing here raises on bad input: a malformed kernel
becomes a Diagnostic. A small lexer blanks comments, string contents and preprocessor
lines (keeping every offset and newline), so brace matching and keyword searches see
only code; positions found in the masked text are positions in the real text. SYCL
kernels written inside host code (lambdas, nd_item functions) are read with tree-sitter
(backends/kernel/sycl_forms.py); their parameters are what they take from the host.
"""

from __future__ import annotations

import bisect
import hashlib

import msgspec
import re
from dataclasses import dataclass
from typing import Collection

from backends.model import Diagnostic, KernelSource, Language, Param, Range
from backends.kernel.declarations import Declaration, declaration, parameters, statement_start, template_header
from backends.kernel.spec import parse_spec
from backends.kernel.sycl_forms import WORK_ITEM_PARAM, SyclKernelForm, find_sycl_forms
from backends.kernel.text import Lines, blank, kf_comment_text, lex, match_bracket, split_top
from backends.kernel.tunables import TunableError, defaults, outside_definitions

__all__ = ["KernelNotFound", "language_of", "find_kernels", "find_kernel", "stands_for"]


class KernelNotFound(Exception):
    """No kernel of that name (the message lists the kernels present)."""


# ---------------------------------------------------------------------------
# Files and kernels
# ---------------------------------------------------------------------------

_CUDA_EXT = (".cu", ".cuh")
_SYCL_EXT = (".cpp", ".cxx", ".cc", ".hpp", ".hxx", ".sycl", ".h")
_SYCL_MARK = re.compile(r"SYCL_EXT_ONEAPI_FUNCTION_PROPERTY|#\s*include\s*[<\"](?:sycl/sycl\.hpp|CL/sycl\.hpp|"
                        r"dpct/dpct\.hpp)[>\"]|\bparallel_for\b[\s\S]*\b(?:sycl|cl::sycl)::|"
                        r"\b(?:sycl|cl::sycl)::[\s\S]*\bparallel_for\b|"
                        r"\b(?:sycl|cl::sycl)::(?:nd_item|item)\s*<")
_SYCL_PROP = re.compile(r"\bSYCL_EXT_ONEAPI_FUNCTION_PROPERTY\s*\(")
_SYCL_KIND = re.compile(r"\b(nd_range_kernel|single_task_kernel)\b")
_GLOBAL = re.compile(r"\b__global__\b")


def language_of(path: str, text: str | None = None) -> Language | None:
    """The kernel language of a file: by extension for CUDA; C++ files count as SYCL only
    when they hold SYCL free-function kernels, include <sycl/sycl.hpp> (or <CL/sycl.hpp>,
    dpct's header), call `parallel_for` and name `sycl::`, or name `sycl::nd_item<N>` (a
    header of dpct-style kernels that relies on its includer for <sycl/sycl.hpp>)."""
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
    decl: Declaration | None
    start: int  # definition start (a lambda: the statement holding its parallel_for call)
    end: int  # past the closing brace
    unbalanced: bool = False
    form: SyclKernelForm | None = None  # a lambda or nd_item function kernel
    extent: int = -1  # where its text starts when before `start` (a lambda stored in a variable)


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
    for f in found:
        close = match_bracket(code, f.decl.body_open)
        f.end, f.unbalanced = (close, False) if close > 0 else (len(code), True)
    return found


def _forms(text: str, code: str, functions: Collection[str] = (), path: str = "") -> list[_Found]:
    """SYCL lambdas and nd_item functions (tree-sitter reads the host code around them)."""
    out = []
    for form in find_sycl_forms(text, functions, path):
        decl = None
        if form.form == "nd_item_function":
            decl = declaration(code, form.start)
            if decl is None or decl.name != form.name:
                decl = None
        unbalanced = not text[form.start:form.end].rstrip().endswith((";", "}"))
        out.append(_Found("sycl", decl, form.statement[0], form.end, unbalanced, form,
                          form.start if form.start < form.statement[0] else -1))
    return out


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


def find_kernels(text: str, path: str, language: Language | None = None,
                 nd_item_functions: Collection[str] = ()) -> list[KernelSource]:
    """Every kernel defined in `text`, in file order. With no language, the file's
    extension decides; an unknown extension looks for both kinds. `nd_item_functions`
    names functions taking a SYCL work-item that are kernels even though no `parallel_for`
    of `text` launches them (a fragment: an LLM's rewrite of such a kernel)."""
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
    if language in (None, "sycl") and ("parallel_for" in text or nd_item_functions or WORK_ITEM_PARAM.search(text)):
        try:
            lifted = _forms(text, scan_code, nd_item_functions, path)
        except Exception:  # a bug in the finder must not hide the other kernels
            lifted = []
        free = {f.decl.name for f in found if f.language == "sycl" and f.decl is not None}
        found += [f for f in lifted if f.form.name not in free]
    found.sort(key=lambda f: f.start)
    pairs, unpaired = _markers(lines, no_comments) if "@kf" in text else ([], [])
    kernels: list[KernelSource] = []
    seen: dict[str, int] = {}
    for f in found:
        errors: list[Diagnostic] = []
        d = f.decl
        form = f.form
        kname = form.name if form is not None else d.name
        name_start = form.name_span[0] if form is not None else d.name_start
        name_end = form.name_span[1] if form is not None else d.name_start + len(d.name)
        name_pos = lines.pos(name_start)
        start_pos, end_pos = lines.pos(f.start), lines.pos(f.end)
        if f.unbalanced:
            errors.append(Diagnostic(path, name_pos.line, name_pos.column, "error",
                                     f"kernel '{kname}' has no closing brace"))
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
        if f.extent >= 0:  # a lambda stored in a variable above its parallel_for: both are the kernel
            region_start = min(region_start, lines.starts[lines.pos(f.extent).line]
                               if not text[lines.starts[lines.pos(f.extent).line]:f.extent].strip() else f.extent)
        region_end = f.end
        for b_line, e_line in pairs:
            if lines.starts[b_line] <= f.start and f.end <= lines.starts[e_line]:
                region_start, region_end = lines.starts[b_line], lines.line_end(e_line)
                break
        for u in unpaired:
            if u < start_pos.line:
                errors.append(Diagnostic(path, u, 0, "warning",
                                         "`@kf begin` / `@kf end` without its partner: ignored"))
        header = None
        tparams: list[str] = []
        if form is not None:
            params, tparams, form_errors = _form_params(path, lines, scan_code, form, d)
            errors += form_errors
            header = (0, 0) if form.form == "nd_item_function" and form.template_params else None
        else:
            params = parameters(scan_code, d)
            header = template_header(scan_code, f.start, d.name_start)
        if header and form is None:
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
                spec, spec_diags = parse_spec(spec_lines, path, params, f.language, tparams,
                                              range_launch=_range_launch(form))
            except Exception as e:  # a bug in the parser must not hide the kernel
                spec_diags = [Diagnostic(path, spec_lines[0][0], 0, "error",
                                         f"internal error reading the spec: {e}")]
        errors = spec_diags + errors
        if kname in seen:
            errors.append(Diagnostic(path, name_pos.line, name_pos.column, "warning",
                                     f"duplicate kernel name '{kname}' (also defined at "
                                     f"line {seen[kname] + 1}): `kf` picks the first"))
        else:
            seen[kname] = name_pos.line
        region = text[region_start:region_end]
        kernels.append(KernelSource(
            file=path, language=f.language, name=kname, params=params,
            definition=Range(start_pos, end_pos),
            name_range=Range(name_pos, lines.pos(name_end)),
            region=Range(lines.pos(region_start), lines.pos(region_end)),
            spec=spec, spec_errors=errors, is_template=header is not None,
            template_params=tparams,
            form=form.form if form is not None else ("global" if f.language == "cuda" else "free_function"),  # type: ignore[arg-type]
            content_hash=hashlib.sha256(region.encode("utf-8", "surrogatepass")).hexdigest(),
            dims=form.dims if form is not None else 0,
            range_launch=_range_launch(form),
        ))
    return [_with_code_hash(text, _header_tunables(text, k)) for k in kernels]


def _header_tunables(text: str, kernel: KernelSource) -> KernelSource:
    """A spec error at the tune line of each tunable an included header defines so that kf
    cannot set it (`#define BLOCK_Y 8` in kernel.h without `#ifndef BLOCK_Y`): the launch would
    take kf's value and the kernel the header's."""
    if kernel.spec is None or not kernel.spec.tunables:
        return kernel
    try:
        found = outside_definitions(text, kernel)
    except (OSError, ValueError, TunableError):
        return kernel
    if not found:
        return kernel
    lines = text.splitlines()
    errors = list(kernel.spec_errors)
    for name, why in found:
        line = next(t.line for t in kernel.spec.tunables if t.name == name)
        row = lines[line] if line < len(lines) else ""
        m = re.search(rf"\btune\s+({re.escape(name)})\b", row)
        errors.append(Diagnostic(kernel.file, line, m.start(1) if m else 0, "error", why))
    return msgspec.structs.replace(kernel, spec_errors=errors)


def _range_launch(form: SyclKernelForm | None) -> bool:
    """A `range` launch (kf picks the work-group): `global` alone is a whole launch shape."""
    return form is not None and form.range_launch is True


def _form_params(path: str, lines: Lines, code: str, form: SyclKernelForm, d: Declaration | None
                 ) -> tuple[list[Param], list[str], list[Diagnostic]]:
    """A lambda's parameters are the variables it captures and uses (pointers and accessors
    are buffers, scalars are variables); an nd_item function's are its own, less the
    work-item and the local memory the launching lambda hands it."""
    errors = []
    for off, msg in form.problems:
        p = lines.pos(off)
        errors.append(Diagnostic(path, p.line, p.column, "error", f"kf cannot lift '{form.name}': {msg}"))
    tparams = [n for _, n, _ in form.template_params]
    if form.form == "nd_item_function":
        params = parameters(code, d) if d is not None else []
        skip = {form.item_index} | set(form.local_args)
        return [p for i, p in enumerate(params) if i not in skip], tparams, errors
    params = []
    for v in form.variables:
        if v.kind in ("pointer", "accessor"):
            elem = _opencl_scalar(v.elem) or "auto"
            params.append(Param(name=v.name, type=v.type or f"{elem}*", base_type=elem,
                                is_pointer=True, is_const=v.const))
        elif v.kind == "scalar":
            base = _opencl_scalar(" ".join(re.sub(r"\b(const|volatile)\b", " ", v.type).split())) or "auto"
            params.append(Param(name=v.name, type=v.type or "auto", base_type=base,
                                is_pointer=False, is_const="const" in v.type.split()))
    if any(p.base_type == "auto" for p in params):
        tparams = tparams + ["auto"]  # an element type the code does not say: the spec's type is taken
    return params, tparams, errors


_OPENCL = {"cl_char": "signed char", "cl_uchar": "unsigned char", "cl_short": "short",
           "cl_ushort": "unsigned short", "cl_int": "int", "cl_uint": "unsigned int", "cl_long": "int64_t",
           "cl_ulong": "uint64_t", "cl_half": "half", "cl_float": "float", "cl_double": "double"}


def _opencl_scalar(type_text: str) -> str:
    """SYCL 1.2.1's OpenCL scalar aliases (`cl::sycl::cl_int`) as the C types they are."""
    t = re.sub(r"^(?:cl\s*::\s*)?sycl\s*::\s*", "", type_text.strip())
    return _OPENCL.get(t, type_text)


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


def stands_for(found: KernelSource, reference: KernelSource) -> bool:
    """Whether a kernel read from a code fragment (an LLM's reply, a variant's region) is
    `reference`: the same name, or for a lambda without a kernel name (`main#2`, named after
    the function around it, which a fragment lacks) an unnamed lambda read outside any
    function (`lambda#1`)."""
    if found.name == reference.name:
        return True
    return (reference.form == "lambda" and found.form == "lambda" and "#" in reference.name
            and found.name.startswith("lambda#"))


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
    raise KernelNotFound(f"no kernel '{name}' in {path} (kernels: {present})" + _launcher_note(text, name, kernels))


def _launcher_note(text: str, name: str, kernels: list[KernelSource]) -> str:
    """Why a named `parallel_for<class NAME>` lambda is not a kernel here: it hands its work-item
    to a function of the file, which kf reads as the kernel (a candidate that moved the
    original's lambda body into a helper next to it): say so, and how to keep the lambda."""
    m = re.search(r"\bparallel_for\s*<\s*(?:class\s+|struct\s+)?" + re.escape(name) + r"\s*>", text)
    if m is None:
        return ""
    functions = [k.name for k in kernels if k.form == "nd_item_function"]
    nxt = text.find("parallel_for", m.end())
    body = text[m.end(): nxt if nxt >= 0 else len(text)]
    called = [(c.start(), f) for f in functions if (c := re.search(r"\b" + re.escape(f) + r"\s*(?:<[^;{}]*>)?\s*\(",
                                                                   body))]
    if not called:
        return ""
    fn = min(called)[1]
    line = text.count("\n", 0, m.start()) + 1
    return (f": the lambda `{name}` (line {line}) hands its work-item to `{fn}`, a function of this file, so kf "
            f"reads `{fn}` as the kernel; to keep the kernel `{name}`, write the work in the lambda's body or "
            "keep the function in a header the file includes")
