"""The `kf` command line: bench, spec, optimize, archive, devices, worker, with rich output.
Imports core, evolver and backends only; `serve` and `mcp` are added by kf_lsp/main.py."""
