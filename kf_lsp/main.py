"""The `kf` program: the command line with the language server (`kf serve`) and the MCP
server (`kf mcp`) as subcommands. This launcher sits above the three fronts, which never
import each other (tests/test_layers.py)."""

from __future__ import annotations

import sys
from typing import Sequence

from kf_lsp.cli.main import main as cli_main
from kf_lsp.core.secrets import take_secrets
from kf_lsp.lsp.subcommand import add_parser as add_serve
from kf_lsp.mcp.subcommand import add_parser as add_mcp


def main(argv: Sequence[str] | None = None) -> int:
    take_secrets()  # before any thread or child process: none of them inherits a credential
    return cli_main(argv, fronts=(add_serve, add_mcp))


if __name__ == "__main__":
    sys.exit(main())
