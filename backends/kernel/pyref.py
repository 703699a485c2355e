"""Static facts about `@kf reference` lines and stub kernels, read without running anything.

The language server parses specs on every keystroke, so a Python reference is only *read*
here (with `ast`): the file exists, parses, and defines the function (or, for a
KernelBench-style module, `Model` and `get_inputs`). It is run only in the worker that
evaluates (backends/judge/python_reference.py).

A stub is a kernel with no code yet: an empty body, or a body holding `// @kf stub`. With a
reference in its spec, it is the start of a search that writes the first kernel
(docs/spec.md, "Starting from a reference").
"""

from __future__ import annotations

import ast
import os
import re

from backends.model import KernelSource

__all__ = ["resolve_path", "check_reference", "is_stub", "STUB_MARK"]

STUB_MARK = "@kf stub"


def resolve_path(kernel_path: str, ref_path: str) -> str:
    """The reference file named in a spec, relative to the kernel's file."""
    if os.path.isabs(ref_path):
        return ref_path
    return os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(kernel_path)), ref_path))


def _top_level(tree: ast.Module) -> tuple[dict[str, int], set[str]]:
    functions: dict[str, int] = {}
    classes: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            functions[node.name] = node.lineno
        elif isinstance(node, ast.ClassDef):
            classes.add(node.name)
        elif isinstance(node, ast.Assign):  # `softmax = np_softmax`: a name bound to a callable
            for t in node.targets:
                if isinstance(t, ast.Name):
                    functions.setdefault(t.id, node.lineno)
    return functions, classes


def check_reference(kernel_path: str, ref_path: str, function: str | None) -> tuple[str, str] | None:
    """A problem with the reference as (where: "path" | "function", message), or None. Says
    nothing when the kernel's own file is not on disk (unsaved text: nothing to resolve against)."""
    if not os.path.isdir(os.path.dirname(os.path.abspath(kernel_path))):
        return None
    full = resolve_path(kernel_path, ref_path)
    try:
        with open(full, encoding="utf-8") as f:
            source = f.read()
    except FileNotFoundError:
        return "path", f"reference file `{ref_path}` not found (looked for {full})"
    except OSError as e:
        return "path", f"reference file `{ref_path}`: cannot read it: {e.strerror}"
    try:
        tree = ast.parse(source, filename=full)
    except SyntaxError as e:
        return "path", f"{ref_path}:{e.lineno}: the reference is not valid Python: {e.msg}"
    functions, classes = _top_level(tree)
    if function is not None:
        if function not in functions:
            listed = ", ".join(sorted(functions)) or "none"
            return "function", f"{ref_path} has no top-level function `{function}` (functions: {listed})"
        return None
    missing = [n for n, ok in (("class Model", "Model" in classes), ("get_inputs()", "get_inputs" in functions))
               if not ok]
    if missing:
        return "path", (f"{ref_path} names no function (`{ref_path}:FUNCTION`) and is not a KernelBench-style "
                        f"module: it lacks {' and '.join(missing)}")
    return None


_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)


def _offset(text: str, line: int, column: int) -> int:
    pos = 0
    for _ in range(line):
        nl = text.find("\n", pos)
        if nl < 0:
            return len(text)
        pos = nl + 1
    return pos + column


def is_stub(text: str, kernel: KernelSource) -> bool:
    """True when the kernel has no code yet: its body is empty (comments and whitespace only)
    or holds `// @kf stub`."""
    if kernel.form not in ("global", "free_function"):
        return False
    d = kernel.definition
    src = text[_offset(text, d.start.line, d.start.column):_offset(text, d.end.line, d.end.column)]
    name = src.find(kernel.name + "(")
    if name < 0:
        name = src.find(kernel.name)
    if name < 0:
        return False
    depth, i = 0, src.find("(", name)
    while 0 <= i < len(src):  # the parameter list's closing parenthesis
        if src[i] == "(":
            depth += 1
        elif src[i] == ")":
            depth -= 1
            if depth == 0:
                break
        i += 1
    open_brace, close_brace = src.find("{", i), src.rfind("}")
    if open_brace < 0 or close_brace <= open_brace:
        return False
    body = src[open_brace + 1:close_brace]
    return STUB_MARK in body or not _COMMENTS.sub("", body).strip()
