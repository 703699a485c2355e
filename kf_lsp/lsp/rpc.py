"""The JSON-RPC layer under pygls: frames read defensively, every request answered.

pygls 2 reads frames in `pygls.io_.run_async`: a strict `Content-Length: N\\r\\n` regex, then
`readexactly(N)`. A malformed header there leaves the loop waiting forever (alive and
deaf), an absurd length is allocated, and a body that does not parse or structure is
logged and dropped, so the request is never answered and the client sees a popup. This
module replaces only that loop (`serve_stream`); the protocol object (pygls's
`LanguageServerProtocol`, subclassed as `KfProtocol`) still dispatches every message.

What the reader does with each kind of damage (each logged once, never shown to the user):
* bare `\\n` line endings in the header: accepted;
* a missing, non-numeric or negative `Content-Length`: the body that follows is decoded if
  it is one whole JSON value, else skipped up to the next header;
* a length over `MAX_MESSAGE_BYTES`: refused without allocating; skipped up to the next header;
* a length too large for its body: the next header inside the "body" (a raw
  `Content-Length:` line cannot occur in valid JSON) ends it, so no message is lost;
* a length too small, invalid UTF-8, invalid JSON: answered with -32700 (with the request's
  id when it can be read from the fragment), the rest skipped to the next header;
* valid JSON that is not a request (no `jsonrpc`, a batch, a bad id): -32600;
* parameters of the wrong type: -32602 naming the method and the offending field.
`exit` ends the loop with the code the LSP spec gives: 0 after `shutdown`, 1 without.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import threading
from typing import Any, Awaitable, Callable

import cattrs
from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.json_rpc import JsonRPCNotification, JsonRPCRequestMessage, ResponseErrorMessage

__all__ = ["KfProtocol", "FrameReader", "serve_stream", "MAX_MESSAGE_BYTES"]

log = logging.getLogger("kf.lsp.rpc")

MAX_MESSAGE_BYTES = 64 * 1024 * 1024  # larger than any document kf accepts (documents.MAX_DOCUMENT_BYTES)
MAX_HEADER_BYTES = 8 * 1024

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_NOT_INITIALIZED = -32002

# a header line that starts a frame; a raw newline cannot occur inside a JSON string, and
# `Content-Length:` is no JSON token, so a match inside a "body" is the next frame's header
_HEADER_LINE = re.compile(rb"Content-Length[ \t]*:[^\r\n]*\r?\n", re.IGNORECASE)
_PARTIAL_HEADER = re.compile(rb"content-length[ \t]*:[ \t]*\d*[ \t]*\r?$")
_ANY_HEADER = re.compile(rb"[A-Za-z][A-Za-z0-9-]*[ \t]*:")
_ID_IN_FRAGMENT = re.compile(rb'"id"\s*:\s*(-?\d{1,15}|"(?:[^"\\]|\\.){0,200}")')


class FrameError(Exception):
    """A frame that could not be read; `msg_id` when the request's id could be recovered."""

    def __init__(self, code: int, message: str, msg_id: Any = None):
        super().__init__(message)
        self.code = code
        self.msg_id = msg_id


