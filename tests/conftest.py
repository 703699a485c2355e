"""Suite-wide check: no test file leaves a kf process running after it (issue 22).

A `kf serve` / `kf mcp` / `kf optimize` a test started and did not end keeps its evaluation
workers busy on CI's two cores for the rest of the suite, and a later test that looks for
"its" kf process among this process's children may find that one instead. After each test
file (its module-scoped fixtures are torn down first: this autouse fixture is set up before
them), every kf process descending from pytest must be gone: a process that is still ending
(a server that got EOF on stdin and is stopping its workers) gets a generous guard to finish;
one still there after it is killed, so the rest of the suite runs clean, and reported as an
error of that file. Also the fixtures several files share (the tiny LLM server).
"""

from __future__ import annotations

import os
import signal
import time

import pytest

GUARD_S = 60.0  # a guard for a process that is ending on a loaded machine, not a pace


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item, nextitem):
    """A test's timeout (pytest-timeout) is a guard: scaled by the machine's slowdown when the
    test starts (tests/machine_load.py), so a loaded machine does not fail a passing test."""
    from machine_load import slowdown

    factor = slowdown()
    if factor > 1.0:
        marker = item.get_closest_marker("timeout")
        base = (marker.args[0] if marker.args else marker.kwargs.get("timeout")) if marker is not None else None
        if base is None:
            base = item.config.getini("timeout") or 0
        if float(base) > 0:
            item.add_marker(pytest.mark.timeout(float(base) * factor), append=False)
    yield


def _table() -> tuple[dict[int, int], dict[int, str]]:
    parents, cmds = {}, {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/status") as f:
                fields = dict(ln.split(":", 1) for ln in f if ":" in ln)
            if fields.get("State", "").split()[:1] == ["Z"]:
                continue  # ended, not yet reaped: not running
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, ValueError):
            continue
        parents[int(name)] = int(fields.get("PPid", "0").strip() or 0)
        cmds[int(name)] = cmd
    return parents, cmds


def kf_processes() -> dict[int, str]:
    """pid -> command line of every running kf process (`-m kf_lsp ...`, the `kf` script)
    descending from this one."""
    if not os.path.isdir("/proc/self"):
        return {}
    parents, cmds = _table()
    me, out = os.getpid(), {}
    for pid, cmd in cmds.items():
        argv = cmd.split()
        if not ("kf_lsp" in argv or any(a.endswith("/kf") or a == "kf" for a in argv[:2])):
            continue
        p, seen = pid, set()
        while p in parents and p not in seen:
            seen.add(p)
            p = parents[p]
            if p == me:
                out[pid] = cmd
                break
    return out


@pytest.fixture(scope="module", autouse=True)
def no_kf_process_outlives_its_test_file(request):
    before = set(kf_processes())  # (none, unless a conftest-less caller started one)
    yield
    deadline = time.monotonic() + GUARD_S
    left = {p: c for p, c in kf_processes().items() if p not in before}
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = {p: c for p, c in kf_processes().items() if p not in before}
    if not left:
        return
    parents, _ = _table()
    doomed = set(left)
    while True:  # and what they started (their evaluation workers, compilers)
        more = {p for p, pp in parents.items() if pp in doomed} - doomed
        if not more:
            break
        doomed |= more
    for pid in doomed:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    pytest.fail(f"{request.module.__name__}: {len(left)} kf process(es) still running {GUARD_S:.0f} s after "
                f"the file's tests ended (killed): " + "; ".join(f"{p}: {c[:160]}" for p, c in sorted(left.items())),
                pytrace=False)


@pytest.fixture(scope="session")
def tiny_llm_server():
    """One real tiny LLM server (tests/tiny_llm.py) for the whole run: starting it loads the
    weights, and the prompts of the tests that use it share their system message, which the
    server then reads once (llama.cpp keeps the longest common prefix of the last prompt)."""
    import tiny_llm

    with tiny_llm.TinyLLMServer() as server:
        yield server
