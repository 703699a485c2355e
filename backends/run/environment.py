"""Which environment variables are secrets, so processes that run generated code never get them.

Generated kernels are untrusted code, and an evaluation worker (or a compiler it starts)
inherits its parent's environment. kf's fronts take the secrets out of their own
environment at start (kf_lsp/core/secrets.py), so every worker they spawn starts without
them; a worker also drops them from its own `os.environ` first thing (local_pool), for
callers that did not. A name is a secret when it is one of the variables named as LLM key
variables (`extra`) or looks like a well-known credential: `*_API_KEY`, `*_TOKEN`,
`*_SECRET*`, `*_PASSWORD`, `*_ACCESS_KEY*`, `*_PRIVATE_KEY`, `*_CREDENTIALS`, any `AWS_*`,
`AZURE_*`, `OPENAI_*`, `ANTHROPIC_*`, `GH_*`, and the ssh agent's socket. Paths kf itself
reads (`KF_TLS_KEY`, a certificate's key file) are not values worth hiding and stay.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping, MutableMapping

__all__ = ["is_secret_name", "without_secrets", "drop_secrets", "remember_key", "key_of", "known_keys"]

_SECRET = re.compile(
    r"(_API_?KEY|_TOKEN|_SECRET|SECRET_|_PASSWORD|_PASSWD|_ACCESS_KEY|_ACCESS_KEY_ID|_PRIVATE_KEY|_CREDENTIALS?"
    r"|_AUTH)$|^(AWS|AZURE|OPENAI|ANTHROPIC|GH)_|_SECRET_"
    r"|^(TOKEN|PASSWORD|API_KEY|APIKEY|SSH_AUTH_SOCK|GOOGLE_APPLICATION_CREDENTIALS)$",
    re.IGNORECASE)


_KEYS: dict[str, str] = {}  # variable name -> value taken out of the environment (never written anywhere)


def remember_key(env: str, value: str) -> None:
    """Keep the value of variable `env` in this process only (not in the environment children inherit)."""
    if value:
        _KEYS[env] = value


def key_of(env: str) -> str | None:
    """The value of the variable `env`: the key store's, else the environment's."""
    import os

    return _KEYS.get(env) or os.environ.get(env) or None


def known_keys() -> list[str]:
    """Every value this process took out of its environment (for blanking logs and results)."""
    return [v for v in _KEYS.values() if v]


def is_secret_name(name: str, extra: Iterable[str] = ()) -> bool:
    """True for a variable that must not reach a process running generated code."""
    return name in set(extra) or bool(_SECRET.search(name))


def without_secrets(env: Mapping[str, str], extra: Iterable[str] = ()) -> dict[str, str]:
    """A copy of `env` without its secrets."""
    names = set(extra)
    return {k: v for k, v in env.items() if not is_secret_name(k, names)}


def drop_secrets(environ: MutableMapping[str, str], extra: Iterable[str] = ()) -> dict[str, str]:
    """Remove the secrets from `environ` (os.environ: also from the process's C environment,
    which children inherit); returns what was removed."""
    names = set(extra)
    removed = {k: v for k, v in list(environ.items()) if is_secret_name(k, names)}
    for k in removed:
        environ.pop(k, None)
    return removed
