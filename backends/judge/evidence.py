"""Where a failing evaluation was when it failed: the size and seed, in words and back.

The harness names every run `n=1000, m=7, seed 1` (derived sizes add ` (derived)`; the
timed runs have seed -1) in its stage reports; when a worker dies or hangs, only that
stage text reaches the pool, so `failed_check` reads the size and seed back from it and
the result's `checks` still say where it failed (docs/results.md).
"""

from __future__ import annotations

import re
from typing import Mapping

from backends.model import CheckReport

__all__ = ["run_label", "failed_check", "COMPILING_MEANWHILE"]

# added to every stage text while the candidate compiles in a thread beside it (harness.py):
# a process that dies or hangs then cannot be blamed on either side; the pool runs the
# request again with the compile in turn (EvalOptions.compile_overlap = False) to find out
COMPILING_MEANWHILE = " (the candidate compiling meanwhile)"

_LABEL = re.compile(r"\(((?:[A-Za-z_]\w*=-?\d+(?:, )?)*)( \(derived\))?, seed (-?\d+)")


def run_label(sizes: Mapping[str, int], seed: int, derived: bool) -> str:
    text = ", ".join(f"{k}={v}" for k, v in sizes.items()) or "default size"
    return f"{text}{' (derived)' if derived else ''}, seed {seed}"


def failed_check(stage: str, message: str) -> list[CheckReport]:
    """[the failing run] read from a stage text such as 'running the candidate (n=37 (derived), seed 0)'."""
    m = _LABEL.search(stage)
    if not m:
        return []
    sizes = {k: int(v) for k, v in (kv.split("=") for kv in m.group(1).split(", ") if kv)}
    return [CheckReport(sizes, int(m.group(3)), False, message=message, derived=bool(m.group(2)))]
