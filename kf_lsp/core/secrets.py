"""Secrets leave the environment when kf starts, so no child process inherits them.

Evaluation workers run generated (untrusted) code and inherit the environment of the
process that spawns them; so do the compilers they start. At start, kf moves every
variable that looks like a credential (backends/run/environment.py: `*_API_KEY`,
`*_TOKEN`, `AWS_*`, ...) and every variable named as an LLM key variable (`--api-key-env`,
`kf.llm.apiKeyEnv`) out of `os.environ` into the in-process key store
(backends/run/environment.py), where the LLM client still finds the configured key. Nothing else
reads them: the endpoint a key goes to is the one whoever started kf configured.
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
    return sorted(moved)


def secret_values() -> list[str]:
    """The values to blank in logs and results (at least 8 characters: shorter ones would
    blank ordinary words)."""
    return [v for v in known_keys() if len(v) >= 8]
