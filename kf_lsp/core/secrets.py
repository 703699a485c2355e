"""Secrets leave the environment when kf starts, so no child process inherits them.

Evaluation workers run generated (untrusted) code and inherit the environment of the
process that spawns them; so do the compilers they start. At start, kf moves every
variable that looks like a credential (backends/run/environment.py: `*_API_KEY`,
`*_TOKEN`, `AWS_*`, ...) and every variable named as an LLM key variable (`--api-key-env`,
`kf.llm.apiKeyEnv`) out of `os.environ` into the in-process key store
(backends/run/environment.py), where the LLM client still finds the configured key. Nothing else
reads them: the endpoint a key goes to is the one whoever started kf configured.

Unsetting a variable only drops it from the C `environ` array: the kernel keeps showing the
block the process started with as /proc/PID/environ, which any process of the same user
(a worker running generated code among them) can read. So the taken entries are also
zeroed in that block, and the process is made non-dumpable (as ssh-agent is): another
process of the same user, not root, can then neither read its memory nor attach to it.
"""

from __future__ import annotations

import os
from typing import Iterable

from backends.run.environment import drop_secrets, known_keys, remember_key

__all__ = ["take_secrets", "secret_values"]


def take_secrets(names: Iterable[str] = ()) -> list[str]:
    """Move the secrets (and the variables `names`) from this process's environment into
    the key store; returns the names moved. Call it early, before threads start (the C
    environment is not safe to change under threads that read it)."""
    moved = drop_secrets(os.environ, [n for n in names if n])
    for name, value in moved.items():
        remember_key(name, value)
    if moved:
        _blank_initial_environment({os.fsencode(n) for n in moved})
        _not_dumpable()
    return sorted(moved)


def _blank_initial_environment(names: set[bytes]) -> None:
    """Zero the NAME=VALUE entries of `names` in the environment block the process started
    with (what /proc/PID/environ shows). Only after they left `environ` (nothing points to
    them then). Linux; elsewhere, or when /proc/self/mem is closed, nothing is done."""
    try:
        with open("/proc/self/stat", "rb") as f:  # fields 50, 51: env_start, env_end
            rest = f.read().rsplit(b")", 1)[1].split()
        start, end = int(rest[47]), int(rest[48])
    except (OSError, IndexError, ValueError):
        return
    if not 0 < start < end:
        return
    try:
        fd = os.open("/proc/self/mem", os.O_RDWR)
    except OSError:
        return
    try:
        block, offset = os.pread(fd, end - start, start), 0
        for entry in block.split(b"\0"):
            if entry.partition(b"=")[0] in names:
                os.pwrite(fd, b"\0" * len(entry), start + offset)
            offset += len(entry) + 1
    except OSError:
        pass
    finally:
        os.close(fd)


def _not_dumpable() -> None:
    """prctl(PR_SET_DUMPABLE, 0): the key in this process's memory stays out of reach of other
    processes of the same user (no ptrace, no /proc/PID/mem, no core dump). Children that
    exec (the spawned workers, compilers) are dumpable again."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except (OSError, AttributeError):
        pass


def secret_values() -> list[str]:
    """The values to blank in logs and results (at least 8 characters: shorter ones would
    blank ordinary words)."""
    return [v for v in known_keys() if len(v) >= 8]
