"""compute-sanitizer's command lines and reports (backends/judge/sanitizer.py), without a GPU.

The report texts below follow the format compute-sanitizer prints (NVIDIA's documentation and
public logs of it: `========= Invalid __global__ read ...`, `RACECHECK SUMMARY: ...`); they
were written for these tests, not captured here (no GPU). tests/test_checks_hostile_cuda.py
runs the real tool on the GPU machine and reads its real output with the same parser."""

from __future__ import annotations

import sys

import pytest

from backends.judge import sanitizer
from backends.judge.sanitizer import DONE, command, parse
from backends.model import Verdict

MEMCHECK = f"""========= COMPUTE-SANITIZER
========= Invalid __global__ read of size 4 bytes
=========     at saxpy+0x90 in /home/user/saxpy.cu:24
=========     by thread (6,0,0) in block (0,0,0)
=========     Address 0x7f3a2e000104 is out of bounds
=========     and is 1 bytes after the nearest allocation at 0x7f3a2e000000 of size 260 bytes
=========     Saved host backtrace up to driver entry point at kernel launch time
=========         Host Frame: [0x2f2b7e] in libcuda.so.1
=========
{DONE} (14 launches at 7 sizes)
========= ERROR SUMMARY: 7 errors
"""

RACECHECK = """========= COMPUTE-SANITIZER
========= Error: Race reported between Write access at saxpy+0x120 in /home/user/race.cu:18
=========     and Read access at saxpy+0x160 in /home/user/race.cu:20 [248 hazards]
=========
kf-sanitizer-probe: done (4 launches at 2 sizes)
========= RACECHECK SUMMARY: 1 hazard displayed (1 error, 0 warnings)
"""

INITCHECK_CLEAN = f"""========= COMPUTE-SANITIZER
{DONE} (24 launches at 12 sizes)
========= ERROR SUMMARY: 0 errors
"""

INITCHECK = f"""========= COMPUTE-SANITIZER
========= Uninitialized __global__ memory read of size 4 bytes
=========     at reduce+0x1d0 in /home/user/reduce.cu:31
=========     by thread (0,0,0) in block (3,0,0)
=========     Address 0x7f3a2e000300
=========
{DONE} (2 launches at 1 sizes)
========= ERROR SUMMARY: 1 error
"""

PROBE_DIED = """========= COMPUTE-SANITIZER
Traceback (most recent call last):
RuntimeError: the probe could not open the device
========= Target application returned an error
========= ERROR SUMMARY: 0 errors
"""

NOT_STARTED = "compute-sanitizer: error: unrecognised option '--print-limit'\n"


def test_memcheck_errors_are_out_of_bounds_with_the_first_report():
    f = parse("memcheck", MEMCHECK)
    assert f.errors == 7 and f.completed and not f.problem
    assert f.verdict is Verdict.OUT_OF_BOUNDS
    assert f.first.startswith("Invalid __global__ read of size 4 bytes; at saxpy+0x90 in /home/user/saxpy.cu:24")
    assert "out of bounds" in f.first and "Host Frame" not in f.first
    assert "access outside an allocation (7 errors): Invalid __global__ read" in sanitizer.describe(f)


def test_racecheck_counts_errors_not_hazard_lines():
    f = parse("racecheck", RACECHECK)
    assert f.errors == 1 and f.verdict is Verdict.NONDETERMINISTIC
    assert f.first.startswith("Error: Race reported between Write access at saxpy+0x120 in /home/user/race.cu:18")
    assert "and Read access at saxpy+0x160" in f.first
    assert "shared-memory race" in sanitizer.describe(f)


def test_initcheck_findings_and_a_clean_run():
    f = parse("initcheck", INITCHECK)
    assert f.errors == 1 and f.verdict is Verdict.NONDETERMINISTIC and "Uninitialized __global__" in f.first
    clean = parse("initcheck", INITCHECK_CLEAN)
    assert clean.errors == 0 and clean.completed and not clean.problem and not clean.first


def test_a_run_that_did_not_check_anything_is_not_called_clean():
    """A zero from a probe that died before launching anything, or a tool that did not start,
    is no evidence: it is reported as a problem, never as "no findings"."""
    died = parse("memcheck", PROBE_DIED)
    assert died.errors == 0 and not died.completed and "did not run to the end" in died.problem
    none = parse("racecheck", NOT_STARTED)
    assert none.errors == 0 and "no summary" in none.problem


def test_command_lines():
    for tool in sanitizer.TOOLS:
        cmd = command(tool, "/opt/cs/compute-sanitizer", "/tmp/r.json", "/tmp/s.json", python="/usr/bin/python3")
        assert cmd[:3] == ["/opt/cs/compute-sanitizer", "--tool", tool]
        assert cmd[-5:] == ["/usr/bin/python3", "-m", "backends.judge.sanitizer", "/tmp/r.json", "/tmp/s.json"]
        assert "--error-exitcode" in cmd
    assert command("memcheck", "cs", "r", "s")[-5] == sys.executable
    with pytest.raises(ValueError):
        command("synccheck", "cs", "r", "s")


def test_without_the_tool_nothing_is_claimed(monkeypatch):
    monkeypatch.setattr(sanitizer, "find_sanitizer", lambda: None)
    assert sanitizer.check(None, [{}]) == "compute-sanitizer is not installed"
