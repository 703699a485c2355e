"""Can NVRTC compile this file as it is? The first line that says no, and why.

NVRTC compiles device code only: it has no C or C++ standard library headers and refuses
host functions ("host functions are not allowed in JIT mode"). Real .cu files hold
`main`, host helpers, `<stdio.h>`, `<cuda_runtime.h>` calls and `<<<...>>>` launches; those
go to nvcc, which compiles the file's device code (`-cubin`) and parses the host code as
the project's build does. A file is NVRTC's when every header it includes can be found on
NVRTC's path (the CUDA toolkit's device headers, the few C headers kf provides for NVRTC in
nvrtc_headers/, the project's own headers, themselves clean) and no function in it or in
those headers is a host function (no `__device__`/`__global__`). The analysis reads the
text (tree-sitter for functions, a line scan for includes); it does not preprocess, so an
include or function under an `#if` counts as if present: when in doubt, nvcc.
"""

from __future__ import annotations

import os
import re
from typing import NamedTuple, Sequence

from backends.kernel.text import Lines, blank, lex, mask

__all__ = ["Blocker", "nvrtc_blocker", "SHIM_DIR", "SHIMS"]

SHIM_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nvrtc_headers")
SHIMS = frozenset(n for n in os.listdir(SHIM_DIR) if not n.startswith("kf_")) if os.path.isdir(SHIM_DIR) else frozenset()

# CUDA headers that hold host-only code or need the host's C++ library
_HOST_CUDA = re.compile(r"^(thrust|cub|cublas|cublasLt|cufft|curand\.h|cusparse|cusolver|cudnn|nccl|nvtx|npp|"
                        r"nvml|cuda_profiler_api|cupti|nvrtc|nvJitLink|cutlass|cute)")
