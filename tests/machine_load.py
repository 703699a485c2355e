"""How much slower than usual this machine runs now: the factor every guard of the suite scales by.

Deadlines in tests are guards against hanging, never what a test checks (docs/testing.md). A
guard written for a quiet 2-core machine fails a passing test on a loaded one: `test_lsp_e2e`'s
first search took over 150 s at load 13 on 2 cores (about 60 s quiet). Guards are multiplied
by this factor when they start, so a passing test still returns as soon as its condition holds.
"""

from __future__ import annotations

import os

MAX_SLOWDOWN = 4.0  # a guard that scales without bound would never end a hung test


def slowdown() -> float:
    """KF_TEST_SLOWDOWN when set; else the 1-minute load average per core; at least 1, at most
    MAX_SLOWDOWN."""
    forced = os.environ.get("KF_TEST_SLOWDOWN")
    if forced:
        return max(1.0, float(forced))
    try:
        per_core = os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:
        return 1.0
    return min(MAX_SLOWDOWN, max(1.0, per_core))
