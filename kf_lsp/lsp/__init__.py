"""The language server (`kf serve`): the protocol layer (rpc, server), the open documents and
their incremental parsing, the file watcher, and the views (lenses, hovers, actions,
diagnostics) as pure functions of core's state. Imports core, evolver and backends only."""
