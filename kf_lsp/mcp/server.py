"""`kf mcp`: the Model Context Protocol server for coding agents (the official `mcp` SDK's
low-level Server), over stdio or streamable HTTP on loopback.

This is the one layer that knows MCP: it lists the tools of kf_lsp/mcp/tools.py with JSON
schemas generated from their msgspec Structs, validates arguments by converting into
them, turns a `ToolError` (or bad arguments) into a tool result with isError (the agent
reads it and corrects itself; the server goes on), and hands the tools the client's
roots and a progress reporter for the request's progressToken. A result's text content is
a summary (kf_lsp/mcp/text.py); the result itself is the structured content. Requests run
concurrently and a cancelled request (notifications/cancelled) cancels its handler:
an evaluation in flight is killed in its worker. Searches are background jobs that
outlive the request that started them.

Roots: on handshake-era connections whose client declares the roots capability, the
client's roots (roots/list, asked at each call); otherwise the folders given with
--root, by default the folder `kf mcp` was started in.

Nothing secret is logged: the SDK's loggers are kept at WARNING (they would log
messages whole), no tool takes or returns a key, and no call can name an endpoint or a key
variable (only endpoints configured at start, by name).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from typing import Any
from urllib.parse import unquote, urlparse

import msgspec

from .records import tool_schema
from .text import summary_text
from .tools import AgentTools, ToolError, llm_refusal
from kf_lsp.core.settings import Settings

__all__ = ["make_server", "serve", "roots_from_uris"]

log = logging.getLogger("kf.mcp")

VERSION = "0.1.0"

INSTRUCTIONS = """kf measures CUDA and SYCL kernels with a harness that cannot be fooled and searches for
faster variants. A typical session: list_kernels -> (draft_spec write=true, if the spec is missing) ->
check_spec -> bench (optionally a candidate you wrote) -> optimize -> job_status(wait_seconds, at most 50 s:
repeat while running) -> results -> apply_variant. Speedups are verified against the original on fresh inputs
and given with a 95% confidence interval; only significant ones (interval above 1) count. Positions are
1-based. A job lives in this server process and ends with it. LLM endpoints are the ones this server was
started with, chosen by name. Paths must lie under the client's roots (or the folder kf mcp was started in).
See docs/agents.md."""


def roots_from_uris(uris: list[str]) -> list[str]:
    """Local folders of file:// root URIs (others are ignored)."""
    out = []
    for uri in uris:
        u = urlparse(str(uri))
        if u.scheme == "file" and u.netloc in ("", "localhost"):
            p = os.path.realpath(unquote(u.path))
            if os.path.isdir(p) and p not in out:
                out.append(p)
    return out


