"""The editor's open documents: text, version, and where each line starts.

pygls's workspace applies an incremental change by splitting the whole document into
lines and writing them all out again (O(size) of Python work per keystroke, about 40 ms on
a 5 MB file, on the event loop). Here a document keeps its line starts in a numpy array: a
change costs one string splice and one vectorised shift of the starts after it.

Positions arrive in the negotiated encoding (UTF-16 code units unless the client chose
otherwise) and are clamped to the document, as the LSP spec asks of out-of-range positions.
"""

from __future__ import annotations

import threading
from typing import Iterable

import numpy as np
from lsprotocol import types as lsp

__all__ = ["Document", "DocumentStore", "MAX_DOCUMENT_BYTES"]

MAX_DOCUMENT_BYTES = 32 * 1024 * 1024  # documents larger than this are not indexed (a message says so)


def _line_starts(text: str) -> np.ndarray:
    if not text:
        return np.zeros(1, dtype=np.int64)
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return np.concatenate(([0], np.flatnonzero(codes == 10) + 1)).astype(np.int64)


def _column(line: str, character: int, encoding: str) -> int:
    """The str index of a position's character offset within its line (clamped)."""
    if character <= 0:
        return 0
    if encoding == "utf-32" or line.isascii():
        return min(character, len(line))
    if encoding == "utf-8":
        b = line.encode("utf-8", "surrogatepass")[:character]
        return len(b.decode("utf-8", "ignore"))
    units = 0
    for i, ch in enumerate(line):
        if units >= character:
            return i
        units += 2 if ord(ch) > 0xFFFF else 1
    return len(line)


class Document:
    """One open document (mutated only by the store, on the event loop)."""

    def __init__(self, uri: str, text: str, version: int | None):
        self.uri = uri
        self.text = text
        self.version = version
        self._starts = _line_starts(text)
        # (line, old line text, new line text, removed, inserted) of each change since the
        # index last took this document (kf_lsp.incremental decides if a re-scan is needed)
        self.edits: list[tuple[int, str, str, str, str] | None] = []

    @property
    def size(self) -> int:
        return len(self.text)

    def offset(self, pos: lsp.Position, encoding: str = "utf-16") -> int:
        n = len(self._starts)
        if pos.line >= n:
            return len(self.text)
        a = int(self._starts[pos.line])
        b = int(self._starts[pos.line + 1]) - 1 if pos.line + 1 < n else len(self.text)
        return a + _column(self.text[a:b], pos.character, encoding)

    def apply(self, change: lsp.TextDocumentContentChangeEvent, encoding: str = "utf-16") -> None:
        if isinstance(change, lsp.TextDocumentContentChangeWholeDocument) or getattr(change, "range", None) is None:
            self.text = change.text
            self._starts = _line_starts(self.text)
            self.edits.append(None)
            return
        a, b = self.offset(change.range.start, encoding), self.offset(change.range.end, encoding)
        if b < a:
            a, b = b, a
        new = change.text
        removed_lines = self.text.count("\n", a, b)
        edit = None
        if removed_lines == 0 and "\n" not in new:
            line = min(change.range.start.line, len(self._starts) - 1)
            la = int(self._starts[line])
            lb = self.text.find("\n", la)
            lb = len(self.text) if lb < 0 else lb
            old_line = self.text[la:lb]
            new_line = old_line[:a - la] + new + old_line[b - la:]
            edit = (line, old_line, new_line, self.text[a:b], new)
        self.edits.append(edit)
        self.text = self.text[:a] + new + self.text[b:]
        first = int(np.searchsorted(self._starts, a, side="right"))  # lines starting after a
        delta = len(new) - (b - a)
        tail = self._starts[first + removed_lines:] + delta
        added = np.asarray([a + i + 1 for i, ch in enumerate(new) if ch == "\n"], dtype=np.int64) \
            if "\n" in new else np.zeros(0, dtype=np.int64)
        self._starts = np.concatenate((self._starts[:first], added, tail))


class DocumentStore:
    """uri -> Document. Written on the event loop; readers in threads get the text (an
    immutable str) and version together through `snapshot`."""

    def __init__(self) -> None:
        self._docs: dict[str, Document] = {}
        self._lock = threading.Lock()

    def get(self, uri: str) -> Document | None:
        return self._docs.get(uri)

    def snapshot(self, uri: str) -> tuple[str, int | None] | None:
        with self._lock:
            d = self._docs.get(uri)
            return (d.text, d.version) if d is not None else None

    def open(self, uri: str, text: str, version: int | None) -> Document:
        doc = Document(uri, text, version)
        with self._lock:
            self._docs[uri] = doc
        return doc

    def change(self, uri: str, changes: Iterable[lsp.TextDocumentContentChangeEvent], version: int | None,
               encoding: str = "utf-16") -> Document | None:
        with self._lock:
            doc = self._docs.get(uri)
            if doc is None:
                return None
            for c in changes:
                doc.apply(c, encoding)
            doc.version = version
        return doc

    def close(self, uri: str) -> None:
        with self._lock:
            self._docs.pop(uri, None)
