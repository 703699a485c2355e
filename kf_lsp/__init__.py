"""kf's fronts over the evolver and backends: the command line (`cli/`), the language server
(`lsp/`) and the MCP server for coding agents (`mcp/`), over one shared layer (`core/`: jobs,
the state the views read, settings, the kernel index, records, applying a variant, tables).

Fronts import `core` and the layers below (evolver, backends), never each other; `core`
imports no front. `main.py` is the `kf` program, the one module above the fronts.
"""
