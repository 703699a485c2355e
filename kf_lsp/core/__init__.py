"""The layer every front shares: jobs that drive searches and benchmarks, the state and
snapshots the views read, settings, the workspace's kernel index, applying a variant, and
result tables. It imports evolver and backends, never a front (cli, lsp, mcp)."""
