"""The tools `kf mcp` offers coding agents, as plain async functions: arguments and results
are the Structs of kf_lsp.agent_records; errors are `ToolError` (one line, shown to the
agent as a tool error). Nothing here knows the protocol (kf_lsp.mcp_server does).

The engine is the language server's: searches and benchmarks are `kf_lsp.jobs.JobManager`
jobs (asyncio tasks over evolver's Search), evaluations go to the spawned worker pools of
`kf_lsp.jobs.Resources`, results come from the workspace's store. Nothing compiles or
runs a kernel in this process, and disk and database work runs in threads, so a long
call never holds up the others.

Every path is confined to the roots the caller passes (the client's MCP roots, or the
folder `kf mcp` was started in): `confine` resolves symlinks first, so a link pointing
out of a root is refused like any other path outside.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import fnmatch
import functools
import hashlib
import logging
import os
import re
import time
from typing import Any, Awaitable, Callable

import msgspec

from backends.kernel.load import UnitError, load_unit
from backends.kernel.scanner import KernelNotFound, find_kernel
from backends.kernel.text import mask, range_to_offsets
from backends.model import EvalOptions, EvalRequest, EvalResult, KernelMeasurement, KernelSource, Unit, Verdict
from evolver.records import Variant

from . import records as r
from kf_lsp.core.index import KERNEL_EXTENSIONS, MAX_FILE_BYTES, is_ignored_dir, parse_entry
from kf_lsp.core.jobs import JobManager, Resources, load_summary
from kf_lsp.core.secrets import secret_values, take_secrets
from kf_lsp.core.settings import Settings, choose_llm, key_envs
from kf_lsp.core.state import JobView, SearchSummary, State

__all__ = ["ToolError", "AgentTools", "confine", "Progress", "llm_refusal", "summary_text"]

log = logging.getLogger("kf.mcp")

Progress = Callable[[float, float | None, str | None], Awaitable[None]]
MAX_LIST_FILES = 5000


class ToolError(Exception):
    """Bad input or a refusal the agent can act on: the message is shown as is."""


_ENDPOINT_FIELDS = re.compile(r"url|uri|host|endpoint_url|key|env|token|secret|header", re.I)


def llm_refusal(tool: str, arguments: Any) -> str | None:
    """A call that tries to name an LLM endpoint's URL or a key variable (`llm.base_url`,
    `llm.api_key_env`, ...) is refused with one line saying how endpoints are chosen (by the
    names whoever started kf configured). The values it sent are never repeated."""
    if tool != "optimize" or not isinstance(arguments, dict) or not isinstance(arguments.get("llm"), dict):
        return None
    bad = sorted(k for k in arguments["llm"] if isinstance(k, str) and k not in ("endpoint", "model")
                 and _ENDPOINT_FIELDS.search(k))
    if not bad:
        return None
    return (f"kf: optimize: llm.{bad[0]}: a call cannot name an LLM endpoint's URL or a key variable; endpoints "
            "and keys are configured by whoever starts kf mcp (--llm-base-url, --model, --api-key-env, "
            "--settings FILE). A call picks one by name: llm: {\"endpoint\": NAME, \"model\": NAME}")


async def _no_progress(done: float, total: float | None, message: str | None) -> None:
    return None


def confine(path: str, roots: list[str]) -> str:
    """The real path of `path` (relative paths start at the first root) if it lies inside
    one of `roots`, else ToolError naming the roots."""
    if not roots:
        raise ToolError("kf: no root folder: start kf mcp in the project's folder or declare MCP roots")
    if "\x00" in path:
        raise ToolError("kf: a path cannot contain NUL characters")
    p = os.path.realpath(os.path.join(roots[0], os.path.expanduser(path)))
    for root in roots:
        if p == root or p.startswith(root.rstrip(os.sep) + os.sep):
            return p
    raise ToolError(f"kf: {path}: outside the allowed roots ({', '.join(roots)}); kf only reads and writes "
                    "files under the folders the client declares as roots, or the folder kf mcp was started in")


def _confine_flags(flags: list[str], roots: list[str]) -> None:
    """Flags an agent gives may not reach outside the roots: include paths must lie inside
    them, and flags that run or reconfigure the host compiler are refused."""
    for f in flags:
        if f.startswith(("-ccbin", "--compiler-bindir", "-Xcompiler", "--compiler-options", "-Xcudafe",
                         "--options-file", "-optf")):
            raise ToolError(f"kf: flag {f.split('=')[0]} is not accepted from an MCP client")
        for prefix in ("-I", "--system-include=", "--pre-include="):
            if f.startswith(prefix) and len(f) > len(prefix):
                confine(f[len(prefix):], roots)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _spec_status(k: KernelSource) -> str:
    if any(d.severity == "error" for d in k.spec_errors):
        return "error"
    return "missing" if k.spec is None else "ok"


def _line(k: KernelSource) -> int:
    return k.name_range.start.line + 1


def _where(path: str, k: KernelSource) -> str:
    return f"{path}:{_line(k)}:{k.name_range.start.column + 1}"


def _without_samples(result: EvalResult) -> EvalResult:
    """Timing samples are hundreds of numbers an agent does not need (median and spread stay)."""
    def strip(m: KernelMeasurement | None) -> KernelMeasurement | None:
        if m is None or m.timing is None:
            return m
        return msgspec.structs.replace(m, timing=msgspec.structs.replace(m.timing, samples=[]))

    return msgspec.structs.replace(result, reference=strip(result.reference), candidate=strip(result.candidate))


def _us(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e6:.1f} us"


def bench_summary(result: EvalResult, candidate: bool) -> str:
    """One line an agent can quote: the verdict, the times with their spread, the speedup."""
    parts = [result.verdict.value]
    if result.message and result.message != result.verdict.value:
        parts.append(result.message.removeprefix(result.verdict.value + "; "))
    for name, m in (("original", result.reference), ("candidate", result.candidate if candidate else None)):
        if m is not None and m.timing is not None:
            t = m.timing
            parts.append(f"{name} {_us(t.median)} (p10-p90 {_us(t.p10)}-{_us(t.p90)})")
    if result.speedup is not None and "95% CI" not in result.message:
        parts.append(f"speedup {result.speedup:.2f}x (95% CI {result.speedup_low or 0:.2f}-"
                     f"{result.speedup_high or 0:.2f}, {'significant' if result.significant else 'not significant'})")
    return "; ".join(parts)


class _JobsClient:
    """kf_lsp.jobs.Client for agents: there is no editor to notify; what a job says goes
    to the log and into its JobView (job_status reads it)."""

    def notify(self, method: str, payload: dict) -> None:
        return None

    def show(self, level: str, message: str, detail: str | None = None) -> None:
        getattr(log, "error" if level == "error" else "warning" if level == "warning" else "info")(detail or message)

    async def progress_begin(self, token: str, title: str, message: str, cancellable: bool) -> bool:
        return False  # MCP progress belongs to a request: job_status(wait_seconds) reports it

    def progress_report(self, token: str, message: str, pct: int | None) -> None:
        return None

    def progress_end(self, token: str, message: str) -> None:
        return None

    def publish(self, path: str) -> None:
        return None


class AgentTools:
    """The tools over one engine. `roots` are the folders the server was started with;
    each call gets the roots in force for its client (`roots=`)."""

    def __init__(self, roots: list[str], settings: Settings | None = None):
        self.default_roots = [os.path.realpath(x) for x in roots]
        self.settings = settings or Settings()
        self.roots = list(self.default_roots)  # the latest caller's: jobs' stores live under them
        self._changed = asyncio.Event()
        self.state = State(on_change=self._on_change)
        self.resources = Resources(self.workspace_for)
        self._warm: asyncio.Future | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="kf-mcp-io")
        take_secrets(key_envs(self.settings.llm))  # (kf mcp did at start; a library caller may not have)
        self.jobs = JobManager(self.state, _JobsClient(), self.resources, lambda: self.settings, front="mcp")

    def secrets(self) -> list[str]:
        """The key values this process holds: never to be shown (the protocol layer blanks them)."""
        return secret_values()

    # -- plumbing -------------------------------------------------------------------------

    def warm(self) -> "asyncio.Future[None]":
        """Import the engine (the search; pyribs, which its archive imports on first use: seconds on a busy
        machine) in a thread, once. The jobs import it on the event loop when a search
        starts, which would stall every other call meanwhile; after this, those imports
        are free."""
        if self._warm is None:
            def load() -> None:
                import importlib

                for name in ("evolver.engine", "evolver.tuning", "evolver.descriptors", "evolver.archive",
                             "evolver.llm_operator", "ribs.archives", "backends.run.local_pool", "backends.kernel.spec"):
                    try:
                        importlib.import_module(name)
                    except ImportError as e:  # reported where it is used
                        log.warning("importing %s: %s", name, e)

            self._warm = asyncio.ensure_future(self._io(load))
        return self._warm

    async def _io(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Disk and database work in threads of its own: the default executor's threads are
        held by evaluations for their whole run, and a quick call must not queue behind them."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, functools.partial(fn, *args))

    def _on_change(self, keys: set[str]) -> None:
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    def workspace_for(self, path: str) -> str:
        p = os.path.realpath(path)
        inside = [x for x in self.roots + self.default_roots if p == x or p.startswith(x.rstrip(os.sep) + os.sep)]
        if inside:
            return max(inside, key=len)
        from evolver.store import workspace_of

        return workspace_of(p)

    def _use(self, roots: list[str] | None) -> list[str]:
        roots = [os.path.realpath(x) for x in roots] if roots else list(self.default_roots)
        self.roots = roots
        return roots

    async def _unit(self, file: str, kernel: str | None, roots: list[str], flags: list[str] | None = None) -> Unit:
        path = confine(file, roots)
        if os.path.isdir(path):
            raise ToolError(f"kf: {file}: a folder, not a kernel file (list_kernels lists the files)")
        given, source = (list(flags), "flags") if flags else (None, "")
        if flags:
            from backends.kernel.project_flags import normalize, split

            _confine_flags(normalize(split(flags), self.workspace_for(path)), roots)
        try:
            unit = await self._io(load_unit, path, kernel, None, None, given, source, self.workspace_for(path))
        except UnitError as e:
            raise ToolError(f"kf: {e}") from None
        if not flags:  # the setting, where the file has no compile_commands.json entry
            configured = (self.settings.cuda if unit.kernel.language == "cuda" else self.settings.sycl).flags
            if configured and not unit.flags_source.startswith("compile_commands"):
                unit = await self._io(load_unit, path, kernel, unit.text, None, configured,
                                      f"kf.{unit.kernel.language}.flags", self.workspace_for(path))
        return unit

    @staticmethod
    def _need_spec(unit: Unit) -> None:
        k = unit.kernel
        errors = [d for d in k.spec_errors if d.severity == "error"]
        if errors:  # every one, a line each: the agent fixes them in one go
            raise ToolError("\n".join(f"kf: {d.format()}" for d in errors))
        if k.spec is None:
            raise ToolError(f"kf: {_where(unit.path, k)}: kernel {k.name} has no `// @kf` spec: draft_spec drafts "
                            "one (write=true inserts it), then check_spec")

    async def _device(self, k: KernelSource) -> tuple[str, int, str]:
        chosen = await self.resources.device_for(k, self.settings)
        if isinstance(chosen, str):
            raise ToolError(f"kf: {chosen}")
        return chosen

    async def close(self) -> None:
        if await self.jobs.shutdown():
            await asyncio.sleep(0.3)  # cancelled evaluations' threads kill their workers first
        await asyncio.to_thread(self.resources.close)
        self._executor.shutdown(wait=False, cancel_futures=True)

    # -- list_kernels ------------------------------------------------------------------------

    async def list_kernels(self, a: r.ListArgs, roots: list[str] | None = None, progress: Progress = _no_progress
                           ) -> r.KernelList:
        roots = self._use(roots)
        top = confine(a.path or roots[0], roots)
        if not os.path.exists(top):
            raise ToolError(f"kf: {a.path}: no such file or folder")
        start = 0
        if a.cursor is not None:
            if not a.cursor.isdigit():
                raise ToolError(f"kf: list_kernels: cursor {a.cursor[:40]!r} is not one this tool gave "
                                "(pass next_cursor as it came)")
            start = int(a.cursor)
        return await self._io(self._scan, top, roots, a, start)

    @staticmethod
    def _glob_match(rel: str, pattern: str) -> bool:
        """`*` and `?` within a folder name, `**/` across folders; a pattern without a slash
        matches the file's name in any folder (as .gitignore and most tools read it)."""
        rel = rel.replace(os.sep, "/")
        if "/" not in pattern:
            return fnmatch.fnmatchcase(os.path.basename(rel), pattern)
        out = []
        for token in re.split(r"(\*\*/|\*\*|\*|\?)", pattern):
            out.append({"**/": "(?:.*/)?", "**": ".*", "*": "[^/]*", "?": "[^/]"}.get(token) or re.escape(token))
        return re.fullmatch("".join(out), rel) is not None

    def _scan(self, top: str, roots: list[str], a: r.ListArgs, start: int) -> r.KernelList:
        files: list[str] = []
        if os.path.isfile(top):
            files = [top]
        else:
            for dirpath, dirnames, filenames in os.walk(top):
                dirnames[:] = sorted(d for d in dirnames if not is_ignored_dir(d))
                for f in sorted(filenames):
                    path = os.path.join(dirpath, f)
                    if f.lower().endswith(KERNEL_EXTENSIONS) and (
                            a.glob is None or self._glob_match(os.path.relpath(path, top), a.glob)):
                        files.append(path)
                if len(files) > MAX_LIST_FILES:
                    break
        kernels: list[r.KernelInfo] = []
        errors: list[str] = []
        read = total = 0
        for path in files[:MAX_LIST_FILES]:
            try:
                confine(path, roots)  # a link out of the roots is not followed
            except ToolError:
                continue
            try:
                if os.path.getsize(path) > MAX_FILE_BYTES:
                    errors.append(f"{path}: larger than {MAX_FILE_BYTES >> 20} MB, not read")
                    continue
                with open(path, encoding="utf-8", errors="replace", newline="") as f:
                    text = f.read()
            except OSError as e:
                errors.append(f"{path}: cannot read: {e.strerror}")
                continue
            read += 1
            entry = parse_entry(path, text)
            if entry.error:
                errors.append(f"{path}: {entry.error}")
            chosen = [k for k in entry.kernels if (a.language is None or k.language == a.language)
                      and (a.has_spec is None or (k.spec is not None or _spec_status(k) == "error") == a.has_spec)]
            page = [k for i, k in enumerate(chosen, total) if start <= i < start + a.limit]
            total += len(chosen)
            store = self.resources.existing_store(path) if page else None
            for k in page:
                search = None
                if store is not None:
                    try:
                        s = load_summary(store, path, k.name, k.code_hash)
                    except Exception as e:  # a database from another version, a locked file...
                        errors.append(f"{path}: results of {k.name}: {e}")
                        s = None
                    if s is not None:
                        search = r.SearchInfo(s.id, s.status, s.done, s.best.speedup if s.best else None,  # type: ignore[arg-type]
                                              s.reference_hash == k.code_hash)
                tunables = {t.name: list(t.values) for t in (k.spec.tunables if k.spec else [])}
                kernels.append(r.KernelInfo(file=path, kernel=k.name, line=_line(k), language=k.language,  # type: ignore[arg-type]
                                            spec=_spec_status(k), diagnostics=r.positions(k.spec_errors),  # type: ignore[arg-type]
                                            tunables=tunables, search=search))
        if len(files) > MAX_LIST_FILES:
            errors.append(f"more than {MAX_LIST_FILES} kernel files under {top}: list a smaller folder or use glob")
        more = start + len(kernels) < total
        return r.KernelList(root=top, kernels=kernels, total=total, files=read,
                            next_cursor=str(start + len(kernels)) if more else None, errors=errors)

    # -- specs -------------------------------------------------------------------------------

    async def draft_spec(self, a: r.DraftArgs, roots: list[str] | None = None, progress: Progress = _no_progress
                         ) -> r.DraftResult:
        from backends.kernel.project_flags import include_dirs
        from backends.kernel.spec import draft_spec

        unit = await self._unit(a.file, a.kernel, self._use(roots), a.flags)
        k = unit.kernel
        draft = await self._io(functools.partial(draft_spec, k, text=unit.text, path=unit.path,  # as `kf spec`
                                                 include_dirs=include_dirs(unit.flags)))
        written = False
        if a.write:
            if k.spec is not None:
                raise ToolError(f"kf: {_where(unit.path, k)}: {k.name} already has a spec; not written "
                                "(check_spec checks it)")
            await self._io(self._insert, unit, draft)
            written = True
        return r.DraftResult(file=unit.path, kernel=k.name, has_spec=k.spec is not None, draft=draft,
                             line=k.region.start.line + 1, written=written)

    @staticmethod
    def _insert(unit: Unit, draft: str) -> None:
        with open(unit.path, encoding="utf-8", errors="replace", newline="") as f:
            now = f.read()
        if now != unit.text:
            raise ToolError(f"kf: {unit.path}: changed while the draft was made; not written")
        a, _ = range_to_offsets(now, unit.kernel.region)
        if "\r\n" in now:
            draft = draft.replace("\n", "\r\n")
        tmp = unit.path + ".kf-tmp"
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            f.write(now[:a] + draft + now[a:])
        os.replace(tmp, unit.path)

    async def check_spec(self, a: r.KernelArgs, roots: list[str] | None = None, progress: Progress = _no_progress
                         ) -> r.SpecCheck:
        """The spec's own diagnostics, then the original run alone on it (every problem size
        and seed, untimed): a spec the original does not run cleanly on verifies nothing."""
        unit = await self._unit(a.file, a.kernel, self._use(roots), a.flags)
        k = unit.kernel
        status = _spec_status(k)
        base = dict(file=unit.path, kernel=k.name, spec=status, diagnostics=r.positions(k.spec_errors))
        if status != "ok":
            msg = ("no `// @kf` spec: draft_spec drafts one" if status == "missing" else
                   next(d.format() for d in k.spec_errors if d.severity == "error"))
            return r.SpecCheck(ok=False, message=msg, **base)  # type: ignore[arg-type]
        backend, device, _ = await self._device(k)
        pool = await self.resources.pool(backend, device, self.settings, lambda m: log.warning("%s", m))
        await progress(0, 1, f"running {k.name} on its spec")
        request = EvalRequest(unit, None, backend, device, EvalOptions(time=False, seeds=2, profile=False),
                              nonce=time.time_ns() & 0x7FFFFFFF)
        result = await pool.evaluate(request)
        await progress(1, 1, result.verdict.value)
        ok = result.verdict in (Verdict.CORRECT, Verdict.COMPILED)
        return r.SpecCheck(ok=ok, verdict=result.verdict, message=result.message, checks=len(result.checks),
                           sizes=list({tuple(sorted(c.sizes.items())): dict(c.sizes) for c in result.checks}.values()),
                           **{**base, "diagnostics": r.positions(list(k.spec_errors) + [
                               d for d in result.diagnostics if d not in k.spec_errors])})  # type: ignore[arg-type]

    # -- bench ---------------------------------------------------------------------------

    def _candidate(self, ref: Unit, source: str | None, tunables: dict[str, int | float]) -> Unit | None:
        """The candidate Unit: the whole file given, or a kernel spliced over the original's
        region; without @kf lines of its own it takes the original's spec."""
        if source is None:
            return msgspec.structs.replace(ref, tunables=dict(tunables)) if tunables else None
        k = ref.kernel
        try:
            found = find_kernel(source, ref.path, k.name)
        except KernelNotFound as e:
            raise ToolError(f"kf: candidate_source: {e}".replace(ref.path, "the candidate")) from None
        a, b = range_to_offsets(source, found.region)
        code = mask(source, comments=True, strings=False, preprocessor=False)
        outside = (code[:a] + code[b:]).strip()  # comments alone around the kernel: still only the kernel
        spec_text = ""
        if found.spec is None and k.spec is not None and k.spec.range is not None:
            spec_text = ref.text[slice(*range_to_offsets(ref.text, k.spec.range))]
            if spec_text and not spec_text.endswith("\n"):
                spec_text += "\n"
        if not outside:  # only the kernel: in place of the original's, the rest of the file as it is
            from backends.kernel.splice import splice

            region = spec_text + source[a:b]
            if not region.endswith("\n") and ref.text[slice(*range_to_offsets(ref.text, k.region))].endswith("\n"):
                region += "\n"
            text = splice(ref.text, k, region)
        else:
            text = source[:a] + spec_text + source[a:] if spec_text else source
        try:
            kernel = find_kernel(text, ref.path, k.name)
        except KernelNotFound as e:
            raise ToolError(f"kf: candidate_source: {e}") from None
        return Unit(path=ref.path, text=text, kernel=kernel, tunables=dict(tunables), include_dirs=list(ref.include_dirs),
                    flags=list(ref.flags), flags_source=ref.flags_source)

    async def bench(self, a: r.BenchArgs, roots: list[str] | None = None, progress: Progress = _no_progress
                    ) -> r.BenchResult:
        ref = await self._unit(a.file, a.kernel, self._use(roots), a.flags)
        self._need_spec(ref)
        cand = self._candidate(ref, a.candidate_source, dict(a.tunables))
        if cand is not None and a.tunables:
            self._check_tunables(cand)
        backend, device, _ = await self._device(ref.kernel)
        pool = await self.resources.pool(backend, device, self.settings, lambda m: log.warning("%s", m))
        options = EvalOptions(seeds=a.seeds, target_seconds=a.time_budget, timeout_s=a.timeout)
        await progress(0, 1, f"compiling, checking and timing {ref.kernel.name}" + (" and the candidate" if cand else ""))
        result = await pool.evaluate(EvalRequest(ref, cand, backend, device, options,
                                                 nonce=time.time_ns() & 0x7FFFFFFF))
        await progress(1, 1, result.verdict.value)
        return r.BenchResult(file=ref.path, kernel=ref.kernel.name, verdict=result.verdict, candidate=cand is not None,
                             summary=bench_summary(result, cand is not None), diagnostics=r.positions(result.diagnostics),
                             result=msgspec.structs.replace(_without_samples(result), diagnostics=[]))

    @staticmethod
    def _check_tunables(cand: Unit) -> None:
        """Values for tunables the kernel does not declare are the call's mistake: an error
        now, not a verdict after a compile."""
        from backends.kernel.tunables import TunableError, bind

        try:
            bind(cand.text, cand.kernel, cand.tunables)
        except TunableError as e:
            raise ToolError(f"kf: {_where(cand.path, cand.kernel)}: tunables: {e}") from None

    # -- jobs --------------------------------------------------------------------------------

    @staticmethod
    def _job_info(j: JobView) -> r.JobInfo:
        return r.JobInfo(job_id=j.id, kind=j.kind, file=j.path, kernel=j.kernel, state=j.state, done=j.done,
                         budget=j.budget, best_speedup=j.best_speedup, message=j.message,
                         elapsed_seconds=round(j.elapsed(), 3),
                         resumable=j.kind == "optimize" and j.state in ("cancelled", "interrupted") and j.done > 0,
                         search_id=j.search)

    def _settings_for(self, a: r.OptimizeArgs) -> Settings:
        s = self.settings
        if a.time is not None:
            s = msgspec.structs.replace(s, budget=msgspec.structs.replace(s.budget, wall_seconds=a.time))
        if a.tuning is not None:
            s = msgspec.structs.replace(s, tuning=a.tuning)
        choice = a.llm if isinstance(a.llm, r.LLMChoice) else None
        use = a.llm if isinstance(a.llm, bool) else (True if choice is not None else None)
        chosen = choose_llm(s, use, choice.endpoint if choice else None, choice.model if choice else None)
        if isinstance(chosen, str):
            raise ToolError(f"kf: optimize: llm: {chosen}")
        return chosen

    async def optimize(self, a: r.OptimizeArgs, roots: list[str] | None = None, progress: Progress = _no_progress
                       ) -> r.OptimizeResult:
        if a.file.endswith(".py"):  # a Python reference: optimize the stub drafted next to it
            unit = await self._stub_unit(a, self._use(roots))
        else:
            unit = await self._unit(a.file, a.kernel, self._use(roots), a.flags)
        self._need_spec(unit)
        settings = self._settings_for(a)
        refusal = self.jobs.optimize_refusal(unit, settings)  # nothing to try: an error now, no job
        if refusal is not None:
            raise ToolError(f"kf: {refusal.message}")
        await self.warm()
        before = {j.id for j in self.jobs.for_kernel(unit.path, unit.kernel.name, "optimize")}
        job, err = self.jobs.start_optimize(unit, a.budget, a.eval_seconds, settings)
        if job is None:
            raise ToolError(f"kf: {err}")
        if a.wait_seconds > 0:
            job, _ = await self._wait(job.id, a.wait_seconds, progress)
        note = ("the job runs in this kf mcp process and ends with it: a client that starts a new server for "
                "every call cannot follow it (use optimize with wait_seconds, or keep the server running); "
                "job_status(job_id, wait_seconds) follows it" if job.active else "")
        return r.OptimizeResult(job=self._job_info(job), already_running=job.id in before,
                                database=self.resources.db_path(unit.path), note=note)

    def _kf_dirs(self) -> list[str]:
        return list(dict.fromkeys(os.path.join(x, ".kf") for x in self.roots + self.default_roots))

    async def _stub_unit(self, a: r.OptimizeArgs, roots: list[str]) -> Unit:
        """The stub kernel file for a Python reference (drafted once, next to it; the inspection
        of the reference runs in a separate process: backends/judge/stub_draft.py)."""
        from backends.judge.stub_draft import DraftError, draft_stub, kernel_name, stub_path

        path = confine(a.file, roots)
        if a.language is None:
            raise ToolError(f"kf: {a.file}: a Python reference: give `language` (cuda or sycl) for the kernel to write")
        stub = stub_path(path, a.kernel, a.language)
        if not os.path.exists(stub):
            try:
                stub, text = await asyncio.to_thread(draft_stub, path, a.kernel, a.language)
            except DraftError as e:
                raise ToolError(f"kf: {e}") from None
            with open(stub, "w", encoding="utf-8") as f:
                f.write(text)
        try:
            return await self._io(load_unit, stub, kernel_name(path, a.kernel))
        except UnitError as e:
            raise ToolError(f"kf: {e}") from None

    def _find_job(self, job_id: str) -> JobView:
        """A job of this process, else one an earlier process recorded (its stored state)."""
        j = self.jobs.find(job_id) or self.state.snapshot.jobs.get(job_id) or self.jobs.stored(job_id, self._kf_dirs())
        if j is None:
            known = ", ".join(self.state.snapshot.jobs) or "none"
            raise ToolError(f"kf: no job {job_id!r} under the roots (jobs of this server: {known}); job ids come "
                            "from optimize; results gives a kernel's stored search")
        return j

    async def _wait(self, job_id: str, wait_seconds: float, progress: Progress) -> tuple[JobView, float]:
        """Wait (at most MAX_WAIT_SECONDS) for the job to end, with a progress notification per change."""
        started = time.monotonic()
        deadline = started + min(wait_seconds, r.MAX_WAIT_SECONDS)
        reported = -1.0  # MCP progress must increase with every notification
        while True:
            j = self._find_job(job_id)
            if j.done > reported:
                reported = j.done
                best = f", best {j.best_speedup:.2f}x" if j.best_speedup and j.best_speedup > 1 else ""
                await progress(j.done, j.budget or None, f"{j.state}: {j.done}/{j.budget} evaluations{best}"
                               + (f" - {j.message}" if j.message else ""))
            left = deadline - time.monotonic()
            if not j.active or left <= 0:
                return j, time.monotonic() - started
            changed = self._changed
            try:
                await asyncio.wait_for(changed.wait(), timeout=min(left, 5.0))
            except asyncio.TimeoutError:
                pass

    async def job_status(self, a: r.JobArgs, roots: list[str] | None = None, progress: Progress = _no_progress
                         ) -> r.JobList:
        self._use(roots)
        if a.job_id is None:
            return r.JobList([self._job_info(j) for j in self.state.snapshot.jobs.values()])
        j, waited = await self._wait(a.job_id, a.wait_seconds, progress)
        return r.JobList([self._job_info(j)], waited_seconds=round(waited, 3))

    async def stop(self, a: r.StopArgs, roots: list[str] | None = None, progress: Progress = _no_progress
                   ) -> r.StopResult:
        self._use(roots)
        j = self._find_job(a.job_id)
        stopped = self.jobs.stop(j.id, "stopped by the agent")
        if stopped:  # let the task see its cancellation (the store has every finished evaluation)
            for _ in range(100):
                j = self._find_job(a.job_id)
                if not j.active:
                    break
                await asyncio.sleep(0.1)
        return r.StopResult(job_id=j.id, stopped=stopped, state=j.state)

    # -- results and apply -----------------------------------------------------------------

    async def _summary(self, unit: Unit) -> SearchSummary | None:
        store = self.resources.existing_store(unit.path)
        if store is None:
            return None
        k = unit.kernel
        return await self._io(load_summary, store, unit.path, k.name, k.code_hash)

    def _variant_info(self, unit: Unit, v: Variant, applicable: bool, current: str | None,
                      retimed: bool) -> r.VariantInfo:
        from evolver.descriptors import grid_for

        from kf_lsp.core.apply import ApplyError, variant_diff, variant_text

        try:  # the grid of the search that made it (its cell's length says which)
            description = grid_for(len(v.cell)).describe_cell(list(v.cell)) if v.cell else ""
        except (ValueError, IndexError, KeyError):
            description = ""
        diff = ""
        if applicable and v.id != current:
            try:
                rel = os.path.relpath(unit.path, self.workspace_for(unit.path))
                diff = variant_diff(rel, unit.text, variant_text(unit.text, unit.kernel, v))
            except ApplyError:
                diff = ""
        return r.VariantInfo(id=v.id, operator=v.operator, verdict=v.verdict, speedup=v.speedup,
                             speedup_low=v.speedup_low, speedup_high=v.speedup_high, significant=v.significant,
                             time_median=v.time_median, retimed=retimed, cell=list(v.cell) if v.cell else None,
                             cell_description=description, tunables=dict(v.tunables), is_current=v.id == current,
                             diff=diff)

    async def results(self, a: r.ResultsArgs, roots: list[str] | None = None, progress: Progress = _no_progress
                      ) -> r.Results:
        unit = await self._unit(a.file, a.kernel, self._use(roots), a.flags)
        k = unit.kernel
        s = await self._summary(unit)
        current = parse_entry(unit.path, unit.text).current.get(k.name)
        sha = _sha256(unit.text)
        if s is None:
            return r.Results(file=unit.path, kernel=k.name, file_sha256=sha, search_id=None, status="none",
                             evaluations=0, budget=0, backend="", device="", applicable=False, retimed=False,
                             reference_time_median=None, variants=[])
        applicable = s.reference_hash == k.code_hash
        variants = [self._variant_info(unit, v, applicable, current, s.retimed) for v in s.top[: a.limit]]
        return r.Results(file=unit.path, kernel=k.name, file_sha256=sha, search_id=s.id, status=s.status,  # type: ignore[arg-type]
                         evaluations=s.done, budget=s.budget, backend=s.backend, device=s.device,
                         applicable=applicable, retimed=s.retimed,
                         reference_time_median=s.reference.time_median if s.reference else None, variants=variants)

    async def apply_variant(self, a: r.ApplyArgs, roots: list[str] | None = None, progress: Progress = _no_progress
                            ) -> r.ApplyResult:
        """Writes a verified variant into the file as `kf optimize --apply` does (backup
        FILE.kf-orig, kept from the first change), only when the variant was measured
        against the kernel's code as it is now (and the file has `file_sha256`, if given)."""
        from kf_lsp.core.apply import ApplyError, apply_variant, variant_diff, variant_text
        from kf_lsp.core.errors import InputError

        unit = await self._unit(a.file, a.kernel, self._use(roots), a.flags)
        k = unit.kernel
        if a.file_sha256 is not None and a.file_sha256.lower() != _sha256(unit.text):
            raise ToolError(f"kf: {unit.path}: the file changed since its sha256 was read; not applied "
                            "(results gives the current one)")
        s = await self._summary(unit)
        if s is None:
            raise ToolError(f"kf: {_where(unit.path, k)}: no search results for {k.name}: optimize it first")
        v: Variant | None
        if a.variant is None:
            v = s.best
            if v is None:
                raise ToolError(f"kf: {_where(unit.path, k)}: no verified, significantly faster variant of {k.name} "
                                f"(search {s.status}, {s.done} evaluations)")
        else:
            v = s.find(a.variant)
            if v is None:
                store = self.resources.existing_store(unit.path)
                v = await self._io(store.variant, s.id, a.variant) if store is not None else None
            if v is None:
                raise ToolError(f"kf: no variant {a.variant!r} of {k.name} (results lists them)")
        current = parse_entry(unit.path, unit.text).current.get(k.name)
        if v.id == current:
            raise ToolError(f"kf: {_where(unit.path, k)}: the file already holds variant {v.id[:12]}")
        if not v.ok:
            raise ToolError(f"kf: variant {v.id[:12]} of {k.name} was not verified ({v.verdict.value}): not applied")
        if s.reference_hash != k.code_hash:
            raise ToolError(f"kf: {_where(unit.path, k)}: {k.name} changed since this variant was measured: not "
                            "applied (optimize again to measure variants of the current code)")
        try:
            new_text = variant_text(unit.text, k, v)
        except ApplyError as e:
            raise ToolError(f"kf: {unit.path}: {e}") from None
        try:
            backup = await self._io(apply_variant, unit, v)
        except InputError as e:
            raise ToolError(f"kf: {e}") from None
        rel = os.path.relpath(unit.path, self.workspace_for(unit.path))
        return r.ApplyResult(file=unit.path, kernel=k.name, applied=True, variant=v.id, speedup=v.speedup,
                             speedup_low=v.speedup_low, speedup_high=v.speedup_high, backup=backup,
                             diff=variant_diff(rel, unit.text, new_text))

    # -- the table the protocol layer serves ---------------------------------------------------

    def table(self) -> dict[str, tuple[type, type, Callable[..., Awaitable[Any]], str]]:
        """tool name -> (arguments Struct, result Struct, implementation, description)."""
        return {
            "list_kernels": (r.ListArgs, r.KernelList, self.list_kernels, DESCRIPTIONS["list_kernels"]),
            "draft_spec": (r.DraftArgs, r.DraftResult, self.draft_spec, DESCRIPTIONS["draft_spec"]),
            "check_spec": (r.KernelArgs, r.SpecCheck, self.check_spec, DESCRIPTIONS["check_spec"]),
            "bench": (r.BenchArgs, r.BenchResult, self.bench, DESCRIPTIONS["bench"]),
            "optimize": (r.OptimizeArgs, r.OptimizeResult, self.optimize, DESCRIPTIONS["optimize"]),
            "job_status": (r.JobArgs, r.JobList, self.job_status, DESCRIPTIONS["job_status"]),
            "stop": (r.StopArgs, r.StopResult, self.stop, DESCRIPTIONS["stop"]),
            "results": (r.ResultsArgs, r.Results, self.results, DESCRIPTIONS["results"]),
            "apply_variant": (r.ApplyArgs, r.ApplyResult, self.apply_variant, DESCRIPTIONS["apply_variant"]),
        }