class FrameReader:
    """Frames from a byte source (`read_chunk` returns b"" at end of input).

    `next()` returns a body (bytes), raises FrameError for a frame it could read past, or
    returns None at end of input. The buffer never holds more than one message (at most
    MAX_MESSAGE_BYTES) plus one chunk."""

    def __init__(self, read_chunk: Callable[[], Awaitable[bytes]]):
        self._read = read_chunk
        self.buf = bytearray()
        self.eof = False
        self.warned: set[str] = set()

    def _warn_once(self, key: str, message: str) -> None:
        if key not in self.warned:
            self.warned.add(key)
            log.warning("%s", message)

    async def _fill(self) -> bool:
        if self.eof:
            return False
        chunk = await self._read()
        if not chunk:
            self.eof = True
            return False
        self.buf += chunk
        return True

    async def _skip_to_header(self) -> int:
        """Drop bytes up to the next `Content-Length:` line; the bytes dropped."""
        dropped = 0
        while True:
            m = _HEADER_LINE.search(self.buf)
            if m:
                dropped += m.start()
                del self.buf[:m.start()]
                return dropped
            keep = min(len(self.buf), 64)  # a header split across chunks
            dropped += len(self.buf) - keep
            del self.buf[:len(self.buf) - keep]
            if not await self._fill():
                dropped += len(self.buf)
                self.buf.clear()
                return dropped

    async def _headers(self) -> dict[str, str] | bytes | None:
        """The header block at the buffer's start (consumed), or a body sent with no header
        at all (a whole JSON object), or None at end of input."""
        while True:
            while self.buf[:1] in (b"\r", b"\n", b" ", b"\t"):  # stray blank lines between frames
                del self.buf[:1]
            if not self.buf:
                if not await self._fill():
                    return None
                continue
            if not _ANY_HEADER.match(self.buf):
                if self.buf.find(b"\n") < 0 and len(self.buf) < 256 and self.buf[:1].isalpha():
                    if not await self._fill():  # a header still arriving
                        return None
                    continue
                body = self._salvage()
                if body is not None:
                    self._warn_once("no-header", "a message with no header: read up to the end of its JSON")
                    return body
                dropped = await self._skip_to_header()
                self._warn_once("garbage", f"skipped {dropped} bytes that were not a message header "
                                           "(further skips are logged at DEBUG)")
                log.debug("skipped %d bytes before a header", dropped)
                continue
            end = self._header_end()
            while end is None:
                if len(self.buf) > MAX_HEADER_BYTES:
                    dropped = await self._skip_to_header()
                    raise FrameError(PARSE_ERROR, f"a message header longer than {MAX_HEADER_BYTES} bytes "
                                                  f"({dropped} bytes skipped)")
                if not await self._fill():
                    return None
                end = self._header_end()
            block, sep_len = end
            raw = bytes(self.buf[:block])
            del self.buf[:block + sep_len]
            if sep_len == 2:
                self._warn_once("bare-lf", "the client frames messages with bare \\n line endings "
                                           "(LSP asks for \\r\\n): accepted")
            headers: dict[str, str] = {}
            for line in raw.replace(b"\r\n", b"\n").split(b"\n"):
                name, _, value = line.partition(b":")
                headers[name.strip().decode("latin-1").lower()] = value.strip().decode("latin-1")
            return headers

    def _header_end(self) -> tuple[int, int] | None:
        """(length of the header block, length of the blank line after it)."""
        i = self.buf.find(b"\r\n\r\n")
        j = self.buf.find(b"\n\n")
        found = [(i, 4)] if i >= 0 else []
        if j >= 0:
            found.append((j, 2))
        return min(found) if found else None

    async def next(self) -> bytes | None:
        headers = await self._headers()
        if headers is None or isinstance(headers, bytes):
            return headers
        raw_length = headers.get("content-length")
        if raw_length is None or not raw_length.isdigit():
            what = "no Content-Length header" if raw_length is None else f"a bad Content-Length {raw_length!r}"
            body = self._salvage()
            if body is not None:
                self._warn_once("salvaged", f"a message with {what}: read up to the end of its JSON")
                return body
            fragment = self._fragment()
            await self._skip_to_header()
            raise FrameError(PARSE_ERROR, f"a message with {what} (skipped)", _guess_id(fragment))
        length = int(raw_length)
        if length > MAX_MESSAGE_BYTES:
            fragment = self._fragment()
            await self._skip_to_header()
            raise FrameError(PARSE_ERROR, f"refused a message of {length} bytes (the limit is "
                                          f"{MAX_MESSAGE_BYTES // (1024 * 1024)} MiB); skipped", _guess_id(fragment))
        scanned = 0
        while True:
            # a header starting inside the body (it may end past it) ends the body
            m = _HEADER_LINE.search(self.buf, max(0, scanned - 64), min(len(self.buf), length + 256))
            if m and m.start() < length:  # the length was too large: the next frame starts inside the "body"
                body = bytes(self.buf[:m.start()])
                del self.buf[:m.start()]
                self._warn_once("overrun", f"Content-Length {length} is larger than the message "
                                           f"({len(body)} bytes): read up to the next header")
                return body
            if len(self.buf) >= length and (len(self.buf) >= length + 256 or not self._header_may_start(length)):
                body = bytes(self.buf[:length])
                del self.buf[:length]
                return body
            scanned = len(self.buf)
            if not await self._fill():
                body = bytes(self.buf)
                self.buf.clear()
                raise FrameError(PARSE_ERROR, f"input ended inside a message of {length} bytes "
                                              f"({len(body)} read)", _guess_id(body))

    def _header_may_start(self, length: int) -> bool:
        """The body ends with the start of a header line still arriving (`...Content-Len`):
        a JSON value never ends so, a body whose length was too large by a little does."""
        if self.eof:
            return False
        tail = bytes(self.buf[max(0, length - 40):length]).lower()
        return bool(_PARTIAL_HEADER.search(tail)) or any(tail.endswith(b"content-length"[:k]) for k in range(1, 15))

    def _fragment(self) -> bytes:
        """The bytes before the next header (to read a request id from)."""
        head = bytes(self.buf[:4096])
        m = _HEADER_LINE.search(head)
        return head[:m.start()] if m else head

    def _salvage(self) -> bytes | None:
        """The JSON value at the buffer's start, when it is whole (consumed)."""
        if not self.buf[:1] == b"{":
            return None
        text = bytes(self.buf).decode("utf-8", errors="replace")
        try:
            _, end = json.JSONDecoder().raw_decode(text)
        except ValueError:
            return None
        n = len(text[:end].encode("utf-8"))
        body = bytes(self.buf[:n])
        del self.buf[:n]
        return body


