"""Enum-typed scalar parameters: the integer type an enum is passed as.

Real kernels take modes as enums (`adamMode_t mode` from HeCBench's reference.h). kf passes a
scalar argument by its element type; an enum is passed as its underlying type: the one it
names (`enum class M : uint8_t`), else `int` (an unscoped enum whose values fit an int is an
int on every ABI kf compiles for). The enum is looked up in the file and the headers it
includes with quotes (next to it, or in the project's include directories).
"""

from __future__ import annotations

import os
import re

__all__ = ["underlying_type"]


def _texts(text: str, path: str, include_dirs: list[str], depth: int = 0, seen: set[str] | None = None):
    seen = seen if seen is not None else {os.path.abspath(path)}
    yield text
    if depth > 3:
        return
    here = os.path.dirname(os.path.abspath(path))
    for m in re.finditer(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"', text, re.M):
        for d in [here] + [x if os.path.isabs(x) else os.path.join(here, x) for x in include_dirs]:
            cand = os.path.abspath(os.path.join(d, m.group(1)))
            if cand in seen or not os.path.isfile(cand):
                continue
            seen.add(cand)
            try:
                with open(cand, encoding="utf-8", errors="replace") as f:
                    t = f.read(1_000_000)
            except OSError:
                break
            yield from _texts(t, cand, include_dirs, depth + 1, seen)
            break


def underlying_type(name: str, text: str, path: str, include_dirs: list[str] | None = None) -> str | None:
    """The integer type enum `name` is passed as, or None when `name` is no enum kf can find."""
    bare = name.replace("const", "").replace("enum", "").strip().split("::")[-1].strip()
    if not re.fullmatch(r"[A-Za-z_]\w*", bare):
        return None
    named = re.compile(rf"\benum\s+(?:class\s+|struct\s+)?{bare}\s*(?::\s*([\w:\s]+?))?\s*\{{")
    typedef = re.compile(rf"\btypedef\s+enum\s*(?:\w+\s*)?(?::\s*([\w:\s]+?))?\s*\{{[^{{}}]*\}}\s*{bare}\s*;")
    for t in _texts(text, path, list(include_dirs or [])):
        m = named.search(t) or typedef.search(t)
        if m:
            return " ".join((m.group(1) or "int").split()).replace("std::", "")
    return None
