"""Running a benchmark in another tree of kf (a commit exported with `git archive`, or this
checkout), side by side with this one: the environment such a run gets.

Shared by the scripts that compare trees (aa_rate.py, eval_speed.py, search_throughput.py,
gpu_throughput.py); they import it by name, being run as `python benchmarks/NAME.py`.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def tree_env(tree: str | Path) -> dict[str, str]:
    """The environment for a run of `tree`: it first on PYTHONPATH, the rest of PYTHONPATH kept
    (dependencies installed with pip --target on a machine without the project installed)
    but this checkout dropped from it, so an earlier tree never falls back on this one's
    modules."""
    rest = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p and Path(p).resolve() != ROOT]
    return dict(os.environ, PYTHONPATH=os.pathsep.join([str(tree), *rest]))
