"""The search: an archive of variants, operators that propose new ones, a database.

It never compiles or launches anything itself: evaluations go through backends' pool.
Names are imported lazily (`import evolver.records` stays cheap: pyribs is only loaded
when an Archive is built).
"""

from __future__ import annotations

import importlib

_NAMES = {
    "Archive": "archive", "Decision": "archive", "accepts": "archive",
    "Search": "engine",
    "Store": "store", "default_path": "store", "search_key": "store", "variant_id": "store",
    "workspace_of": "store",
    "TuningOperator": "tuning",
    "Budget": "records", "EvaluationDone": "records", "Event": "records", "Finished": "records",
    "LLMConfig": "records", "NewElite": "records", "Progress": "records", "Prompt": "records",
    "SearchConfig": "records", "SearchError": "records", "SearchKey": "records", "Variant": "records",
}

__all__ = sorted(_NAMES)


def __getattr__(name: str):
    module = _NAMES.get(name)
    if module is None:
        raise AttributeError(f"module 'evolver' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
