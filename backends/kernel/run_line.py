"""How a project runs its program: the arguments of the `run` target of the Makefile beside it.

A benchmark that reads its sizes from the command line (`atoi(argv[1])`, no default) has
no size in its source; its Makefile often has one (HeCBench: `run: $(program)` then
`./$(program) 256 256 256 1000`). A draft takes argv[K] from there instead of choosing a
size itself, and says where it came from. Only plain Makefile assignments (`NAME = value`,
`:=`, `?=`) are expanded; a recipe line that runs no `./program` is not a run line.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from functools import lru_cache

MAKEFILES = ("GNUmakefile", "makefile", "Makefile")
_ASSIGN = re.compile(r"^([A-Za-z_][\w.-]*)\s*(?::=|::=|\?=|\+=|=)\s*(.*?)\s*$")
_VAR = re.compile(r"\$[({]([A-Za-z_][\w.-]*)[)}]")
_SHELL_OPS = {"|", "||", "&&", ";", "&", ">", ">>", "<", "2>", "2>&1", "1>", "&>"}


@dataclass(frozen=True)
class RunLine:
    path: str  # the Makefile
    line: int  # 1-based line of the recipe line
    text: str  # the recipe line as written
    args: tuple[str, ...]  # argv[1:], expanded

    def where(self) -> str:
        return f"{os.path.basename(self.path)}:{self.line}"


def run_line(source_path: str) -> RunLine | None:
    """The run target's command line of the Makefile in `source_path`'s folder, or None."""
    folder = os.path.dirname(os.path.abspath(source_path))
    for name in MAKEFILES:
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            try:
                st = os.stat(path)
            except OSError:
                return None
            return _read(path, st.st_mtime_ns, st.st_size)
    return None


@lru_cache(maxsize=64)
def _read(path: str, mtime: int, size: int) -> RunLine | None:
    if size > 1 << 20:
        return None
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().split("\n")
    except OSError:
        return None
    values: dict[str, str] = {}
    for ln in lines:
        if ln.startswith("\t"):
            continue
        m = _ASSIGN.match(ln.split("#", 1)[0])
        if m and not m.group(1).startswith("."):
            op = ln[m.end(1):].lstrip()[:2]
            values[m.group(1)] = (values.get(m.group(1), "") + " " + m.group(2)).strip() if op.startswith("+=") \
                else m.group(2)
    in_run = False
    for i, ln in enumerate(lines):
        if not ln.startswith("\t"):
            head = ln.split("#", 1)[0]
            in_run = ":" in head and "=" not in head.split(":", 1)[0] and \
                "run" in head.split(":", 1)[0].split()
            continue
        if not in_run:
            continue
        found = _command(_expand(ln.strip(), values))
        if found is not None:
            return RunLine(path, i + 1, ln.strip(), found)
    return None


def _expand(text: str, values: dict[str, str], depth: int = 0) -> str:
    if depth > 8:
        return text
    out = _VAR.sub(lambda m: values.get(m.group(1), m.group(0)), text)
    return out if out == text else _expand(out, values, depth + 1)


def _command(line: str) -> tuple[str, ...] | None:
    """argv[1:] of the first `./program` the line runs (a launcher before it is skipped)."""
    line = line.lstrip("@-+ ")
    try:
        words = shlex.split(line, posix=True)
    except ValueError:
        return None
    for i, w in enumerate(words):
        if w.startswith("./") and len(w) > 2 and "$" not in w:
            args = []
            for a in words[i + 1:]:
                if a in _SHELL_OPS or a.startswith((">", "2>", "|")):
                    break
                args.append(a)
            return tuple(args)
    return None
