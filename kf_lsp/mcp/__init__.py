"""The MCP server for coding agents (`kf mcp`): the tools, their argument and result records,
and the SDK wiring. Imports core, evolver and backends only."""