def _quiet_sdk() -> None:
    for name in ("mcp", "mcp.server", "mcp.shared", "httpx", "httpx2", "httpcore", "openai", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", module=r"mcp(\.|$)")
    warnings.filterwarnings("ignore", message=r".*deprecated as of 2026-07-28.*")


class Redact(logging.Filter):
    """Replaces the LLM keys in use by `***` in every log record (a library that echoes a
    key, even partly masked, in an error message must not put it in kf's log)."""

    def __init__(self, secrets):
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        keys = self.secrets()
        if keys:
            text = record.getMessage()
            if record.exc_info:
                text += "\n" + logging.Formatter().formatException(record.exc_info)
            if any(k in text for k in keys):
                record.msg, record.args, record.exc_info, record.exc_text = redact(text, keys), None, None, None
        return True


def redact(text: str, secrets: list[str]) -> str:
    for k in secrets:
        text = text.replace(k, "***")
    return text


def make_server(tools: AgentTools):
    """The SDK's Server with kf's tools on it (the caller owns `tools` and closes it)."""
    import mcp_types as types
    from mcp.server.lowlevel import Server
    from mcp.shared.exceptions import MCPError
    from mcp_types.version import MODERN_PROTOCOL_VERSIONS

    table = tools.table()
    listed = [types.Tool(name=name, description=desc, input_schema=tool_schema(args), output_schema=tool_schema(res),
                         annotations=types.ToolAnnotations(
                             read_only_hint=name in ("list_kernels", "check_spec", "bench", "job_status", "results"),
                             destructive_hint=False, idempotent_hint=name not in ("optimize", "stop"),
                             open_world_hint=name == "optimize"))
              for name, (args, res, _, desc) in table.items()]

    async def list_tools(ctx: Any, params: Any) -> Any:
        return types.ListToolsResult(tools=listed)

    async def client_roots(ctx: Any) -> list[str] | None:
        caps = ctx.session.client_capabilities
        if caps is None or caps.roots is None or ctx.protocol_version in MODERN_PROTOCOL_VERSIONS:
            return None
        try:
            import anyio

            with anyio.fail_after(10), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                found = await ctx.session.list_roots()
        except Exception as e:  # a client that declares roots but cannot answer
            log.warning("roots/list failed (%s: %s); using %s", type(e).__name__, e, ", ".join(tools.default_roots))
            return None
        return roots_from_uris([str(x.uri) for x in found.roots]) or None

    def error(text: str) -> Any:
        return types.CallToolResult(content=[types.TextContent(type="text", text=redact(text, tools.secrets()))],
                                    is_error=True)

    async def call_tool(ctx: Any, params: Any) -> Any:
        name = params.name
        entry = table.get(name)
        if entry is None:
            raise MCPError(code=types.INVALID_PARAMS, message=f"unknown tool {name!r} (tools: {', '.join(table)})")
        args_type, _, fn, _ = entry
        refusal = llm_refusal(name, params.arguments)
        if refusal is not None:
            log.warning("%s", refusal)
            return error(refusal)
        try:
            args = msgspec.convert(params.arguments or {}, args_type)
        except msgspec.ValidationError as e:  # never echoes the values sent, only where they were wrong
            return error(f"kf: {name}: invalid arguments: {e}")

        async def progress(done: float, total: float | None, message: str | None) -> None:
            try:
                await ctx.session.report_progress(done, total, message)
            except Exception as e:  # a gone client must not fail the tool
                log.debug("progress: %s", e)

        try:
            out = await fn(args, await client_roots(ctx), progress)
        except ToolError as e:
            log.info("%s: %s", name, e)
            return error(str(e))
        except Exception as e:
            log.exception("tool %s failed", name)
            return error(f"kf: internal error in {name}: {type(e).__name__}: {e}")
        except BaseException:  # cancelled (notifications/cancelled): an evaluation in flight is killed in its worker
            log.info("%s: cancelled by the client", name)
            raise
        data = msgspec.to_builtins(out)
        whole = msgspec.json.encode(data).decode()
        keys = tools.secrets()
        if any(k in whole for k in keys):  # e.g. an endpoint's error message quoting the key, stored as a verdict
            data = msgspec.json.decode(redact(whole, keys))
        text = redact(summary_text(name, data), keys)  # a summary, not the JSON again (kf_lsp/mcp/text.py)
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)], structured_content=data)

    return Server("kf", version=VERSION, title="kf: faster GPU kernels", instructions=INSTRUCTIONS,
                  on_list_tools=list_tools, on_call_tool=call_tool)


def serve(roots: list[str] | None = None, http: int | None = None, host: str = "127.0.0.1",
          log_level: str = "INFO", settings: Settings | None = None) -> int:
    """Run until the client goes away (stdio: stdin closes). Logs go to stderr; stdout is
    the protocol's alone (the SDK points fd 1 at stderr while it serves, so no worker's
    stray output can reach the stream)."""
    import anyio

    logging.basicConfig(stream=sys.stderr, level=getattr(logging, log_level.upper(), logging.INFO),
                        format="kf %(levelname)s %(name)s: %(message)s")
    _quiet_sdk()
    folders = [os.path.realpath(x) for x in (roots or [os.getcwd()])]

    async def main() -> None:
        tools = AgentTools(folders, settings)
        for handler in logging.getLogger().handlers:
            handler.addFilter(Redact(tools.secrets))
        server = make_server(tools)
        tools.warm()  # in the background: the first optimize must not stall the loop importing the engine
        log.info("kf mcp %s: roots %s", "stdio" if http is None else f"http://{host}:{http}/mcp", ", ".join(folders))
        try:
            if http is None:
                from mcp.server.stdio import stdio_server

                async with stdio_server() as (read, write):
                    await server.run(read, write, server.create_initialization_options())
            else:
                import uvicorn

                app = server.streamable_http_app(host=host)
                config = uvicorn.Config(app, host=host, port=http, log_level="warning", lifespan="on")
                await uvicorn.Server(config).serve()
        finally:
            await tools.close()

    try:
        anyio.run(main)
    except KeyboardInterrupt:
        pass
    return 0


LOOPBACK = ("127.0.0.1", "localhost", "::1")
