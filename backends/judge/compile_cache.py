"""The original kernel compiled once per worker: a content-addressed cache of compiled kernels.

A search evaluates one original against many candidates; each evaluation used to compile
the original again (0.5 s with the SYCL runtime's own disk cache warm, 2-5 s cold, on 2 CPU
cores). Here a compiled kernel is kept in the worker process, per device session, under a
digest of exactly what went to the compiler: the compile unit's full text (tunables are
bound into it), entry, language, options and include directories, plus the bytes of every
local header it includes (quoted or angle includes found in its include directories, followed
to a bounded depth). A changed file, tunable, option or header is a different key, so it is
compiled again; nothing is ever looked up by file name alone.

Only the original (role "reference") goes through the cache: a candidate is untrusted and is
compiled fresh every time, so program-scope state it keeps (device globals, static
counters) can never carry over from one evaluation to the next. Compile failures are not
kept. The cache is bounded (least recently used entries are dropped) and lives and dies with
the worker: a worker replaced after a fault starts empty.

Beneath it, for originals and candidates alike, a **disk cache of what the compiler made**
(`compile_unit`), content-addressed by the unit's *normal form* (backends/kernel/normal_form.py:
comments and the amount of whitespace taken out), its entry, options, include directories,
local headers and the session's salt (CUDA: the architecture, NVRTC's version and kf's
compiler module), so a text that differs from one compiled before only in comments or
whitespace is not compiled again. What is kept is the session's `artifact`: CUDA, the
cubin with what the compiler said (loaded afresh, so a module's globals start at zero);
SYCL, the exact text compiled first, compiled again, which the SYCL runtime's own disk cache
(keyed on the exact text) answers without compiling. A hit is loaded afresh every time: a
candidate's program-scope state never carries over. Entries are written to a private file
and renamed into place (atomic: a reader sees all or nothing); at most DISK_ENTRIES are
kept (the oldest go first). A hit has no warnings (they would name the first text's lines).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import threading
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import Any

import msgspec

from backends.kernel.normal_form import normal_form
from backends.session import CompileFailure, CompileUnit, DeviceSession

MAX_ENTRIES = int(os.environ.get("KF_COMPILE_CACHE_ENTRIES", "16") or 16)
_MAX_HEADERS = 256  # local headers hashed per unit; beyond this the unit is not cached
_MAX_DEPTH = 8
_INCLUDE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*[<"]([^>"\n]+)[>"]', re.M)
_encoder = msgspec.msgpack.Encoder()


DISK_ENTRIES = int(os.environ.get("KF_COMPILE_DISK_ENTRIES", "4000") or 4000)


class CacheStats(msgspec.Struct):
    hits: int = 0
    misses: int = 0  # compiled (and kept if it succeeded)
    uncacheable: int = 0  # compiled without the cache (too many headers, disabled)
    entries: int = 0
    evicted: int = 0
    disk_hits: int = 0  # compile_unit: loaded from the disk cache (same normal form compiled before)
    disk_misses: int = 0  # compile_unit: compiled (and stored if it succeeded)


def _headers(source: str, include_dirs: list[str]) -> list[tuple[str, bytes]] | None:
    """(path, bytes) of every header `source` includes that lies in `include_dirs`, followed
    transitively; system headers (not found there) are left out: they belong to the
    installed toolchain, which is fixed for the worker's life. None: too many to hash."""
    found: list[tuple[str, bytes]] = []
    seen: set[str] = set()
    todo = [(source, 0)]
    while todo:
        text, depth = todo.pop()
        if depth > _MAX_DEPTH:
            return None
        for name in _INCLUDE.findall(text):
            for d in include_dirs:
                path = os.path.normpath(os.path.join(d, name))
                if path in seen:
                    break
                if os.path.isfile(path):
                    seen.add(path)
                    try:
                        with open(path, "rb") as f:
                            data = f.read()
                    except OSError:
                        return None
                    found.append((path, data))
                    if len(found) > _MAX_HEADERS:
                        return None
                    todo.append((data.decode("utf-8", "replace"), depth + 1))
                    break
    return sorted(found)


