"""Changes made outside the editor (git checkout, code generators): watchdog on the
workspace folders, plus the client's workspace/didChangeWatchedFiles when it offers it.

Both feed one `Debouncer`: paths arrive from any thread, and after `delay` seconds with
no new event the set of changed paths is handed to a callback on the event loop. Build
directories (build/, .git/, node_modules/, .kf/, .venv/, cmake-build-*) and non-kernel
files are dropped before they reach it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Callable, Iterable

from kf_lsp.core.index import is_kernel_path

__all__ = ["Debouncer", "FolderWatcher", "WATCH_GLOB"]

log = logging.getLogger("kf.lsp")

WATCH_GLOB = "**/*.{cu,cuh,cpp,cc,cxx,c++,hpp,hh,hxx,h,sycl}"


class Debouncer:
    def __init__(self, loop: asyncio.AbstractEventLoop, delay: float, callback: Callable[[set[str]], object]):
        self.loop = loop
        self.delay = delay
        self.callback = callback
        self._pending: set[str] = set()
        self._handle: asyncio.TimerHandle | None = None

    def add(self, paths: Iterable[str]) -> None:
        """Thread-safe."""
        wanted = [p for p in paths if is_kernel_path(p)]
        if not wanted:
            return
        try:
            self.loop.call_soon_threadsafe(self._add, wanted)
        except RuntimeError:  # the loop is closed: shutting down
            pass

    def _add(self, paths: list[str]) -> None:
        self._pending.update(paths)
        if self._handle is not None:
            self._handle.cancel()
        self._handle = self.loop.call_later(self.delay, self._flush)

    def _flush(self) -> None:
        self._handle = None
        paths, self._pending = self._pending, set()
        if paths:
            try:
                r = self.callback(paths)
                if asyncio.iscoroutine(r):
                    asyncio.ensure_future(r)
            except Exception:
                log.exception("handling file changes")

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class FolderWatcher:
    """watchdog observers on the workspace folders, reporting into a Debouncer."""

    def __init__(self, debouncer: Debouncer):
        self.debouncer = debouncer
        self._observer = None
        self.roots: list[str] = []

    def start(self, roots: list[str]) -> str | None:
        """Start watching; returns an error message when watching is not possible."""
        try:
            from watchdog.events import FileSystemEvent, FileSystemEventHandler
            from watchdog.observers import Observer
        except ImportError:
            return "watchdog is not installed: changes made outside the editor are seen only on save/open"
        debouncer = self.debouncer

        class Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                if event.is_directory or event.event_type in ("opened", "closed_no_write"):
                    return
                paths = [event.src_path] + ([event.dest_path] if getattr(event, "dest_path", "") else [])
                debouncer.add([p.decode() if isinstance(p, bytes) else p for p in paths])

        try:
            observer = Observer()
            observer.daemon = True
            for root in roots:
                observer.schedule(Handler(), root, recursive=True)
            observer.start()
        except Exception as e:  # inotify limits, missing folders...
            return f"cannot watch the workspace folders ({type(e).__name__}: {e})"
        self._observer = observer
        self.roots = list(roots)
        return None

    def stop(self) -> None:
        if self._observer is not None:
            try:
                self._observer.stop()
                self._observer.join(timeout=2)
            except Exception:
                pass
            self._observer = None