_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*([<"])([^>"\n]+)[>"]', re.M)
_MAX_DEPTH = 8


class Blocker(NamedTuple):
    """Why NVRTC cannot take a file: where (0-based line and column) and what."""

    path: str
    line: int
    column: int
    kind: str  # "host-header" | "host-include" (a project header with host code) | "host-function" | "launch" | "missing-header"
    what: str  # the text at fault: `#include <stdio.h>`, `int main(...)`, `kernel<<<...>>>`

    def describe(self) -> str:
        return {"host-header": f"{self.what} is a host header",
                "host-function": f"{self.what} is host code",
                "launch": f"{self.what} is a kernel launch (host code)",
                "missing-header": f"{self.what}: header not found"}.get(self.kind, self.what)  # host-include: as is


def _resolve(name: str, quoted: bool, here: str, include_dirs: Sequence[str], system_dirs: Sequence[str]
             ) -> tuple[str, str] | None:
    """(where, path): "local" for the file's folder or the project's -I, "cuda" for the
    toolkit's, "shim" for kf's NVRTC headers; None when no folder has it."""
    if quoted:
        p = os.path.join(here, name)
        if os.path.isfile(p):
            return "local", os.path.normpath(p)
    for d in include_dirs:
        p = os.path.join(d, name)
        if os.path.isfile(p):
            return "local", os.path.normpath(p)
    for d in system_dirs:
        p = os.path.join(d, name)
        if os.path.isfile(p):
            return "cuda", os.path.normpath(p)
    if name in SHIMS:
        return "shim", os.path.join(SHIM_DIR, name)
    return None


_ANNOTATION = re.compile(r"\b(__global__|__device__)\b")
_MACRO = re.compile(r"^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)[ \t]+([^\n]*)$", re.M)


def _annotation_macros(text: str) -> set[str]:
    """Object-like macros that stand for an execution space (`#define HD __host__ __device__`)."""
    found: set[str] = set()
    for m in _MACRO.finditer(text):
        if _ANNOTATION.search(m.group(2)) or any(re.search(rf"\b{re.escape(x)}\b", m.group(2)) for x in found):
            found.add(m.group(1))
    return found


def _host_function(text: str, path: str, macros: set[str] = frozenset()) -> Blocker | None:
    """The first function definition (or launch) in `text` that is host code."""
    from backends.kernel import syntax

    try:
        tree = syntax.parse(text)
    except Exception:
        return None
    lines = Lines(text)
    for node in syntax.walk(tree.root, lambda n: n.type not in ("function_definition", "lambda_expression")):
        if node.type == "function_definition":
            body = node.child_by_field_name("body")
            if body is None:
                continue
            a, b = tree.span(node)
            head = text[a:tree.span(body)[0]]
            if _ANNOTATION.search(head) or re.search(r"=\s*(default|delete)\s*;?$", head):
                continue
            if macros and any(re.search(rf"\b{re.escape(x)}\b", head) for x in macros):
                continue
            # `__host__ __device__` is fine; a template's header is part of the head
            pos = lines.pos(a)
            first = " ".join(head.split())
            what = first[:60] + ("..." if len(first) > 60 else "")
            return Blocker(path, pos.line, pos.column, "host-function", f"`{what}`")
    code = mask(text)
    m = re.search(r"<<<", code)
    if m:
        pos = lines.pos(m.start())
        line = text[lines.starts[pos.line]:lines.line_end(pos.line)].strip()
        return Blocker(path, pos.line, pos.column, "launch", f"`{line[:60]}`")
    return None


def nvrtc_blocker(path: str, text: str, include_dirs: Sequence[str] = (), system_dirs: Sequence[str] = (),
                  skip: tuple[int, int] | None = None) -> Blocker | None:
    """The first thing in `text` (or a project header it includes) that NVRTC cannot compile;
    None when the file is device code NVRTC can take whole. `include_dirs` are the project's
    (-I), `system_dirs` the CUDA toolkit's headers. `skip`: a (start, end) offset span left
    out of the check (the kernel's own region: a variant may change it, the choice may not)."""
    seen: set[str] = set()
    macros: set[str] = set()

    def check(p: str, t: str, depth: int, span: tuple[int, int] | None) -> Blocker | None:
        if span is not None:
            t = t[:span[0]] + "".join(c if c == "\n" else " " for c in t[span[0]:span[1]]) + t[span[1]:]
        code = blank(t, lex(t).comments)  # comments out, include names (string-like) kept
        lines = Lines(t)
        here = os.path.dirname(os.path.abspath(p))
        found: list[Blocker] = []
        for m in _INCLUDE.finditer(code):
            quoted, name = m.group(1) == '"', m.group(2).strip()
            pos = lines.pos(m.start())
            close = '"' if quoted else ">"
            what = f"`#include {m.group(1)}{name}{close}`"
            hit = _resolve(name, quoted, here, include_dirs, system_dirs)
            if hit is None:
                kind = "missing-header" if quoted else "host-header"
                found.append(Blocker(p, pos.line, pos.column, kind, what))
                break
            where, hp = hit
            if where == "cuda" and _HOST_CUDA.match(name):
                found.append(Blocker(p, pos.line, pos.column, "host-header", what))
                break
            if where == "local" and hp not in seen and depth < _MAX_DEPTH:
                seen.add(hp)
                try:
                    with open(hp, encoding="utf-8", errors="replace") as f:
                        sub = check(hp, f.read(), depth + 1, None)
                except OSError:
                    sub = None
                if sub is not None:  # reported at the include line of this file, naming the header's line
                    kind = "missing-header" if sub.kind == "missing-header" else "host-include"
                    found.append(Blocker(p, pos.line, pos.column, kind,
                                         f"{what} ({os.path.basename(sub.path)}:{sub.line + 1}: {sub.describe()})"))
                    break
        macros.update(_annotation_macros(t))  # a header's `#define HD __host__ __device__` counts below
        fn = _host_function(t, p, macros)
        if fn is not None:
            found.append(fn)
        return min(found, key=lambda b: (b.line, b.column)) if found else None

    return check(path, text, 0, skip)
