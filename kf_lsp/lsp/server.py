"""`kf serve`: the language server (pygls).

Handlers are thin: requests (hover, code lens, code actions, inlay hints) read the kernel
index and one State snapshot and call the pure views; notifications update the index;
commands validate their argument and start or stop jobs (kf_lsp.jobs) and return at
once. Nothing here compiles, runs or waits on a device: evaluations happen in spawned
worker processes, device probing and disk scans in threads. Protocol reference:
docs/lsp.md.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sys
from typing import Any

from lsprotocol import types as lsp
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.uris import from_fs_path, to_fs_path

from backends.model import Unit

from . import commands as cmd
from . import views
from kf_lsp.core import apply
from .documents import MAX_DOCUMENT_BYTES, DocumentStore
from .incremental import inert, with_text
from kf_lsp.core.index import FileEntry, KernelIndex
from kf_lsp.core.jobs import JobManager, Resources, load_summary, variant_payload
from .parsing import Reparser
from .rpc import KfProtocol, serve_stream, stdin_chunks
from backends.run.environment import remember_key
from kf_lsp.core.secrets import take_secrets
from kf_lsp.core.settings import Settings, choose_llm, key_envs, merge_raw, parse_settings, unwrap
from kf_lsp.core.state import JobView, State, kernel_key
from .watch import WATCH_GLOB, Debouncer, FolderWatcher

__all__ = ["KfServer", "make_server", "serve"]

log = logging.getLogger("kf.lsp")

VERSION = "0.1.0"
COMPILE_ONLY_KERNELS = 8  # CUDA kernels compiled per open/save when there is no GPU
SETTLE_SECONDS = 0.5  # a request on a file being edited waits this long at most for its parse
CONTENT_MODIFIED = -32801


class ContentModified(JsonRpcException):
    CODE = CONTENT_MODIFIED
    MESSAGE = "Content Modified"


def _invalid(message: str) -> JsonRpcInvalidParams:
    return JsonRpcInvalidParams(message=message)


class _ServerClient:
    """kf_lsp.jobs.Client over pygls."""

    def __init__(self, server: "KfServer"):
        self.s = server

    def notify(self, method: str, payload: dict) -> None:
        try:
            self.s.protocol.notify(method, payload)
        except Exception:
            log.exception("sending %s", method)

    def show(self, level: str, message: str, detail: str | None = None) -> None:
        self.s.show(level, message, detail)

    def _progress_supported(self) -> bool:
        caps = self.s.client_capabilities
        return bool(caps and caps.window and caps.window.work_done_progress)

    async def progress_begin(self, token: str, title: str, message: str, cancellable: bool) -> bool:
        if not self._progress_supported():
            return False
        try:
            await asyncio.wait_for(self.s.work_done_progress.create_async(token), timeout=10)
        except Exception as e:
            log.warning("window/workDoneProgress/create failed: %s", e)
            return False
        self.s.work_done_progress.begin(token, lsp.WorkDoneProgressBegin(
            title=title, message=message, cancellable=cancellable, percentage=0))
        return True

    def progress_report(self, token: str, message: str, pct: int | None) -> None:
        try:
            self.s.work_done_progress.report(token, lsp.WorkDoneProgressReport(message=message, percentage=pct,
                                                                                cancellable=True))
        except Exception:
            log.exception("progress report")

    def progress_end(self, token: str, message: str) -> None:
        try:
            self.s.work_done_progress.end(token, lsp.WorkDoneProgressEnd(message=message))
            self.s.work_done_progress.tokens.pop(token, None)
        except Exception:
            log.exception("progress end")

    def publish(self, path: str) -> None:
        self.s.schedule_refresh({path})


class KfServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("kf", VERSION, text_document_sync_kind=lsp.TextDocumentSyncKind.Incremental,
                         protocol_cls=KfProtocol)
        self.documents = DocumentStore()
        self.settings = Settings()
        self._init_raw: object = None
        self._config_raw: object = None
        self._pending_warnings: list[str] = []
        self.index = KernelIndex()
        self.reparser = Reparser(self.index, self.documents, self._indexed)
        self._too_large: set[str] = set()
        self.state = State(on_change=self._state_changed)
        self.roots: list[str] = []
        self.resources = Resources(self.workspace_for, self.in_project)
        self.jobs = JobManager(self.state, _ServerClient(self), self.resources, lambda: self.settings)
        self.debouncer: Debouncer | None = None
        self.watcher: FolderWatcher | None = None
        self._saved_hash: dict[str, str] = {}
        self._dirty: set[str] = set()
        self._refresh_handle: asyncio.TimerHandle | None = None
        self._lens_refresh = False
        self._background: set[asyncio.Task] = set()
        self._drafts: dict[tuple[str, int, str], str] = {}  # (path, hash of the text, kernel) -> draft

    # -- small utilities ------------------------------------------------------------------

    def spawn(self, coro) -> asyncio.Task:
        """A background task whose failure is reported, never lost."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)

        def done(t: asyncio.Task) -> None:
            self._background.discard(t)
            if not t.cancelled() and t.exception() is not None:
                e = t.exception()
                log.error("background task failed", exc_info=e)
                self.show("error", f"kf: internal error: {type(e).__name__}: {e}")

        task.add_done_callback(done)
        return task

    def report_server_error(self, error: Exception, source: Any) -> None:
        """pygls pops an "Error in server" message for a failed notification; a protocol
        error is the client's business and goes to the log only (kf_lsp.rpc)."""
        log.warning("%s: %s", getattr(source, "__name__", source), error)

    def show(self, level: str, message: str, detail: str | None = None) -> None:
        """A pop-up (window/showMessage) and the log; `detail` replaces the message in the log."""
        kind = {"error": lsp.MessageType.Error, "warning": lsp.MessageType.Warning}.get(level, lsp.MessageType.Info)
        getattr(log, "error" if level == "error" else "warning" if level == "warning" else "info")(detail or message)
        try:
            self.window_show_message(lsp.ShowMessageParams(type=kind, message=message))
            self.window_log_message(lsp.LogMessageParams(type=kind, message=detail or message))
        except Exception:
            pass

    @staticmethod
    def path_of(uri: str) -> str | None:
        try:
            p = to_fs_path(uri)
        except Exception:
            return None
        return os.path.realpath(p) if p else None

    @staticmethod
    def uri_of(path: str) -> str:
        return from_fs_path(path) or path

    def workspace_for(self, path: str) -> str:
        p = os.path.realpath(path)
        inside = [r for r in self.roots if p == r or p.startswith(r.rstrip(os.sep) + os.sep)]
        if inside:
            return max(inside, key=len)
        from evolver.store import workspace_of

        return workspace_of(p)

    def unit_for(self, entry: FileEntry, k) -> Unit:
        """The Unit of kernel `k` of an indexed file, with the file's build flags: its
        compile_commands.json entry, else kf.cuda.flags / kf.sycl.flags, then `@kf flags`."""
        from backends.kernel.project_flags import file_flags, flags_for

        configured = (self.settings.cuda if k.language == "cuda" else self.settings.sycl).flags
        try:
            found = flags_for(entry.path, configured, f"kf.{k.language}.flags", file_flags(entry.kernels),
                              self.workspace_for(entry.path))
        except Exception as e:  # flags are a refinement: the unit still compiles without them
            log.warning("reading the build flags of %s: %s", entry.path, e)
            return Unit(path=entry.path, text=entry.text, kernel=k)
        return Unit(path=entry.path, text=entry.text, kernel=k, flags=found.flags, flags_source=found.source)

    def in_project(self, workspace: str) -> bool:
        """A workspace folder of the client, or a directory holding .kf or .git."""
        return (workspace in self.roots or os.path.isdir(os.path.join(workspace, ".kf"))
                or os.path.exists(os.path.join(workspace, ".git")))

    def entry_for(self, uri: str) -> FileEntry | None:
        path = self.path_of(uri)
        return self.index.get(path) if path else None

    def kernel_args(self, uri: str, name: str) -> tuple[FileEntry, Any]:
        """(entry, kernel) or InvalidParams naming what is wrong."""
        path = self.path_of(uri)
        if path is None:
            raise _invalid(f"not a file URI: {uri!r}")
        entry = self.index.get(path)
        if entry is None:
            if os.path.isfile(path):
                entry = self.index.refresh(path)
            if entry is None:
                raise _invalid(f"{uri}: no kernels known in this file")
        k = entry.kernel(name)
        if k is None:
            names = ", ".join(x.name for x in entry.kernels) or "none"
            raise _invalid(f"no kernel {name!r} in {os.path.basename(entry.path)} (kernels: {names})")
        return entry, k

    # -- open documents: parsed off the loop (kf_lsp.parsing) -----------------------------------

    def _indexed(self, entry: FileEntry) -> None:
        """A parse of an open document was installed."""
        for k in entry.kernels:
            self._saved_hash.setdefault(kernel_key(entry.path, k.name), k.code_hash)
        self.check_stale(entry)
        self.schedule_refresh({entry.path}, delay=0.05)
        if entry.kernels:
            self.spawn(self.load_stored([entry]))

    def check_stale(self, entry: FileEntry) -> None:
        """A running search of code the file no longer holds is stale (it says so)."""
        hashes = {k.name: k.code_hash for k in entry.kernels}
        for j in self.jobs.active():
            if j.kind == "optimize" and j.path == entry.path:
                self.jobs.kernel_changed(entry.path, j.kernel, hashes.get(j.kernel))

    async def settle(self, uri: str, timeout: float) -> None:
        """Let the document's pending parse finish (bounded): a request on the edited file
        sees its latest text when that takes little time, the previous parse otherwise."""
        path = self.path_of(uri) if isinstance(uri, str) else None
        if path is not None and self.reparser.pending(path):
            await self.reparser.settle(path, timeout)

    async def settle_args(self, arguments: Any) -> None:
        first = arguments[0] if isinstance(arguments, (list, tuple)) and arguments else arguments
        uri = first.get("uri") if isinstance(first, dict) else getattr(first, "uri", None)
        if isinstance(uri, str):
            await self.settle(uri, 30.0)

    async def compile_cuda_without_gpu(self, uri: str) -> None:
        """On open and save: a CUDA kernel on a machine with no CUDA GPU (and no scheduler) is
        compiled only, so its compile errors and resource figures still reach the editor."""
        await self.settle(uri, 30.0)
        entry = self.entry_for(uri)
        if entry is None or entry.language != "cuda" or self.settings.scheduler or entry.blocker is not None:
            return  # (a file that cannot be compiled here says so once: entry.blocker)
        kernels = [k for k in entry.kernels if k.language == "cuda" and k.spec is not None
                   and not views.spec_has_errors(k)]
        if not kernels:
            return
        from backends.run.device_choice import devices

        try:
            found = await asyncio.to_thread(devices, "cuda")
        except Exception as e:
            log.warning("probing CUDA devices: %s", e)
            return
        if found:
            return
        if len(kernels) > COMPILE_ONLY_KERNELS:  # a generated file of thousands: the first few
            log.info("%s: compile-only check of the first %d of %d kernels", entry.path, COMPILE_ONLY_KERNELS,
                     len(kernels))
            kernels = kernels[:COMPILE_ONLY_KERNELS]
        for k in kernels:
            b = self.state.snapshot.benchmarks.get(kernel_key(entry.path, k.name))
            if b is not None and b.content_hash == k.code_hash:
                continue  # this very code was compiled already
            try:
                await self.jobs.compile_only(self.unit_for(entry, k))
            except Exception as e:
                log.warning("compile-only check of %s: %s", k.name, e)

    def open_too_large(self, path: str, text: str, version: int | None) -> FileEntry:
        """An open document over the size cap: indexed empty, with one diagnostic saying why."""
        mb = len(text) / 1e6
        message = (f"kf: {os.path.basename(path)} is {mb:.1f} MB; kf does not index open documents over "
                   f"{MAX_DOCUMENT_BYTES / 1e6:.0f} MB (no lenses, hovers or diagnostics for it)")
        if path not in self._too_large:
            self._too_large.add(path)
            self.show("warning", message)
        entry = FileEntry(path, "", version, True, None, [], error=message)
        self.index.install(entry)
        return entry

    # -- settings ---------------------------------------------------------------------------

    def apply_settings(self, announce: bool = True) -> list[str]:
        settings, warnings = parse_settings(merge_raw(unwrap(self._init_raw), self._config_raw))
        old = self.settings
        self.settings = settings
        take_secrets(key_envs(settings.llm))  # a key variable the settings name leaves the environment too
        if self.debouncer is not None:
            self.debouncer.delay = settings.debounce_ms / 1000
        if announce:
            for w in warnings:
                self.show("warning", f"kf settings: {w}")
        if old.max_jobs != settings.max_jobs:
            self.jobs.wake()  # queued jobs re-check the limit
        return warnings

    async def pull_configuration(self) -> None:
        caps = self.client_capabilities
        if not (caps and caps.workspace and caps.workspace.configuration):
            return
        try:
            result = await asyncio.wait_for(self.workspace_configuration_async(
                lsp.ConfigurationParams(items=[lsp.ConfigurationItem(section="kf")])), timeout=10)
        except Exception as e:
            log.warning("workspace/configuration failed: %s", e)
            return
        raw = result[0] if isinstance(result, (list, tuple)) and result else None
        self._config_raw = cmd.to_plain(raw)

    # -- refreshing the editor ---------------------------------------------------------------

    def _state_changed(self, keys: set[str]) -> None:
        self.schedule_refresh({k.split("::", 1)[0] for k in keys})

    def schedule_refresh(self, paths: set[str], delay: float = 0.1) -> None:
        self._dirty.update(paths)
        self._lens_refresh = True
        if self._refresh_handle is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return
            self._refresh_handle = loop.call_later(delay, self._flush_refresh)

    def _flush_refresh(self) -> None:
        self._refresh_handle = None
        paths, self._dirty = self._dirty, set()
        for p in paths:
            e = self.index.get(p)
            if e is not None and e.open:
                self.publish_diagnostics(e)
        if self._lens_refresh:
            self._lens_refresh = False
            caps = self.client_capabilities
            ws = caps.workspace if caps else None
            try:
                if ws and ws.code_lens and ws.code_lens.refresh_support:
                    self.workspace_code_lens_refresh(None)
                if ws and ws.inlay_hint and ws.inlay_hint.refresh_support:
                    self.workspace_inlay_hint_refresh(None)
            except Exception:
                log.exception("refresh requests")

    def publish_diagnostics(self, entry: FileEntry) -> None:
        if entry.error is not None and entry.open and not entry.text:  # too large to index
            diags = [lsp.Diagnostic(lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0)), entry.error,
                                    severity=lsp.DiagnosticSeverity.Warning, source=views.SOURCE,
                                    code="too-large")]
        else:
            try:
                diags = views.diagnostics(entry, self.state.snapshot)
            except Exception:
                log.exception("computing diagnostics")
                return
        self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(
            uri=self.uri_of(entry.path), diagnostics=diags, version=entry.version))

    # -- loading stored results ------------------------------------------------------------------

    async def load_stored(self, entries: list[FileEntry]) -> None:
        """Earlier searches of these files' kernels from their workspace databases."""
        def work() -> list[tuple[str, Any]]:
            out = []
            for e in entries:
                store = self.resources.existing_store(e.path)
                if store is None:
                    continue
                for k in e.kernels:
                    try:
                        s = load_summary(store, e.path, k.name, k.code_hash)
                    except Exception as ex:  # a database from another version, a locked file...
                        log.warning("loading results of %s: %s", k.name, ex)
                        continue
                    if s is not None:
                        out.append((kernel_key(e.path, k.name), s))
            return out

        found = await asyncio.to_thread(work)
        snap = self.state.snapshot
        for key, summary in found:
            if snap.job_for(key, "optimize") is None:  # a running job's view is fresher
                self.state.set_search(key, summary)

    async def on_disk_changes(self, paths: set[str]) -> None:
        def work() -> list[FileEntry]:
            changed = []
            for p in paths:
                e = self.index.refresh(p)
                if e is not None:
                    changed.append(e)
            return changed

        changed = await asyncio.to_thread(work)
        for e in changed:
            if not e.open:
                self.check_stale(e)
        log.info("files changed outside the editor: %d (%d with kernels)", len(paths), len(changed))
        if changed:
            await self.load_stored([e for e in changed if not e.open])
        self.schedule_refresh({os.path.realpath(p) for p in paths})

    # -- on save -------------------------------------------------------------------------------

    def on_save(self, entry: FileEntry) -> None:
        s = self.settings.on_save
        for k in entry.kernels:
            key = kernel_key(entry.path, k.name)
            prev = self._saved_hash.get(key)
            self._saved_hash[key] = k.code_hash
            if prev is None or prev == k.code_hash or not (s.benchmark or s.restart_search):
                continue
            stale = [j for j in self.jobs.for_kernel(entry.path, k.name) if j.search is None or
                     self._job_hash(j) != k.code_hash]
            had_search = key in self.state.snapshot.searches or any(j.kind == "optimize" for j in stale)
            for j in stale:
                self.jobs.stop(j.id, "the kernel changed")
            if k.spec is None or any(d.severity == "error" for d in k.spec_errors):
                continue
            unit = self.unit_for(entry, k)
            if s.benchmark:
                _, err = self.jobs.start_benchmark(unit)
                if err:
                    self.show("warning", f"kf: {err}")
            if s.restart_search and had_search:
                _, err = self.jobs.start_optimize(unit)
                if err:
                    self.show("warning", f"kf: {err}")

    def _job_hash(self, j: JobView) -> str | None:
        live = self.jobs.searches.get(j.id)
        return live.reference.kernel.code_hash if live is not None else None

    # -- command implementations (arguments: docs/lsp.md) --------------------------------------

    def _parse(self, command: str, arguments: Any) -> Any:
        a = cmd.parse_args(command, arguments)
        if isinstance(a, str):
            raise _invalid(a)
        return a

    def _job_result(self, job: JobView | None, err: str | None) -> dict:
        if job is None:
            self.show("warning", f"kf: {err}")
            return {"jobId": None, "state": "refused", "error": err}
        return {"jobId": job.id, "state": job.state, "token": job.token}

    def cmd_optimize(self, arguments: Any) -> dict:
        a = self._parse(cmd.OPTIMIZE, arguments)
        entry, k = self.kernel_args(a.uri, a.kernel)
        if k.spec is None:
            raise _invalid(f"kernel {k.name} has no `// @kf` spec: add one first (kf.addSpec)")
        errors = [d for d in k.spec_errors if d.severity == "error"]
        if errors:
            raise _invalid(f"the spec of {k.name} has errors: {errors[0].format()}")
        unit = self.unit_for(entry, k)
        choice = a.llm if isinstance(a.llm, cmd.LLMChoice) else None
        use = a.llm if isinstance(a.llm, bool) else (True if choice is not None else None)
        settings = choose_llm(self.settings, use, choice.endpoint if choice else None, choice.model if choice else None)
        if isinstance(settings, str):
            raise _invalid(f"{cmd.OPTIMIZE}: llm: {settings}")
        refusal = self.jobs.optimize_refusal(unit, settings)  # nothing to try: said now, no job, no progress
        if refusal is not None:
            self.show("warning", f"kf: {refusal.short}", detail=f"kf: {refusal.message}")
            return {"jobId": None, "state": "refused", "error": refusal.message}
        return self._job_result(*self.jobs.start_optimize(unit, a.budget, a.eval_seconds, settings))

    def cmd_benchmark(self, arguments: Any) -> dict:
        a = self._parse(cmd.BENCHMARK, arguments)
        entry, k = self.kernel_args(a.uri, a.kernel)
        if k.spec is None:
            raise _invalid(f"kernel {k.name} has no `// @kf` spec: add one first (kf.addSpec)")
        unit = self.unit_for(entry, k)
        return self._job_result(*self.jobs.start_benchmark(unit))

    def cmd_stop(self, arguments: Any) -> dict:
        a = self._parse(cmd.STOP, arguments)
        if a.job is not None:
            if self.jobs.find(a.job) is None:
                raise _invalid(f"no job {a.job!r}")
            return {"stopped": [a.job] if self.jobs.stop(a.job) else []}
        if a.uri is None or a.kernel is None:
            raise _invalid(f"{cmd.STOP}: give a job id, or a uri and a kernel")
        entry, k = self.kernel_args(a.uri, a.kernel)
        return {"stopped": self.jobs.stop_kernel(entry.path, k.name)}

    async def _variant(self, entry: FileEntry, k: Any, variant: str | None) -> tuple[Any, Any]:
        """(search summary, variant) or InvalidParams."""
        summary = self.state.snapshot.searches.get(kernel_key(entry.path, k.name))
        if summary is None:
            raise _invalid(f"no search results for {k.name} yet: optimize it first")
        if variant is None:
            if summary.best is None:
                raise _invalid(f"no verified faster variant of {k.name}")
            return summary, summary.best
        v = summary.find(variant)
        if v is None:
            store = self.resources.existing_store(entry.path)
            if store is not None:
                v = await asyncio.to_thread(store.variant, summary.id, variant)
        if v is None:
            raise _invalid(f"no variant {variant!r} of {k.name}")
        return summary, v

    def _check_version(self, entry: FileEntry, version: int | None) -> None:
        if version is not None and entry.open and entry.version != version:
            raise ContentModified(message=f"{os.path.basename(entry.path)} changed since this action was offered "
                                          f"(version {version}, now {entry.version}): ask again")

    async def cmd_apply(self, arguments: Any) -> dict:
        a = self._parse(cmd.APPLY_VARIANT, arguments)
        entry, k = self.kernel_args(a.uri, a.kernel)
        self._check_version(entry, a.version)
        summary, v = await self._variant(entry, k, a.variant)
        if entry.current.get(k.name) == v.id:  # applied already: say so, not "changed"
            return {"applied": False, "alreadyApplied": True, "reason": f"this variant of {k.name} is already in the code"}
        if summary.reference_hash != k.code_hash:
            reason = (f"{k.name} changed since this variant was measured: not applied "
                      "(optimize again to measure variants of the current code)")
            self.show("warning", f"kf: {reason}")
            return {"applied": False, "reason": reason}
        try:
            new_text = apply.variant_text(entry.text, k, v)
        except apply.ApplyError as e:
            self.show("warning", f"kf: {e}")
            return {"applied": False, "reason": str(e)}
        label = f"kf: apply {v.speedup:.2f}x variant of {k.name}" if v.speedup else f"kf: apply variant of {k.name}"
        return await self._apply_edit(entry, views.text_edit(entry.text, new_text), label)

    async def _apply_edit(self, entry: FileEntry, edit: lsp.TextEdit, label: str) -> dict:
        uri = self.uri_of(entry.path)
        wedit = lsp.WorkspaceEdit(document_changes=[lsp.TextDocumentEdit(
            lsp.OptionalVersionedTextDocumentIdentifier(uri=uri, version=entry.version if entry.open else None),
            [edit])])
        try:
            resp = await asyncio.wait_for(self.workspace_apply_edit_async(
                lsp.ApplyWorkspaceEditParams(edit=wedit, label=label)), timeout=30)
        except Exception as e:
            return {"applied": False, "reason": f"the editor did not apply the edit: {e}"}
        applied = bool(getattr(resp, "applied", False))
        return {"applied": applied, "reason": getattr(resp, "failure_reason", None)}

    async def cmd_variant_text(self, arguments: Any, command: str = cmd.VARIANT_DIFF) -> dict:
        a = self._parse(command, arguments)
        entry, k = self.kernel_args(a.uri, a.kernel)
        summary, v = await self._variant(entry, k, a.variant)
        stale = summary.reference_hash != k.code_hash
        text = None
        if not stale:
            try:
                text = apply.variant_text(entry.text, k, v)
            except apply.ApplyError:
                stale = True
        if text is not None:
            diff = apply.variant_diff(os.path.relpath(entry.path, self.workspace_for(entry.path)), entry.text, text)
        else:  # the kernel changed: compare the regions as measured
            ref = summary.reference.region if summary.reference is not None else ""
            diff = apply.variant_diff(f"{k.name} (as measured)", ref, v.region)
        return {"uri": f"kf-variant:{entry.path}?kernel={k.name}&variant={v.id}", "variant": v.id,
                "speedup": v.speedup, "stale": stale, "region": v.region, "tunables": dict(v.tunables),
                "text": text, "diff": diff, "summary": variant_payload(v)}

    async def draft_for(self, entry, k) -> str:
        """The draft spec of kernel `k` (the same text as `kf spec`'s), read from the host code
        off the event loop, and kept per file version: code actions ask for it often."""
        from backends.kernel.project_flags import include_dirs
        from backends.kernel.spec import draft_spec

        key = (entry.path, hash(entry.text), k.name)
        if key not in self._drafts:
            if len(self._drafts) > 64:
                self._drafts.clear()
            dirs = include_dirs(self.unit_for(entry, k).flags)  # kf.cuda.flags' -I too, as `kf spec --flags`
            self._drafts[key] = await asyncio.to_thread(draft_spec, k, text=entry.text, path=entry.path,
                                                        include_dirs=dirs)
        return self._drafts[key]

    async def cmd_add_spec(self, arguments: Any) -> dict:
        a = self._parse(cmd.ADD_SPEC, arguments)
        entry, k = self.kernel_args(a.uri, a.kernel)
        self._check_version(entry, a.version)
        if k.spec is not None:
            return {"applied": False, "reason": f"{k.name} already has a spec"}
        at, text = views.spec_insertion(entry.text, k, await self.draft_for(entry, k))
        return await self._apply_edit(entry, lsp.TextEdit(lsp.Range(at, at), text),
                                      f"kf: benchmark spec for {k.name}")

    def cmd_set_api_key(self, arguments: Any) -> dict:
        a = cmd.parse_args(cmd.SET_API_KEY, arguments)
        if isinstance(a, str):  # never echo what was sent: it may be the key
            raise _invalid(f"{cmd.SET_API_KEY}: expected {{\"apiKey\": \"...\"}}")
        env = self.settings.llm.api_key_env
        remember_key(env, a.api_key)  # this process's key store only (never its environment, logged or stored)
        return {"ok": True, "env": env}

    def cmd_list_jobs(self, arguments: Any) -> dict:
        self._parse(cmd.LIST_JOBS, arguments)
        from kf_lsp.core.jobs import job_payload

        return {"jobs": [job_payload(j) for j in self.state.snapshot.jobs.values()]}


