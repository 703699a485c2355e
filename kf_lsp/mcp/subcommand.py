"""`kf mcp`: the MCP server's subcommand (argparse), added to `kf` by kf_lsp/main.py."""

from __future__ import annotations

import argparse
import os
import re
from typing import Any

from kf_lsp.core.errors import InputError

DEFAULT_KEY_ENV = "OPENAI_API_KEY"


def _settings_file(path: str) -> Any:
    """The editor's `kf` settings object (docs/lsp.md) from a JSON file: the LLM endpoints
    (`llm.endpoints`), budgets, tuning... A value kf cannot use is an error here (exit 2)."""
    import json

    from kf_lsp.core.settings import parse_settings, unwrap

    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    except ValueError as e:
        raise InputError(f"{path}: not JSON: {e}") from None
    settings, warnings = parse_settings(unwrap(raw))
    if warnings:
        raise InputError(f"{path}: {warnings[0]}")
    return settings


def run(args: argparse.Namespace, console: Any) -> int:
    """`kf mcp`: the MCP server for coding agents (kf_lsp/mcp/server.py, docs/agents.md)."""
    import msgspec

    from kf_lsp.core.secrets import take_secrets
    from kf_lsp.core.settings import Settings, key_envs

    from .server import LOOPBACK, serve

    if args.http is not None and args.host not in LOOPBACK:
        raise InputError(f"--host {args.host}: kf mcp serves HTTP on loopback only (127.0.0.1, localhost, ::1)")
    for root in args.root or []:
        if not os.path.isdir(root):
            raise InputError(f"--root {root}: no such folder")
    if bool(args.llm_base_url) != bool(args.model):
        raise InputError("--llm-base-url and --model go together")
    if args.max_jobs < 1:
        raise InputError(f"--max-jobs must be at least 1, got {args.max_jobs}")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", args.api_key_env):
        raise InputError(f"--api-key-env {args.api_key_env!r}: not an environment variable's name")
    settings = _settings_file(args.settings) if args.settings else Settings()
    llm = settings.llm
    if args.llm_base_url:
        llm = msgspec.structs.replace(llm, base_url=args.llm_base_url, model=args.model[0],
                                      models=list(dict.fromkeys(args.model[1:] + list(llm.models))))
    if args.api_key_env != DEFAULT_KEY_ENV or not args.settings:
        llm = msgspec.structs.replace(llm, api_key_env=args.api_key_env)
    settings = msgspec.structs.replace(settings, llm=llm, max_jobs=args.max_jobs)
    take_secrets(key_envs(settings.llm))  # before any thread: the workers it spawns never see a key
    return serve(roots=args.root, http=args.http, host=args.host, log_level=args.log_level, settings=settings)


def add_parser(sub: Any) -> None:
    m = sub.add_parser("mcp", help="run the MCP server for coding agents (stdio; --http PORT on loopback)")
    m.add_argument("--root", action="append", metavar="DIR",
                   help="a folder the tools may use when the client declares no roots (default: the current folder)")
    m.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP at http://HOST:PORT/mcp instead of stdio")
    m.add_argument("--host", default="127.0.0.1", help="the loopback address --http listens on (default 127.0.0.1)")
    m.add_argument("--llm-base-url", metavar="URL",
                   help="the OpenAI-compatible endpoint optimize may use (its name in calls: default); calls "
                        "choose among configured endpoints and models by name, never a URL of their own")
    m.add_argument("--model", metavar="NAME", action="append",
                   help="a model at --llm-base-url; repeat it to let calls choose (the first is the default)")
    m.add_argument("--api-key-env", default=DEFAULT_KEY_ENV, metavar="VAR",
                   help="the environment variable holding the key of --llm-base-url (default OPENAI_API_KEY); "
                        "kf takes it out of its environment at start: no worker process inherits it")
    m.add_argument("--settings", metavar="FILE",
                   help="a JSON file with the editor's `kf` settings (docs/lsp.md): further endpoints under "
                        "llm.endpoints, budget, tuning...; flags win over it")
    m.add_argument("--max-jobs", type=int, default=2, metavar="N", help="searches running at once (default 2)")
    m.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                   help="what the server logs to stderr (default INFO)")
    m.set_defaults(func=run)