DESCRIPTIONS = {
    "list_kernels": "The CUDA and SYCL kernels in a folder (recursively) or a file, each with its spec status "
                    "(ok / missing / error, with the diagnostics), its tunables and its latest search.",
    "draft_spec": "A draft `// @kf` spec for a kernel, read from the host code that launches it (launch shape, "
                  "sizes, buffer lengths from the allocations) or else from its body: the same text as `kf spec`. "
                  "A `?` placeholder marks what kf could not tell (a `// kf:` note says why): fill it in. "
                  "write=true inserts it above a kernel that has none.",
    "check_spec": "Checks a kernel's spec: its own errors and warnings, then runs the original alone on it at "
                  "every problem size and seed. A spec the original does not run cleanly on verifies nothing.",
    "bench": "Compiles, verifies and times a kernel in a sandboxed worker: the verdict, medians with p10-p90 "
             "spread, the profile. With candidate_source (a whole file, or only the kernel) and/or tunables, the "
             "candidate is checked against the original on fresh inputs and the speedup given with its 95% "
             "confidence interval; a wrong candidate gets a verdict saying why (wrong, unwritten, out_of_bounds, "
             "timeout...).",
    "optimize": "Starts a background search for faster variants (MAP-Elites: tuning, plus LLM rewrites when llm is "
                "given) and returns a job id at once. Follow it with job_status, stop it with stop; results and "
                "apply_variant when it is done. A kernel already being optimized returns its running job. A search "
                "needs something to try: with no `@kf tune` lines and no LLM in use it is an error at once, saying "
                "what to add. On a stub "
                "kernel (empty body or `// @kf stub`, with `@kf reference`), or on a Python reference file with "
                "`language` (a stub file is drafted next to it), the LLM writes the first kernel and the first "
                "correct one becomes the baseline for speedups.",
    "job_status": "A job's state and progress (evaluations done of the budget, best speedup so far); "
                  "wait_seconds waits for it to finish, with progress notifications. No job_id: every job.",
    "stop": "Stops a job; every evaluation finished so far is kept and the search resumes from them next time.",
    "results": "A kernel's verified, significantly faster variants, best first: speedup with its 95% confidence "
               "interval (re-timed on fresh inputs at the end of the search), cell of the archive, and a diff "
               "against the file as it is now.",
    "apply_variant": "Writes a verified variant (default: the best) into the file, as `kf optimize --apply` does: "
                     "only if it was measured against the code as it is now, keeping FILE.kf-orig.",
}