def _guard(f):
    """Log a handler's unexpected exception (pygls answers the request with an error and the
    server goes on); the errors kf raises on purpose (JsonRpcException) are the client's."""
    if asyncio.iscoroutinefunction(f):
        @functools.wraps(f)
        async def wrapper(*args, **kwargs):
            try:
                return await f(*args, **kwargs)
            except (JsonRpcException, asyncio.CancelledError):
                raise
            except Exception:
                log.exception("%s failed", f.__name__)
                raise
    else:
        @functools.wraps(f)
        def wrapper(*args, **kwargs):
            try:
                return f(*args, **kwargs)
            except JsonRpcException:
                raise
            except Exception:
                log.exception("%s failed", f.__name__)
                raise
    return wrapper


def make_server() -> KfServer:
    server = KfServer()

    def feature(name: str, options: Any = None):
        return lambda f: server.feature(name, options)(_guard(f))

    def command(name: str):
        return lambda f: server.command(name)(_guard(f))

    @feature(lsp.INITIALIZE)
    def initialize(ls: KfServer, params: lsp.InitializeParams) -> None:
        ls._init_raw = cmd.to_plain(params.initialization_options)
        ls._pending_warnings = ls.apply_settings(announce=False)
        roots = [ls.path_of(f.uri) for f in (params.workspace_folders or [])]
        if not roots and params.root_uri:
            roots = [ls.path_of(params.root_uri)]
        elif not roots and params.root_path:
            roots = [os.path.realpath(params.root_path)]
        ls.roots = [r for r in roots if r and os.path.isdir(r)]

    @feature(lsp.INITIALIZED)
    async def initialized(ls: KfServer, params: lsp.InitializedParams) -> None:
        await ls.pull_configuration()
        warnings = ls.apply_settings(announce=False)
        for w in dict.fromkeys(ls._pending_warnings + warnings):
            ls.show("warning", f"kf settings: {w}")
        loop = asyncio.get_running_loop()
        ls.debouncer = Debouncer(loop, ls.settings.debounce_ms / 1000, ls.on_disk_changes)
        caps = ls.client_capabilities
        ws = caps.workspace if caps else None
        if ws and ws.did_change_watched_files and ws.did_change_watched_files.dynamic_registration:
            try:
                await asyncio.wait_for(ls.client_register_capability_async(lsp.RegistrationParams(registrations=[
                    lsp.Registration(id="kf-watched-files", method=lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                                     register_options=lsp.DidChangeWatchedFilesRegistrationOptions(
                                         watchers=[lsp.FileSystemWatcher(glob_pattern=WATCH_GLOB)]))])), timeout=10)
            except Exception as e:
                log.warning("registering workspace/didChangeWatchedFiles failed: %s", e)
        if ls.settings.watch and ls.roots:
            ls.watcher = FolderWatcher(ls.debouncer)
            err = await asyncio.to_thread(ls.watcher.start, ls.roots)
            if err:
                ls.show("warning", f"kf: {err}")
        n = await asyncio.to_thread(ls.index.scan, ls.roots)
        log.info("indexed %d kernel files in %s", n, ", ".join(ls.roots) or "no folder")
        await ls.load_stored(ls.index.files())
        ls.schedule_refresh({e.path for e in ls.index.files()})

    @feature(lsp.SHUTDOWN)
    async def shutdown(ls: KfServer, params: None) -> None:
        if await ls.jobs.shutdown():
            await asyncio.sleep(0.3)  # cancelled evaluations' threads kill their workers first
        if ls.watcher is not None:
            ls.watcher.stop()
        if ls.debouncer is not None:
            ls.debouncer.cancel()
        await asyncio.to_thread(ls.resources.close)
        ls.reparser.close()

    @feature(lsp.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: KfServer, params: lsp.DidChangeConfigurationParams) -> None:
        pushed = cmd.to_plain(params.settings)
        if isinstance(pushed, dict) and isinstance(pushed.get("kf"), dict):
            ls._config_raw = pushed["kf"]
        await ls.pull_configuration()
        ls.apply_settings()
        ls.schedule_refresh({e.path for e in ls.index.files()})

    @feature(lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(ls: KfServer, params: lsp.DidChangeWatchedFilesParams) -> None:
        paths = [p for p in (ls.path_of(c.uri) for c in params.changes) if p]
        if ls.debouncer is not None:
            ls.debouncer.add(paths)

    @feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: KfServer, params: lsp.DidOpenTextDocumentParams) -> None:
        path = ls.path_of(params.text_document.uri)
        if path is None:
            return
        text, version = params.text_document.text, params.text_document.version
        if len(text) > MAX_DOCUMENT_BYTES:
            ls.publish_diagnostics(ls.open_too_large(path, text, version))
            return
        ls._too_large.discard(path)
        ls.reparser.request(params.text_document.uri, path, now=True)
        if path.lower().endswith((".cu", ".cuh")):
            ls.spawn(ls.compile_cuda_without_gpu(params.text_document.uri))

    @feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: KfServer, params: lsp.DidChangeTextDocumentParams) -> None:
        path = ls.path_of(params.text_document.uri)
        if path is None:
            return
        doc = ls.documents.get(params.text_document.uri)
        if doc is None:
            return
        if doc.size > MAX_DOCUMENT_BYTES:
            ls.open_too_large(path, doc.text, doc.version)
            ls.schedule_refresh({path}, delay=0.5)
            return
        ls._too_large.discard(path)
        entry = ls.index.get(path)
        edits = doc.edits
        if (entry is not None and entry.open and entry.text and len(edits) == len(params.content_changes)
                and not ls.reparser.pending(path) and inert(entry, edits)):
            # re-scan only what changed: nothing a kernel depends on did (kf_lsp.incremental)
            ls.index.install(with_text(entry, doc.text, doc.version))
            edits.clear()
            return
        if len(edits) > 1000:
            edits[:] = [None]
        ls.reparser.request(params.text_document.uri, path)

    @feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    async def did_save(ls: KfServer, params: lsp.DidSaveTextDocumentParams) -> None:
        await ls.settle(params.text_document.uri, 30.0)
        entry = ls.entry_for(params.text_document.uri)
        if entry is not None:
            ls.on_save(entry)
            if entry.language == "cuda":
                ls.spawn(ls.compile_cuda_without_gpu(params.text_document.uri))

    @feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    async def did_close(ls: KfServer, params: lsp.DidCloseTextDocumentParams) -> None:
        path = ls.path_of(params.text_document.uri)
        if path is None:
            return
        ls.reparser.forget(path)
        ls._too_large.discard(path)
        ls.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=params.text_document.uri,
                                                                          diagnostics=[]))
        await asyncio.to_thread(ls.index.close, path)

    # -- requests that read cached state only ------------------------------------------------------

    @feature(lsp.TEXT_DOCUMENT_HOVER)
    async def hover(ls: KfServer, params: lsp.HoverParams) -> lsp.Hover | None:
        await ls.settle(params.text_document.uri, SETTLE_SECONDS)
        entry = ls.entry_for(params.text_document.uri)
        return views.hover(entry, params.position, ls.state.snapshot) if entry else None

    @feature(lsp.TEXT_DOCUMENT_CODE_LENS)
    async def code_lens(ls: KfServer, params: lsp.CodeLensParams) -> list[lsp.CodeLens]:
        await ls.settle(params.text_document.uri, SETTLE_SECONDS)
        entry = ls.entry_for(params.text_document.uri)
        return views.code_lenses(entry, ls.state.snapshot, params.text_document.uri) if entry else []

    @feature(lsp.TEXT_DOCUMENT_INLAY_HINT)
    async def inlay_hint(ls: KfServer, params: lsp.InlayHintParams) -> list[lsp.InlayHint]:
        await ls.settle(params.text_document.uri, SETTLE_SECONDS)
        entry = ls.entry_for(params.text_document.uri)
        return views.inlay_hints(entry, ls.state.snapshot, params.range) if entry else []

    @feature(lsp.TEXT_DOCUMENT_CODE_ACTION, lsp.CodeActionOptions(code_action_kinds=[
        lsp.CodeActionKind.QuickFix, lsp.CodeActionKind.RefactorRewrite, lsp.CodeActionKind.Empty]))
    async def code_action(ls: KfServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        await ls.settle(params.text_document.uri, SETTLE_SECONDS)
        entry = ls.entry_for(params.text_document.uri)
        if entry is None:
            return []
        k = entry.kernel_at(params.range.start.line)
        spec_text = None
        if k is not None and k.spec is None:
            spec_text = await ls.draft_for(entry, k)  # as `kf spec` and MCP draft it
        return views.code_actions(entry, params.text_document.uri, params.range, ls.state.snapshot,
                                  ls.settings.variant_actions, spec_text)

    # -- commands ------------------------------------------------------------------------------

    @command(cmd.OPTIMIZE)
    async def optimize(ls: KfServer, *args: Any) -> dict:
        await ls.settle_args(args)
        return ls.cmd_optimize(list(args))

    @command(cmd.BENCHMARK)
    async def benchmark(ls: KfServer, *args: Any) -> dict:
        await ls.settle_args(args)
        return ls.cmd_benchmark(list(args))

    @command(cmd.STOP)
    def stop(ls: KfServer, *args: Any) -> dict:
        return ls.cmd_stop(list(args))

    @command(cmd.APPLY_VARIANT)
    async def apply_variant(ls: KfServer, *args: Any) -> dict:
        await ls.settle_args(args)
        return await ls.cmd_apply(list(args))

    @command(cmd.VARIANT_DIFF)
    async def variant_diff(ls: KfServer, *args: Any) -> dict:
        await ls.settle_args(args)
        return await ls.cmd_variant_text(list(args))

    @command(cmd.ADD_SPEC)
    async def add_spec(ls: KfServer, *args: Any) -> dict:
        await ls.settle_args(args)
        return await ls.cmd_add_spec(list(args))

    @command(cmd.SET_API_KEY)
    def set_api_key(ls: KfServer, *args: Any) -> dict:
        return ls.cmd_set_api_key(list(args))

    @command(cmd.LIST_JOBS)
    def list_jobs(ls: KfServer, *args: Any) -> dict:
        return ls.cmd_list_jobs(list(args))

    @feature(cmd.VARIANT_TEXT)
    async def variant_text(ls: KfServer, params: Any) -> dict:
        return await ls.cmd_variant_text(params, cmd.VARIANT_TEXT)

    @feature(cmd.SET_API_KEY_NOTIFICATION)
    def set_api_key_notification(ls: KfServer, params: Any) -> None:
        try:
            ls.cmd_set_api_key(params)
        except Exception:
            ls.show("warning", f"kf: {cmd.SET_API_KEY_NOTIFICATION} expects {{\"apiKey\": \"...\"}}")

    @feature(lsp.WINDOW_WORK_DONE_PROGRESS_CANCEL)
    def progress_cancel(ls: KfServer, params: lsp.WorkDoneProgressCancelParams) -> None:
        if not ls.jobs.stop_token(params.token):
            log.info("progress cancel for an unknown or finished job: %s", params.token)

    return server


def _quiet_pygls() -> None:
    """pygls logs whole messages at INFO/DEBUG; kf's own log says what matters (and a key
    sent with kf.setApiKey must never reach a log)."""
    for name in ("pygls", "pygls.protocol", "pygls.server", "pygls.feature_manager"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # it logs a traceback for every error answer, the deliberate ones included (bad
    # arguments); kf's handlers log their own unexpected failures (_guard)
    logging.getLogger("pygls.protocol.json_rpc").setLevel(logging.CRITICAL)


def serve(tcp: int | None = None, host: str = "127.0.0.1", log_level: str = "INFO") -> int:
    """Run the server over stdio (default) or TCP. stdout carries only the protocol: the
    process's file descriptor 1 is pointed at stderr first, so nothing else (a library's
    print, a spawned worker) can write into the stream."""
    logging.basicConfig(stream=sys.stderr, level=getattr(logging, log_level.upper(), logging.INFO),
                        format="kf %(levelname)s %(name)s: %(message)s")
    _quiet_pygls()
    server = make_server()
    if tcp is not None:
        server.start_tcp(host, tcp)
        return 0
    proto_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return run_stdio(server, sys.stdin.fileno(), proto_out)


def run_stdio(server: KfServer, stdin_fd: int, out: Any) -> int:
    """pygls's stdio loop with kf's frame reader (kf_lsp.rpc); the exit code the LSP spec
    gives (0 after shutdown + exit, 1 otherwise)."""
    import threading

    from pygls.io_ import StdoutWriter

    server._stop_event = threading.Event()
    server.protocol.set_writer(StdoutWriter(out))
    code = 1
    try:
        code = asyncio.run(serve_stream(server.protocol, stdin_chunks(stdin_fd), server._stop_event))
    except BrokenPipeError:
        log.error("the client closed its end of the connection: the server stops")
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.reparser.close()
        try:
            server.shutdown()
        except Exception:
            pass
    return code


if __name__ == "__main__":
    sys.exit(serve())
