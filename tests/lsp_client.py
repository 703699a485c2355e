"""A pytest-lsp client for `kf serve` (shared by tests/test_lsp_e2e.py and
benchmarks/lsp_latency.py).

`kf_session(root, settings)` starts the server as a subprocess (`python -m kf_lsp
serve`) over stdio, initializes it with a capable client (work-done progress, apply
edit, configuration, dynamic watched-files registration, lens/hint refresh) and shuts it
down at the end. `Doc` keeps the client's copy of an open document and applies the
server's workspace/applyEdit to it (answering applied=True and sending didChange).

Workaround: lsprotocol's structure hook for `textDocument/codeAction` results
(`list[Command | CodeAction]`) turns a CodeAction that carries a nested command into a
Command; `code_actions` receives the raw JSON and structures each item itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from typing import Any, AsyncIterator

from lsprotocol import types as lsp
from pytest_lsp import LanguageClient, make_test_lsp_client

from kf_lsp.core.jobs import JOB_FINISHED, JOB_PROGRESS, JOB_STARTED
from kf_lsp.lsp.commands import to_plain
from machine_load import slowdown

SERVER = [sys.executable, "-m", "kf_lsp", "serve", "--log-level", "WARNING"]
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def capabilities() -> lsp.ClientCapabilities:
    return lsp.ClientCapabilities(
        workspace=lsp.WorkspaceClientCapabilities(
            apply_edit=True, configuration=True,
            workspace_edit=lsp.WorkspaceEditClientCapabilities(document_changes=True),
            did_change_configuration=lsp.DidChangeConfigurationClientCapabilities(dynamic_registration=False),
            did_change_watched_files=lsp.DidChangeWatchedFilesClientCapabilities(dynamic_registration=True),
            execute_command=lsp.ExecuteCommandClientCapabilities(),
            code_lens=lsp.CodeLensWorkspaceClientCapabilities(refresh_support=True),
            inlay_hint=lsp.InlayHintWorkspaceClientCapabilities(refresh_support=True),
            workspace_folders=True),
        text_document=lsp.TextDocumentClientCapabilities(
            synchronization=lsp.TextDocumentSyncClientCapabilities(did_save=True),
            hover=lsp.HoverClientCapabilities(content_format=[lsp.MarkupKind.Markdown]),
            code_lens=lsp.CodeLensClientCapabilities(),
            inlay_hint=lsp.InlayHintClientCapabilities(),
            publish_diagnostics=lsp.PublishDiagnosticsClientCapabilities(version_support=True),
            code_action=lsp.CodeActionClientCapabilities(
                code_action_literal_support=lsp.ClientCodeActionLiteralOptions(
                    code_action_kind=lsp.ClientCodeActionKindOptions(value_set=list(lsp.CodeActionKind))),
                disabled_support=True, is_preferred_support=True)),
        window=lsp.WindowClientCapabilities(work_done_progress=True, show_message=lsp.ShowMessageRequestClientCapabilities()),
    )


def apply_text_edits(text: str, edits: list[lsp.TextEdit]) -> str:
    lines = text.split("\n")

    def offset(p: lsp.Position) -> int:
        return sum(len(line) + 1 for line in lines[:p.line]) + min(p.character, len(lines[p.line]) if p.line < len(lines) else 0)

    for e in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        a, b = offset(e.range.start), offset(e.range.end)
        text = text[:a] + e.new_text + text[b:]
        lines = text.split("\n")
    return text


class Doc:
    def __init__(self, client: LanguageClient, path: str, text: str | None = None):
        self.client = client
        self.path = path
        self.uri = "file://" + os.path.realpath(path)
        self.text = text if text is not None else open(path).read()
        self.version = 1

    def open(self) -> "Doc":
        self.client.text_document_did_open(lsp.DidOpenTextDocumentParams(
            lsp.TextDocumentItem(self.uri, "cpp", self.version, self.text)))
        self.client.docs[self.uri] = self
        return self

    def replace(self, text: str) -> None:
        self.text = text
        self.version += 1
        self.client.text_document_did_change(lsp.DidChangeTextDocumentParams(
            lsp.VersionedTextDocumentIdentifier(self.version, self.uri),
            [lsp.TextDocumentContentChangeWholeDocument(text)]))

    def save(self) -> None:
        with open(self.path, "w") as f:
            f.write(self.text)
        self.client.text_document_did_save(lsp.DidSaveTextDocumentParams(lsp.TextDocumentIdentifier(self.uri)))

    def close(self) -> None:
        self.client.text_document_did_close(lsp.DidCloseTextDocumentParams(lsp.TextDocumentIdentifier(self.uri)))
        self.client.docs.pop(self.uri, None)

    def line_of(self, needle: str) -> int:
        return next(i for i, line in enumerate(self.text.split("\n")) if needle in line)

    def pos(self, needle: str, line_needle: str | None = None) -> lsp.Position:
        i = self.line_of(line_needle or needle)
        return lsp.Position(i, self.text.split("\n")[i].index(needle) + 1)


def make_client() -> LanguageClient:
    client = make_test_lsp_client()
    client.kf_events = []  # (method, payload) of kf/* notifications
    client.applied_edits = []
    client.docs = {}
    client.refreshes = 0
    client.registrations = []

    def record(method: str):
        def handler(client: LanguageClient, params: Any) -> None:
            client.kf_events.append((method, to_plain(params)))
        return handler

    for m in (JOB_STARTED, JOB_PROGRESS, JOB_FINISHED):
        client.feature(m)(record(m))

    @client.feature(lsp.WORKSPACE_APPLY_EDIT)
    def apply_edit(client: LanguageClient, params: lsp.ApplyWorkspaceEditParams) -> lsp.ApplyWorkspaceEditResult:
        client.applied_edits.append(params)
        for change in params.edit.document_changes or []:
            doc = client.docs.get(change.text_document.uri)
            if doc is None:
                return lsp.ApplyWorkspaceEditResult(applied=False, failure_reason="document not open")
            if change.text_document.version is not None and change.text_document.version != doc.version:
                return lsp.ApplyWorkspaceEditResult(applied=False, failure_reason="version mismatch")
            doc.replace(apply_text_edits(doc.text, list(change.edits)))
        return lsp.ApplyWorkspaceEditResult(applied=True)

    @client.feature(lsp.WORKSPACE_CODE_LENS_REFRESH)
    def lens_refresh(client: LanguageClient, params: Any) -> None:
        client.refreshes += 1

    @client.feature(lsp.WORKSPACE_INLAY_HINT_REFRESH)
    def hint_refresh(client: LanguageClient, params: Any) -> None:
        return None

    @client.feature(lsp.CLIENT_REGISTER_CAPABILITY)
    def register(client: LanguageClient, params: lsp.RegistrationParams) -> None:
        client.registrations.extend(params.registrations)

    # the codeAction workaround: raw JSON back, structured below
    original = client.protocol.get_result_type
    client.protocol.get_result_type = lambda method: None if method == lsp.TEXT_DOCUMENT_CODE_ACTION else original(method)
    return client


@contextlib.asynccontextmanager
async def kf_session(root: str, settings: dict | None = None, init_options: dict | None = None,
                     env: dict | None = None) -> AsyncIterator[LanguageClient]:
    client = make_client()
    if settings is not None:
        client.set_configuration(settings, section="kf")
    full_env = {**os.environ, "PYTHONPATH": REPO + os.pathsep + os.environ.get("PYTHONPATH", ""), **(env or {})}
    await client.start_io(*SERVER, env=full_env, cwd=root)
    try:
        await client.initialize_session(lsp.InitializeParams(
            capabilities=capabilities(), root_uri="file://" + os.path.realpath(root),
            workspace_folders=[lsp.WorkspaceFolder("file://" + os.path.realpath(root), "ws")],
            initialization_options=init_options))
        yield client
    finally:
        try:
            await asyncio.wait_for(client.shutdown_session(), timeout=30)
        except Exception:
            pass
        await client.stop()


# -- requests --------------------------------------------------------------------------------


async def code_lenses(client: LanguageClient, uri: str) -> list[lsp.CodeLens]:
    return await client.text_document_code_lens_async(lsp.CodeLensParams(lsp.TextDocumentIdentifier(uri))) or []


async def lens_titles(client: LanguageClient, uri: str) -> list[str]:
    return [lens.command.title for lens in await code_lenses(client, uri) if lens.command]


async def hover_text(client: LanguageClient, uri: str, pos: lsp.Position) -> str | None:
    h = await client.text_document_hover_async(lsp.HoverParams(lsp.TextDocumentIdentifier(uri), pos))
    return h.contents.value if h is not None else None


async def code_actions(client: LanguageClient, uri: str, line: int) -> list[lsp.CodeAction]:
    raw = await client.protocol.send_request_async(lsp.TEXT_DOCUMENT_CODE_ACTION, lsp.CodeActionParams(
        lsp.TextDocumentIdentifier(uri), lsp.Range(lsp.Position(line, 0), lsp.Position(line, 0)),
        lsp.CodeActionContext(diagnostics=[])))
    conv = client.protocol._converter
    out = []
    for item in to_plain(raw) or []:
        if isinstance(item.get("command"), str):
            cmd = conv.structure(item, lsp.Command)
            out.append(lsp.CodeAction(cmd.title, command=cmd))
        else:
            out.append(conv.structure(item, lsp.CodeAction))
    return out


async def inlay_hints(client: LanguageClient, uri: str) -> list[lsp.InlayHint]:
    return await client.text_document_inlay_hint_async(lsp.InlayHintParams(
        lsp.TextDocumentIdentifier(uri), lsp.Range(lsp.Position(0, 0), lsp.Position(10000, 0)))) or []


async def execute(client: LanguageClient, command: str, *arguments: Any) -> Any:
    return to_plain(await client.workspace_execute_command_async(
        lsp.ExecuteCommandParams(command=command, arguments=list(arguments))))


SLOW_MACHINE_FLOOR = 60.0  # seconds: CI is a loaded 2-core machine; a deadline is never the assertion


async def wait_for(predicate, timeout: float = 60.0, interval: float = 0.1, what: str = "condition") -> Any:
    """Poll an async or plain predicate until it returns something truthy. The deadline is a
    guard against hanging, never what a test checks: it is at least SLOW_MACHINE_FLOOR, so a
    loaded machine that takes longer than a test's author expected does not fail it (a
    passing test returns as soon as the condition holds), and it scales with the machine's load
    (tests/machine_load.py)."""
    guard = max(timeout, SLOW_MACHINE_FLOOR) * slowdown()
    deadline = time.monotonic() + guard
    while True:
        r = predicate()
        if asyncio.iscoroutine(r):
            r = await r
        if r:
            return r
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {guard:.0f}s waiting for {what} (asked {timeout:g}s; "
                               f"load average {os.getloadavg()[0]:.1f})")
        await asyncio.sleep(interval)


def events(client: LanguageClient, method: str, job: str | None = None) -> list[dict]:
    return [p for m, p in client.kf_events if m == method and (job is None or p.get("jobId") == job)]