def _guess_id(fragment: bytes) -> Any:
    m = _ID_IN_FRAGMENT.search(fragment)
    if not m:
        return None
    try:
        return json.loads(m.group(1))
    except ValueError:
        return None


def _describe_structure_error(exc: BaseException) -> str:
    try:
        lines = cattrs.transform_error(exc)  # type: ignore[arg-type]
    except Exception:
        lines = [str(exc)]
    return "; ".join(lines[:3]) + ("; ..." if len(lines) > 3 else "")


class KfProtocol(LanguageServerProtocol):
    """pygls's protocol, with kf's document store and quiet, precise errors.

    `self._server.documents` (kf_lsp.documents.DocumentStore) replaces pygls's workspace
    documents: incremental changes are applied in O(edit) instead of re-joining every line,
    and a change to a document that was never opened is logged and ignored."""

    exit_code: int | None = None
    initialized_request = False

    def structure_message(self, data: dict[str, Any]):
        if "jsonrpc" not in data:
            return data
        method = data.get("method")
        try:
            if "id" in data and "method" in data:
                return self._converter.structure(data, self.get_message_type(method) or JsonRPCRequestMessage)
            if "id" in data:
                return super().structure_message(data)
            return self._converter.structure(data, self.get_message_type(method or "") or JsonRPCNotification)
        except Exception as exc:
            raise JsonRpcInvalidParams(f"{method}: invalid params: {_describe_structure_error(exc)}") from exc

    def respond_error(self, msg_id: Any, code: int, message: str) -> None:
        self._send_data(ResponseErrorMessage(id=msg_id, error=lsp.ResponseError(code=code, message=message)))

    # -- documents: kf's store instead of pygls's workspace ------------------------------------

    def lsp_text_document__did_open(self, params: lsp.DidOpenTextDocumentParams):
        self._server.documents.open(params.text_document.uri, params.text_document.text,
                                    params.text_document.version)
        if (handler := self.fm.features.get(lsp.TEXT_DOCUMENT_DID_OPEN)) is not None:
            yield handler, (params,), None

    def lsp_text_document__did_change(self, params: lsp.DidChangeTextDocumentParams):
        docs = self._server.documents
        if docs.get(params.text_document.uri) is None:
            whole = [c for c in params.content_changes if isinstance(c, lsp.TextDocumentContentChangeWholeDocument)]
            if not whole:
                log.warning("didChange for %s, which was never opened (ignored: the client should send "
                            "didOpen first)", params.text_document.uri)
                return
            log.warning("didChange for %s, which was never opened: taken as an open", params.text_document.uri)
            docs.open(params.text_document.uri, whole[-1].text, params.text_document.version)
        else:
            docs.change(params.text_document.uri, params.content_changes, params.text_document.version,
                        self._position_encoding())
        if (handler := self.fm.features.get(lsp.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    def lsp_text_document__did_close(self, params: lsp.DidCloseTextDocumentParams):
        self._server.documents.close(params.text_document.uri)
        if (handler := self.fm.features.get(lsp.TEXT_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None

    def _position_encoding(self) -> str:
        caps = getattr(self, "server_capabilities", None)
        enc = getattr(caps, "position_encoding", None) if caps is not None else None
        return str(getattr(enc, "value", enc) or "utf-16")

    for _name, _method in (("lsp_text_document__did_open", lsp.TEXT_DOCUMENT_DID_OPEN),
                           ("lsp_text_document__did_change", lsp.TEXT_DOCUMENT_DID_CHANGE),
                           ("lsp_text_document__did_close", lsp.TEXT_DOCUMENT_DID_CLOSE)):
        locals()[_name].method_name = _method
    del _name, _method


def dispatch(protocol: KfProtocol, body: bytes) -> bool:
    """Decode one frame's body and hand it to pygls. False once `exit` was received."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        protocol.respond_error(_guess_id(body), PARSE_ERROR, f"the message is not valid UTF-8 (byte {e.start})")
        log.warning("a message that is not valid UTF-8 (byte %d): answered -32700", e.start)
        return True
    try:
        data = json.loads(text)
    except ValueError as e:
        protocol.respond_error(_guess_id(body), PARSE_ERROR, f"the message is not valid JSON: {e}")
        log.warning("a message that is not valid JSON (%s): answered -32700", e)
        return True
    if not isinstance(data, dict):
        protocol.respond_error(None, INVALID_REQUEST, f"a message must be a JSON object, not {type(data).__name__}")
        log.warning("a message that is a JSON %s: answered -32600", type(data).__name__)
        return True
    msg_id = data.get("id")
    method = data.get("method")
    if "id" in data and (isinstance(msg_id, bool) or not isinstance(msg_id, (int, str, type(None)))):
        protocol.respond_error(None, INVALID_REQUEST, f"a request id must be a number or a string, not {msg_id!r:.40}")
        log.warning("a message with an invalid id: answered -32600")
        return True
    if data.get("jsonrpc") != "2.0" or ("method" in data and not isinstance(method, str)):
        if "id" in data and "method" in data:
            protocol.respond_error(msg_id, INVALID_REQUEST, 'not a JSON-RPC 2.0 request ("jsonrpc": "2.0", '
                                                            'a string "method")')
        log.warning("a message that is not JSON-RPC 2.0 (method %r): %s", method,
                    "answered -32600" if "id" in data and "method" in data else "ignored")
        return True
    is_request = "id" in data and method is not None
    if method == lsp.EXIT:
        protocol.exit_code = 0 if protocol._shutdown else 1
        log.info("exit %s: the server stops (exit code %d)", "after shutdown" if protocol._shutdown else
                 "without shutdown", protocol.exit_code)
        return False
    if is_request and protocol._shutdown:
        protocol.respond_error(msg_id, INVALID_REQUEST, f"{method}: the server is shutting down")
        return True
    if is_request and not protocol.initialized_request and method != lsp.INITIALIZE:
        protocol.respond_error(msg_id, SERVER_NOT_INITIALIZED, f"{method}: the server is not initialized yet")
        return True
    if method == lsp.INITIALIZE:
        protocol.initialized_request = True
    if method is not None and "params" not in data:
        data["params"] = None  # JSON-RPC lets a request or notification omit its params
    try:
        message = protocol.structure_message(data)
    except JsonRpcException as e:
        if is_request:
            protocol.respond_error(msg_id, e.code, e.message)
            log.warning("answered %s with %d: %s", method, e.code, e.message)
        else:
            log.warning("ignored %s: %s", method or "a response", e.message)
        return True
    try:
        protocol.handle_message(message)
    except Exception as e:
        log.exception("handling %s", method)
        if is_request:
            protocol.respond_error(msg_id, INTERNAL_ERROR, f"{method}: internal error: {type(e).__name__}: {e}")
    return True


async def serve_stream(protocol: KfProtocol, read_chunk: Callable[[], Awaitable[bytes]],
                       stop: threading.Event | None = None) -> int:
    """Read and dispatch frames until `exit` or end of input; the process's exit code."""
    reader = FrameReader(read_chunk)
    while stop is None or not stop.is_set():
        try:
            body = await reader.next()
        except FrameError as e:
            log.warning("bad frame: %s", e)
            protocol.respond_error(e.msg_id, e.code, str(e))
            continue
        if body is None:
            code = 0 if protocol._shutdown else 1
            log.info("the client closed the connection%s", "" if protocol._shutdown else
                     " without shutdown and exit")
            return code
        if not dispatch(protocol, body):
            return protocol.exit_code or 0
        await asyncio.sleep(0)  # let the handlers that message started run
    return protocol.exit_code or 0


def stdin_chunks(fd: int) -> Callable[[], Awaitable[bytes]]:
    """An async chunk source over a blocking file descriptor. A daemon thread reads (so an
    `exit` while the client keeps the pipe open never waits on a blocked read), at most
    16 chunks ahead of the loop."""
    queue: list[asyncio.Queue] = []

    def pump(q: asyncio.Queue, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError as e:
                log.error("reading stdin failed: %s: the server stops", e)
                chunk = b""
            put = q.put(chunk)
            try:
                asyncio.run_coroutine_threadsafe(put, loop).result()
            except Exception:  # the loop is gone
                put.close()
                return
            if not chunk:
                return

    async def read() -> bytes:
        if not queue:
            queue.append(asyncio.Queue(maxsize=16))
            threading.Thread(target=pump, args=(queue[0], asyncio.get_running_loop()), daemon=True,
                             name="kf-stdin").start()
        return await queue[0].get()

    return read