def unit_key(unit: CompileUnit) -> str | None:
    """The digest that names a compile unit's output, or None when it cannot be named safely."""
    project = [o[2:] for o in unit.options if o.startswith("-I")] + \
        [o.split("=", 1)[1] for o in unit.options if o.startswith("--system-include=")]
    headers = _headers(unit.source, list(unit.include_dirs) + project)
    if headers is None:
        return None
    h = hashlib.sha256()
    h.update(_encoder.encode(unit))
    for path, data in headers:
        h.update(b"\0header\0" + path.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


class Compiled(msgspec.Struct, frozen=True):
    kernel: Any  # the session's compiled kernel, or a CompileFailure
    cached: bool  # taken from the cache, not compiled now
    key: str | None  # unit_key (None: not cacheable)


class CompileCache:
    """Compiled kernels of one device session, by unit_key (thread-safe; bounded LRU)."""

    def __init__(self, max_entries: int = MAX_ENTRIES):
        self.max_entries = max(0, max_entries)
        self.stats = CacheStats()
        self._entries: OrderedDict[str, Any] = OrderedDict()
        self._lock = threading.Lock()

    def compile(self, session: DeviceSession, unit: CompileUnit) -> Compiled:
        key = unit_key(unit)
        if key is None or not self.max_entries:
            with self._lock:
                self.stats.uncacheable += 1
            return Compiled(session.compile(unit), False, key)
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                self.stats.hits += 1
                return Compiled(hit, True, key)
        out = compile_unit(session, unit)
        with self._lock:
            self.stats.misses += 1
            if not isinstance(out, CompileFailure):
                self._entries[key] = out
                while len(self._entries) > self.max_entries:
                    self._entries.popitem(last=False)  # the kernel is released with its last reference
                    self.stats.evicted += 1
            self.stats.entries = len(self._entries)
        return Compiled(out, False, key)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.stats.entries = 0


_caches: "weakref.WeakKeyDictionary[Any, CompileCache]" = weakref.WeakKeyDictionary()
_caches_lock = threading.Lock()


def cache_for(session: DeviceSession) -> CompileCache:
    """The cache of this session (compiled kernels belong to one device context)."""
    with _caches_lock:
        cache = _caches.get(session)
        if cache is None:
            cache = _caches[session] = CompileCache()
        return cache


def compile_original(session: DeviceSession, unit: CompileUnit) -> Compiled:
    """Compile the original kernel through its session's cache (KF_COMPILE_CACHE=0: never)."""
    if os.environ.get("KF_COMPILE_CACHE") == "0":
        return Compiled(session.compile(unit), False, unit_key(unit))
    return cache_for(session).compile(session, unit)


# -- the disk cache of compiled kernels, by normal form ---------------------------------------

_disk = CacheStats()
_disk_lock = threading.Lock()
_writes = 0


def disk_dir() -> Path:
    base = os.environ.get("KF_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "kf")
    return Path(base) / "compiled"


def normal_key(unit: CompileUnit, salt: str) -> str | None:
    """The disk cache's key: the unit with its text in normal form, its local headers' bytes
    and the session's salt; None when the text has no normal form or its headers cannot be read."""
    text = normal_form(unit.source)
    headers = _headers(unit.source, list(unit.include_dirs))
    if text is None or headers is None:
        return None
    h = hashlib.sha256()
    h.update(_encoder.encode([salt, text, unit.entry, unit.language, list(unit.options), list(unit.include_dirs)]))
    for path, data in headers:
        h.update(b"\0header\0" + path.encode() + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


def compile_unit(session: DeviceSession, unit: CompileUnit) -> Any:
    """Compile `unit`, or load what compiling a text of the same normal form made before
    (module doc). Sessions without `artifact`/`from_artifact` compile every time, as does
    KF_COMPILE_CACHE=0. Returns the loaded kernel or CompileFailure."""
    to_bytes = getattr(session, "artifact", None)
    from_bytes = getattr(session, "from_artifact", None)
    if os.environ.get("KF_COMPILE_CACHE") == "0" or to_bytes is None or from_bytes is None:
        return session.compile(unit)
    salt = getattr(session, "artifact_salt", lambda: "")()
    key = normal_key(unit, salt)
    if key is None:
        return session.compile(unit)
    path = disk_dir() / key[:2] / key
    try:
        data = path.read_bytes()
    except OSError:
        data = None
    if data is not None:
        try:
            out = from_bytes(data, unit)
        except Exception:
            out = None
        if out is not None and not isinstance(out, CompileFailure):
            try:
                out.warnings = []  # they would name the lines of the text compiled first
            except AttributeError:
                pass
            with _disk_lock:
                _disk.disk_hits += 1
            try:
                os.utime(path, None)  # recently used: pruned last
            except OSError:
                pass
            return out
    out = session.compile(unit)
    with _disk_lock:
        _disk.disk_misses += 1
    if not isinstance(out, CompileFailure):
        try:
            blob = to_bytes(out, unit)
        except Exception:
            blob = None
        if blob:
            _store(path, blob)
    return out


def _store(path: Path, blob: bytes) -> None:
    """Write to a private file, then rename into place (atomic); prune now and then."""
    global _writes
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
    except OSError:
        return
    with _disk_lock:
        _writes += 1
        due = _writes % 64 == 1
    if due:
        _prune(path.parent.parent)


def _prune(root: Path) -> None:
    """Keep at most DISK_ENTRIES entries: the least recently used (by mtime) go."""
    try:
        files = [p for d in root.iterdir() if d.is_dir() for p in d.iterdir() if not p.name.startswith(".")]
        if len(files) <= DISK_ENTRIES:
            return
        files.sort(key=lambda p: p.stat().st_mtime)
        for p in files[: len(files) - DISK_ENTRIES]:
            try:
                p.unlink()
            except OSError:
                pass
    except OSError:
        pass


def stats() -> dict[str, int]:
    """Counters summed over this process's sessions (the worker reports them to its pool)."""
    total = CacheStats()
    with _caches_lock:
        caches = list(_caches.values())
    for c in caches:
        for f in total.__struct_fields__:
            setattr(total, f, getattr(total, f) + getattr(c.stats, f))
    with _disk_lock:
        total.disk_hits += _disk.disk_hits
        total.disk_misses += _disk.disk_misses
    return msgspec.to_builtins(total)
