"""`kf serve`: the language server's subcommand (argparse), added to `kf` by kf_lsp/main.py."""

from __future__ import annotations

import argparse
from typing import Any

from kf_lsp.core.errors import InputError


def run(args: argparse.Namespace, console: Any) -> int:
    from .server import serve

    if args.stdio and args.tcp is not None:
        raise InputError("serve: --stdio and --tcp exclude each other")
    return serve(tcp=args.tcp, host=args.host, log_level=args.log_level)


def add_parser(sub: Any) -> None:
    sv = sub.add_parser("serve", help="run the language server (stdio; --tcp PORT for debugging); docs/lsp.md")
    sv.add_argument("--tcp", type=int, metavar="PORT", help="listen on a TCP port instead of stdio")
    sv.add_argument("--host", default="127.0.0.1", help="the address --tcp listens on (default 127.0.0.1)")
    sv.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"),
                    help="what the server logs to stderr (default INFO)")
    # what LSP clients append by convention (vscode-languageclient's TransportKind.stdio adds
    # --stdio, its node-module transport --clientProcessId=PID): stdio is the default anyway
    sv.add_argument("--stdio", action="store_true", help="talk LSP over stdin/stdout (the default)")
    sv.add_argument("--clientProcessId", metavar="PID", help=argparse.SUPPRESS)
    sv.set_defaults(func=run)
