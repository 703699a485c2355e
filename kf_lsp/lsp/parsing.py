"""Parsing open documents off the event loop: debounced, the latest version wins.

The ruff / rust-analyzer snapshot model: a change updates the document text at once (cheap,
kf_lsp.documents) and asks for a parse; the parse runs later on a snapshot of the text
(debounced: a burst of keystrokes is one parse), outside the event loop, and its result
is installed in the index only if the document still has that version. A stale result is
dropped and the newest text parsed instead. Requests on other files never wait for a parse;
requests on the file itself may `settle` (wait for its current version, bounded). A parse
that finishes after more typing is still installed (a consistent snapshot: its text,
kernels and version agree, and diagnostics carry that version) and the next parse starts at
once, so continuous typing into a big file still refreshes it; a result older than what the
index holds is dropped.

Small documents parse in a thread (a few ms). Large ones parse in a spawned process: the
scanner is pure Python, and in a thread it would hold the GIL for whole seconds on a 5 MB
file, stalling every handler just as if it ran on the loop.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Callable

import msgspec

from .documents import DocumentStore
from kf_lsp.core.index import FileEntry, KernelIndex, parse_entry

__all__ = ["Reparser", "SMALL_DOCUMENT"]

log = logging.getLogger("kf.lsp")

SMALL_DOCUMENT = 256 * 1024  # characters: parsed in a thread, after a short debounce
SMALL_DELAY = 0.15  # a pause in typing this long starts the parse...
LARGE_DELAY = 0.3
SMALL_MAX_WAIT = 0.5  # ...and continuous typing never postpones it longer than this
LARGE_MAX_WAIT = 1.0


def _parse_open(path: str, text: str, version: int | None) -> FileEntry:
    return parse_entry(path, text, version, True)


class _Pending:
    __slots__ = ("uri", "timer", "task", "again", "settled", "since")

    def __init__(self, uri: str):
        self.uri = uri
        self.timer: asyncio.TimerHandle | None = None
        self.task: asyncio.Task | None = None
        self.again = False
        self.settled = asyncio.Event()
        self.since: float | None = None  # the first change not yet handed to a parse


class Reparser:
    def __init__(self, index: KernelIndex, documents: DocumentStore, on_indexed: Callable[[FileEntry], None]):
        self.index = index
        self.documents = documents
        self.on_indexed = on_indexed
        self._pending: dict[str, _Pending] = {}
        self._pool: ProcessPoolExecutor | None = None
        self.parses = 0  # parses run (benchmarks/lsp_typing.py reports it)
        self.dropped = 0  # results dropped because the document had changed meanwhile

    def request(self, uri: str, path: str, *, now: bool = False) -> None:
        """Parse `path`'s open document soon (debounced)."""
        st = self._pending.get(path)
        if st is None:
            st = self._pending[path] = _Pending(uri)
        st.uri = uri
        st.settled.clear()
        if st.timer is not None:
            st.timer.cancel()
        doc = self.documents.get(uri)
        loop = asyncio.get_running_loop()
        small = doc is None or doc.size < SMALL_DOCUMENT
        if st.since is None:
            st.since = loop.time()
        delay = 0.0 if now else min(SMALL_DELAY if small else LARGE_DELAY,
                                    max(0.0, st.since + (SMALL_MAX_WAIT if small else LARGE_MAX_WAIT) - loop.time()))
        st.timer = loop.call_later(delay, self._start, path)

    def pending(self, path: str) -> bool:
        st = self._pending.get(path)
        return st is not None and not st.settled.is_set()

    async def settle(self, path: str, timeout: float) -> bool:
        """Wait until the index holds the document's current version (True) or `timeout`."""
        st = self._pending.get(path)
        if st is None or st.settled.is_set():
            return True
        if st.timer is not None:  # someone waits: no debounce
            st.timer.cancel()
            st.timer = None
            self._start(path)
        try:
            await asyncio.wait_for(st.settled.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False

    def forget(self, path: str) -> None:
        st = self._pending.pop(path, None)
        if st is not None:
            if st.timer is not None:
                st.timer.cancel()
            st.settled.set()

    def _start(self, path: str) -> None:
        st = self._pending.get(path)
        if st is None:
            return
        st.timer = None
        if st.task is not None and not st.task.done():
            st.again = True
            return
        st.since = None
        st.task = asyncio.ensure_future(self._run(path, st))

    async def _run(self, path: str, st: _Pending) -> None:
        try:
            snap = self.documents.snapshot(st.uri)
            if snap is None:  # closed meanwhile
                st.settled.set()
                return
            text, version = snap
            entry = await self._parse(path, text, version)
            self.parses += 1
            doc = self.documents.get(st.uri)
            installed = self.index.get(path)
            if doc is None or (installed is not None and installed.open and installed.version is not None
                               and version is not None and (installed.version > version or (
                                   installed.version == version and installed.text == text))):
                # closed, or a newer parse (or this very text: a didOpen repeated) is in already
                self.dropped += 1
                log.debug("dropped the parse of %s version %s", path, version)
                if doc is None or (installed.version == doc.version and installed.text == doc.text):
                    st.settled.set()  # what the index holds is current: nobody waits for more
                return
            current = doc.version == version and doc.text is text
            if current:
                doc.edits.clear()
            else:  # typing goes on: this snapshot is the newest known; the next parse is due
                doc.edits[:] = [None]
                st.again = True
            self.index.install(entry)
            if len(text) >= SMALL_DOCUMENT:
                # a big file's entry is tens of thousands of objects: keep them out of the
                # collector's full scans (they are still freed by reference counting)
                gc.freeze()
            if current:
                st.settled.set()
            self.on_indexed(entry)
        except Exception:
            log.exception("parsing %s", path)
            st.settled.set()
        finally:
            if st.again:  # debounced like a change (at most one parse per max wait while typing)
                st.again = False
                if path in self._pending:
                    self.request(st.uri, path)

    async def _parse(self, path: str, text: str, version: int | None) -> FileEntry:
        if len(text) < SMALL_DOCUMENT:
            return await asyncio.to_thread(_parse_open, path, text, version)
        loop = asyncio.get_running_loop()
        try:
            if self._pool is None:
                # niced: on a busy machine the server's handlers come before a big file's parse
                self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                                 initializer=os.nice, initargs=(10,))
            entry = await loop.run_in_executor(self._pool, _parse_open, path, text, version)
        except BrokenProcessPool:
            log.warning("the parser process died; parsing %s in a thread", path)
            self._pool = None
            entry = await asyncio.to_thread(_parse_open, path, text, version)
        return msgspec.structs.replace(entry, text=text)  # share the editor's string, not a copy

    def close(self) -> None:
        for path in list(self._pending):
            self.forget(path)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
