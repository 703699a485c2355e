"""`kf mcp`: the MCP server's subcommand (argparse), added to `kf` by kf_lsp/main.py."""

from __future__ import annotations

import argparse
import os
from typing import Any

from kf_lsp.core.errors import InputError


def run(args: argparse.Namespace, console: Any) -> int:
    """`kf mcp`: the MCP server for coding agents (kf_lsp/mcp/server.py, docs/agents.md)."""
    from kf_lsp.core.settings import LLMSettings, Settings

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
    llm = LLMSettings(base_url=args.llm_base_url, model=args.model or "", api_key_env=args.api_key_env)
    settings = Settings(llm=llm, max_jobs=args.max_jobs)
    return serve(roots=args.root, http=args.http, host=args.host, log_level=args.log_level, settings=settings)


def add_parser(sub: Any) -> None:
    m = sub.add_parser("mcp", help="run the MCP server for coding agents (stdio; --http PORT on loopback)")
    m.add_argument("--root", action="append", metavar="DIR",
                   help="a folder the tools may use when the client declares no roots (default: the current folder)")
    m.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP at http://HOST:PORT/mcp instead of stdio")
    m.add_argument("--host", default="127.0.0.1", help="the loopback address --http listens on (default 127.0.0.1)")
    m.add_argument("--llm-base-url", metavar="URL", help="default OpenAI-compatible endpoint for optimize")
    m.add_argument("--model", metavar="NAME", help="the model name at --llm-base-url")
    m.add_argument("--api-key-env", default="OPENAI_API_KEY", metavar="VAR",
                   help="the environment variable holding the LLM key (default OPENAI_API_KEY)")
    m.add_argument("--max-jobs", type=int, default=2, metavar="N", help="searches running at once (default 2)")
    m.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                   help="what the server logs to stderr (default INFO)")
    m.set_defaults(func=run)
