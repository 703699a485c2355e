"""What the editor shows, as pure functions of the index's entries and a state Snapshot.

Code lenses, inlay hints, hovers, code actions, diagnostics, and the texts of variant
edits and diffs. Nothing here touches the network, the disk or a device, so every
function answers in microseconds and is unit-tested with synthetic data
(tests/test_lsp_views.py). Positions: backends' (line, column) are 0-based like LSP's.
"""

from __future__ import annotations

from typing import Sequence

from lsprotocol import types as lsp

import msgspec

from backends.kernel.pyref import is_stub
from backends.model import DeviceInfo, Diagnostic, EvalResult, KernelMeasurement, KernelSource, Range, Timing, Verdict
from evolver.records import Variant

from . import commands as cmd
from kf_lsp.core.index import FileEntry
from kf_lsp.core.jobs import progress_message
from .positions import from_client, line_of, to_client
from kf_lsp.core.state import JobView, SearchSummary, Snapshot, applicable, kernel_key
from kf_lsp.core.tables import build_line, fmt_bytes_rate, fmt_shared, fmt_time

__all__ = ["code_lenses", "inlay_hints", "hover", "hover_markdown", "code_actions", "diagnostics",
           "text_edit", "change_label", "kernel_at_position"]

SOURCE = "kf"


def _cmd(title: str, command: str, arguments: list | None = None) -> lsp.Command:
    return lsp.Command(title=title, command=command, arguments=arguments)



# -- small formatting helpers ------------------------------------------------------------


def _pos(text: str, line: int, column: int) -> lsp.Position:
    return lsp.Position(line, to_client(line_of(text, line), column))


def _range(text: str, r: Range) -> lsp.Range:
    """A kf range (code points) as the client counts it (UTF-16 units)."""
    return lsp.Range(_pos(text, r.start.line, r.start.column), _pos(text, r.end.line, r.end.column))


def _line_range(line: int) -> lsp.Range:
    return lsp.Range(lsp.Position(line, 0), lsp.Position(line, 0))


def _speed(x: float | None) -> str:
    return "-" if x is None else f"{x:.2f}x"


def change_label(v: Variant, describe=None) -> str:
    """What a variant changed, in a few words: 'WG_SIZE=1024' (tuning) or the strategy its
    cell names ('shared-memory tiling')."""
    tun = ", ".join(f"{k}={x}" for k, x in v.tunables.items())
    if v.operator == "tune":
        return tun or "tuned"
    label = ""
    if v.cell and describe is not None:
        try:
            levels = [part.split(":", 1)[1].strip() for part in describe(list(v.cell)).split(", ") if ":" in part]
            label = ", ".join(lv for lv, c in zip(levels, v.cell) if c) or ""
        except Exception:
            label = ""
    label = label or ("LLM rewrite" if v.operator == "llm" else v.operator)
    return f"{label}; {tun}" if tun and v.operator == "llm" else label


def _describe_default():
    try:
        from evolver.descriptors import grid_for

        return lambda cell: grid_for(len(cell)).describe_cell(cell)  # the search's grid, or an older archive's
    except Exception:  # the grid module failing must not break views
        return None


_DESCRIBE = _describe_default()


# -- lenses and hints -----------------------------------------------------------------------


def _offered(k: KernelSource, snap: Snapshot, current: str | None = None) -> list[Variant]:
    """The kernel's verified faster variants that can be applied to the code as it is:
    measured against this very code, and not the code itself (already applied)."""
    s = snap.searches.get(kernel_key(k.file, k.name))
    if s is None or not applicable(s, k.code_hash):
        return []
    return [v for v in s.top if v.id != current]


def _best_for(k: KernelSource, snap: Snapshot, current: str | None = None) -> tuple[SearchSummary | None, Variant | None]:
    s = snap.searches.get(kernel_key(k.file, k.name))
    offered = _offered(k, snap, current)
    return s, offered[0] if offered else None


def _variant_time(v: Variant) -> float | None:
    m = variant_measurement(v)
    return m.timing.median if m is not None and m.timing is not None else v.time_median


def variant_measurement(v: Variant) -> KernelMeasurement | None:
    """A variant's figures from ONE measurement, the one its speedup comes from. After the
    final re-time a variant's speedup and median time are the re-time's, while its stored
    evaluation (timing spread, bandwidth) is the search's first look: the time is then the
    re-time's median with the spread of its blocks, and rates derived from time are scaled
    to it, so no view puts a speedup of one measurement beside a time of another."""
    r = v.result
    m = (r.reference if v.operator == "reference" else r.candidate) if r is not None else None
    if m is None or m.timing is None or v.time_median is None or abs(m.timing.median - v.time_median) <= 1e-15:
        return m
    t0, t = m.timing, v.time_median
    blocks = sorted(b.candidate_median for b in v.blocks if b.stage == "final" and b.candidate_median)
    lo, hi = (blocks[0], blocks[-1]) if blocks else (t, t)
    mean = sum(blocks) / len(blocks) if blocks else t
    timing = Timing(t, lo, hi, mean, 0.0, len(blocks) or 1, [], f"{t0.method}, re-timed: median of "
                    f"{len(blocks) or 1} block{'s' if len(blocks) != 1 else ''}")
    p = m.profile
    if p is not None and t > 0:
        scale = t0.median / t
        p = msgspec.structs.replace(
            p, bandwidth=p.bandwidth * scale if p.bandwidth is not None else None,
            bandwidth_fraction=p.bandwidth_fraction * scale if p.bandwidth_fraction is not None else None,
            flop_rate=p.flop_rate * scale if p.flop_rate is not None else None)
    return msgspec.structs.replace(m, timing=timing, profile=p)


def _retime_note(s: SearchSummary | None) -> str:
    """Said beside a variant whose figures are the search's first looks, not a final re-time
    (a stopped or interrupted search is not re-timed)."""
    if s is None or s.retimed or s.status not in ("cancelled", "interrupted", "error"):
        return ""
    return f"not re-timed: search {_STATUS_WORDS.get(s.status, s.status)}"


_STATUS_WORDS = {"cancelled": "stopped", "interrupted": "interrupted", "error": "failed", "budget": "used its budget",
                 "time": "ran out of time", "exhausted": "exhausted", "patience": "ran out of patience"}


def _job_title(job: JobView) -> str:
    if job.state == "queued":
        return f"Queued: {'optimizing' if job.kind == 'optimize' else 'benchmarking'} (click to cancel)"
    if job.kind == "benchmark":
        return "Benchmarking..."
    best = f" - best {job.best_speedup:.2f}x" if job.best_speedup is not None and job.best_speedup > 1.0 else ""
    return f"Optimizing {job.done}/{job.budget}{best}"


def code_lenses(entry: FileEntry, snap: Snapshot, uri: str) -> list[lsp.CodeLens]:
    out: list[lsp.CodeLens] = []
    for k in entry.kernels:
        rng = _line_range(k.name_range.start.line)  # the name's line: where codelens.run() on it looks
        args = [{"uri": uri, "kernel": k.name}]
        if k.spec is None:
            out.append(lsp.CodeLens(rng, _cmd("Add benchmark spec", cmd.ADD_SPEC,
                                                     [{"uri": uri, "kernel": k.name, "version": entry.version}])))
            continue
        key = kernel_key(k.file, k.name)
        job = snap.job_for(key, "optimize") or snap.job_for(key)
        s, best = _best_for(k, snap, entry.current.get(k.name))
        if job is not None:
            out.append(lsp.CodeLens(rng, _cmd(_job_title(job), cmd.STOP, [{"job": job.id}])))
        elif not spec_has_errors(k) and not cannot_compile(entry, k, snap):  # the diagnostics say why
            title = "Write a first kernel from the Python reference (LLM)" if _stub(entry, k) else "Optimize"
            out.append(lsp.CodeLens(rng, _cmd(title, cmd.OPTIMIZE, args)))
        if best is not None:
            t = _variant_time(best)
            note = _retime_note(s)
            title = (f"{_speed(best.speedup)} faster variant" + (f" ({fmt_time(t)})" if t else "")
                     + (f", {note}" if note else "") + " - Apply")
            out.append(lsp.CodeLens(rng, _cmd(title, cmd.APPLY_VARIANT, [
                {"uri": uri, "kernel": k.name, "variant": best.id, "version": entry.version}])))
    return out


def _stub(entry: FileEntry, k: KernelSource) -> bool:
    """A kernel with no code yet whose spec names a Python reference: the search writes its first version."""
    return k.spec is not None and k.spec.reference is not None and is_stub(entry.text, k)


def spec_insertion(text: str, k: KernelSource, spec_text: str) -> tuple[lsp.Position, str]:
    """Where a drafted spec goes and its text: directly above the kernel (a lambda's
    `parallel_for` statement, a function's first line), indented like it."""
    line = k.definition.start.line
    code = line_of(text, line)
    indent = code[:len(code) - len(code.lstrip(" \t"))]
    if indent:
        spec_text = "".join(indent + ln if ln.strip() else ln for ln in spec_text.splitlines(keepends=True))
    return lsp.Position(line, 0), spec_text


def spec_has_errors(k: KernelSource) -> bool:
    return any(d.severity == "error" for d in k.spec_errors)


def cannot_compile(entry: FileEntry, k: KernelSource, snap: Snapshot) -> bool:
    """The kernel's file cannot be compiled here (host code, no nvcc), or its current code
    was compiled and failed: nothing to optimize or benchmark until that is fixed."""
    if entry.blocker is not None:
        return True
    r = current_result(k, snap)
    return r is not None and r.verdict is Verdict.REFERENCE_FAILED and _compile_failure(r)


def _compile_failure(r: EvalResult) -> bool:
    return "does not compile" in r.message or "cannot be compiled here" in r.message


def _line_end(entry: FileEntry, line: int) -> int:
    text = line_of(entry.text, line)
    return to_client(text, len(text))


def inlay_hints(entry: FileEntry, snap: Snapshot, rng: lsp.Range | None = None) -> list[lsp.InlayHint]:
    out: list[lsp.InlayHint] = []
    for k in entry.kernels:
        line = k.name_range.start.line
        if rng is not None and not (rng.start.line <= line <= rng.end.line):
            continue
        key = kernel_key(k.file, k.name)
        job = snap.job_for(key, "optimize")
        _, best = _best_for(k, snap, entry.current.get(k.name))
        label = None
        if best is not None:
            label = f"{_speed(best.speedup)} faster variant"
        elif job is not None and job.state == "running":
            label = f"optimizing {job.done}/{job.budget}"
        else:
            m = current_measurement(k, snap)
            if m is not None and m.timing is not None:
                label = fmt_time(m.timing.median)
        if label:
            out.append(lsp.InlayHint(lsp.Position(line, _line_end(entry, line)), f" {label}",
                                     kind=None, padding_left=True))
    return out


# -- hover --------------------------------------------------------------------------------


def current_measurement(k: KernelSource, snap: Snapshot) -> KernelMeasurement | None:
    """The figures of the kernel's code as it is now (a benchmark, or a search's reference)."""
    r = current_result(k, snap)
    return r.reference if r is not None else None


def current_result(k: KernelSource, snap: Snapshot) -> EvalResult | None:
    key = kernel_key(k.file, k.name)
    b = snap.benchmarks.get(key)
    if b is not None and b.content_hash == k.code_hash:
        return b.result
    s = snap.searches.get(key)
    if s is not None and applicable(s, k.code_hash) and s.reference is not None and s.reference.result:
        return s.reference.result
    return None


def occupancy_estimate(registers: int, shared: int | None, block: int = 256) -> float:
    """Resident warps per SM over the maximum, from the per-SM limits common to sm_70..sm_90
    (65536 registers allocated per warp in units of 256, 64 warps, 96 KB+ of shared memory,
    blocks of `block` threads): an upper bound, the compiler's figures only."""
    regs_per_warp = -(-max(1, registers) * 32 // 256) * 256
    warps_per_block = -(-block // 32)
    blocks = min(65536 // (regs_per_warp * warps_per_block), 64 // warps_per_block, 32)
    if shared:
        blocks = min(blocks, (96 * 1024) // shared)
    return max(0.0, min(1.0, blocks * warps_per_block / 64))


def measurement_lines(m: KernelMeasurement | None, result: EvalResult | None = None) -> list[str]:
    if m is None or (m.timing is None and m.profile is None):
        return ["not measured yet"]
    lines: list[str] = []
    t, p = m.timing, m.profile
    if t is not None:
        lines.append(f"time {fmt_time(t.median)} (p10-p90 {fmt_time(t.p10)}-{fmt_time(t.p90)}, "
                     f"{t.trials} trials, {t.method})")
    if p is not None:
        if p.bandwidth is not None:
            pct = f", {p.bandwidth_fraction * 100:.0f}% of peak" if p.bandwidth_fraction is not None else ""
            lines.append(f"bandwidth {fmt_bytes_rate(p.bandwidth)}{pct}" + (" (above peak!)" if p.above_peak else ""))
        if p.flop_rate:
            lines.append(f"compute {p.flop_rate / 1e9:.1f} GFLOP/s")
        res = []
        if p.registers is not None:
            res.append(f"{p.registers} registers")
        if p.spill_stores is not None or p.spill_loads is not None:
            res.append(f"spills {(p.spill_stores or 0) + (p.spill_loads or 0)} B")
        if p.static_shared is not None or p.dynamic_shared is not None:
            res.append(f"shared {fmt_shared(p)}")
        if p.occupancy is not None:
            res.append(f"occupancy {p.occupancy * 100:.0f}%")
        elif p.registers:
            res.append(f"occupancy at most {occupancy_estimate(p.registers, p.static_shared) * 100:.0f}% "
                       "(estimate from registers and shared memory)")
        if res:
            lines.append(", ".join(res))
        for name, value in list(p.ncu.items())[:8]:
            lines.append(f"ncu {name} = {value:g}")
        for note in p.notes[:3]:
            lines.append(f"note: {note}")
    return lines or ["not measured yet"]


def hover_markdown(k: KernelSource, snap: Snapshot, current: str | None = None) -> str:
    key = kernel_key(k.file, k.name)
    parts = [f"**{k.name}** ({k.language} kernel)"]
    if k.spec is None:
        parts.append("No benchmark spec: use the *Add benchmark spec* action.")
    result = current_result(k, snap)
    s = snap.searches.get(key)
    applied_variant = s.find(current) if s is not None and current is not None and result is None else None
    parts.append("**Current code**")
    if result is not None and not result.ok and result.verdict is not Verdict.COMPILED:
        parts.append(f"- {result.verdict.value}: {result.message}")
    elif result is not None and result.verdict is Verdict.COMPILED:
        parts.append("- compiled only: no GPU here to run it (a GPU or `kf.scheduler` runs it)")
        parts.extend(f"- {x}" for x in measurement_lines(result.reference, result) if x != "not measured yet")
    elif applied_variant is not None and applied_variant.result is not None:
        # the code is a variant the search measured (applied): its figures, not "not measured yet"
        note = "re-timed with the original" if s is not None and s.retimed else "as the search measured it"
        parts.append(f"- the applied variant ({_speed(applied_variant.speedup)} against the code the search "
                     f"started from), {note}:")
        parts.extend(f"- {x}" for x in measurement_lines(variant_measurement(applied_variant)))
    else:
        parts.extend(f"- {x}" for x in measurement_lines(result.reference if result else None, result))
    if result is not None and result.device is not None:
        parts.append(f"- device: {device_label(result.device)}")
    if result is not None and result.build is not None and result.build.compiler:
        parts.append(f"- {build_line(result.build)}")
    job = snap.job_for(key, "optimize")
    if job is not None:
        parts.append(f"**Search**: {progress_message(job.done, job.budget, job.best_speedup)} ({job.state})")
    if s is not None and s.best is not None:
        b = s.best
        stale = "" if applicable(s, k.code_hash) else " (measured against an earlier version of this kernel)"
        ci = f" [{b.speedup_low:.2f}-{b.speedup_high:.2f}]" if b.speedup_low is not None and b.speedup_high else ""
        applied = " - this is the current code" if current is not None and b.id == current else ""
        note = _retime_note(s)
        retime = (" (re-timed)" if s.retimed else f" ({note}; the search's own measurements)" if note else " (so far)")
        parts.append(f"**Best variant**: {_speed(b.speedup)}{ci} faster, {change_label(b, _DESCRIBE)}"
                     f"{retime}{stale}{applied}")
        parts.extend(f"- {x}" for x in measurement_lines(variant_measurement(b)))
        if b.cell and _DESCRIBE is not None:
            try:
                parts.append(f"- cell: {_DESCRIBE(list(b.cell))}")
            except Exception:
                pass
        parts.append(f"- search: {s.done} evaluations on {s.backend} {s.device}, {s.status}")
    elif s is not None:
        parts.append(f"**Search**: {s.done} evaluations, no verified faster variant ({s.status})")
    return "\n\n".join(parts)


def device_label(d: DeviceInfo) -> str:
    """`sycl cpu AMD EPYC (opencl:cpu)`; a compile-only target says so once:
    `none here (compiled for sm_90 only)`."""
    if d.kind == "none":
        return f"none here ({d.backend} compiled for {d.arch} only)" if d.arch else f"none here ({d.backend} compile only)"
    name = d.name
    arch = f" ({d.arch})" if d.arch and d.arch not in name else ""
    kind = "" if d.kind.lower() in name.lower() else f"{d.kind} "
    return f"{d.backend} {kind}{name}{arch}"


def kernel_at_position(entry: FileEntry, pos: lsp.Position) -> KernelSource | None:
    column = from_client(line_of(entry.text, pos.line), pos.character)
    for k in entry.kernels:
        r = k.name_range
        if r.start.line == pos.line and r.start.column <= column <= r.end.column:
            return k
    return None


def hover(entry: FileEntry, pos: lsp.Position, snap: Snapshot) -> lsp.Hover | None:
    k = kernel_at_position(entry, pos)
    if k is None:
        return None
    return lsp.Hover(lsp.MarkupContent(lsp.MarkupKind.Markdown, hover_markdown(k, snap, entry.current.get(k.name))),
                     _range(entry.text, k.name_range))


# -- code actions -------------------------------------------------------------------------


def code_actions(entry: FileEntry, uri: str, rng: lsp.Range, snap: Snapshot, limit: int = 3,
                 spec_text: str | None = None) -> list[lsp.CodeAction]:
    """Actions for the kernel whose region holds the cursor. `spec_text`: the draft spec
    to insert for a kernel with none (computed by the caller: backends.kernel.spec.draft_spec)."""
    k = entry.kernel_at(rng.start.line)
    if k is None:
        return []
    out: list[lsp.CodeAction] = []
    base = {"uri": uri, "kernel": k.name}
    if k.spec is None:
        edit = None
        if spec_text is not None:
            at, text = spec_insertion(entry.text, k, spec_text)
            edit = lsp.WorkspaceEdit(document_changes=[lsp.TextDocumentEdit(
                lsp.OptionalVersionedTextDocumentIdentifier(uri=uri, version=entry.version),
                [lsp.TextEdit(lsp.Range(at, at), text)])])
        out.append(lsp.CodeAction(f"Add benchmark spec for {k.name}", kind=lsp.CodeActionKind.QuickFix,
                                  edit=edit, command=None if edit else _cmd(
                                      "Add benchmark spec", cmd.ADD_SPEC, [{**base, "version": entry.version}])))
        return out
    key = kernel_key(k.file, k.name)
    job = snap.job_for(key, "optimize")
    if job is not None:
        out.append(lsp.CodeAction(f"Stop optimizing {k.name}", kind=lsp.CodeActionKind.Empty,
                                  command=_cmd(f"Stop optimizing {k.name}", cmd.STOP, [{"job": job.id}])))
    elif not spec_has_errors(k) and not cannot_compile(entry, k, snap):
        title = f"Write kernel {k.name} from its Python reference (LLM)" if _stub(entry, k) else \
            f"Optimize kernel {k.name}"
        out.append(lsp.CodeAction(title, kind=lsp.CodeActionKind.Empty, command=_cmd(title, cmd.OPTIMIZE, [base])))
    if snap.job_for(key, "benchmark") is None and not spec_has_errors(k) and not cannot_compile(entry, k, snap):
        out.append(lsp.CodeAction(f"Benchmark kernel {k.name}", kind=lsp.CodeActionKind.Empty,
                                  command=_cmd(f"Benchmark kernel {k.name}", cmd.BENCHMARK, [base])))
    s = snap.searches.get(key)
    offered = _offered(k, snap, entry.current.get(k.name))
    if s is not None and offered:
        note = _retime_note(s)
        for i, v in enumerate(offered[:limit]):
            ci = (f" [{v.speedup_low:.2f}-{v.speedup_high:.2f}]" if note and v.speedup_low is not None
                  and v.speedup_high is not None else "")
            title = (f"Apply variant: {_speed(v.speedup)}{ci} faster ({change_label(v, _DESCRIBE)})"
                     + (f" - {note}" if note else ""))
            out.append(lsp.CodeAction(title, kind=lsp.CodeActionKind.RefactorRewrite, is_preferred=i == 0,
                                      command=_cmd(title, cmd.APPLY_VARIANT,
                                                          [{**base, "variant": v.id, "version": entry.version}])))
        out.append(lsp.CodeAction(f"Show variant diff ({_speed(offered[0].speedup)})", kind=lsp.CodeActionKind.Empty,
                                  command=_cmd("Show variant diff", cmd.VARIANT_DIFF,
                                                      [{**base, "variant": offered[0].id}])))
    return out


# -- diagnostics --------------------------------------------------------------------------

_SEVERITY = {"error": lsp.DiagnosticSeverity.Error, "warning": lsp.DiagnosticSeverity.Warning,
             "info": lsp.DiagnosticSeverity.Information}


def _diag(text: str, d: Diagnostic) -> lsp.Diagnostic:
    line, column = max(0, d.line), max(0, d.column)
    at, after = _pos(text, line, column), _pos(text, line, column + 1)
    return lsp.Diagnostic(lsp.Range(at, after), d.message,
                          severity=_SEVERITY.get(d.severity, lsp.DiagnosticSeverity.Warning), source=d.source)


def diagnostics(entry: FileEntry, snap: Snapshot) -> list[lsp.Diagnostic]:
    """Spec errors, compile errors of the current code, and an information when a faster
    verified variant of the current code exists."""
    import os

    out: list[lsp.Diagnostic] = []
    if entry.blocker is not None:  # the file cannot be compiled here: said once, at its first blocking line
        out.append(_diag(entry.text, entry.blocker))
    said: set[tuple[int, str]] = set()
    for k in entry.kernels:
        out.extend(_diag(entry.text, d) for d in k.spec_errors)
        r = current_result(k, snap)
        if r is not None and r.verdict is Verdict.COMPILED and r.reference is not None:
            lines = measurement_lines(r.reference, r)
            out.append(lsp.Diagnostic(
                _range(entry.text, k.name_range),
                f"{k.name} compiles (no GPU here, not run): " + "; ".join(x for x in lines if x != "not measured yet"),
                severity=lsp.DiagnosticSeverity.Information, source=SOURCE, code="compile-only"))
        if r is not None and r.verdict in (Verdict.COMPILE_ERROR, Verdict.REFERENCE_FAILED, Verdict.SPEC_ERROR):
            mine = [d for d in r.diagnostics if not d.file or os.path.realpath(d.file) == entry.path]
            mine = [d for d in mine if (d.line, d.message) not in said]  # a file-wide error, once
            said.update((d.line, d.message) for d in mine)
            if entry.blocker is not None and "cannot be compiled here" in r.message:
                continue
            if mine:
                out.extend(_diag(entry.text, d) for d in mine[:20])
            elif any(d.file and os.path.realpath(d.file) == entry.path for d in r.diagnostics):
                pass  # said for another kernel of this file
            else:
                out.append(lsp.Diagnostic(_range(entry.text, k.name_range), f"{r.verdict.value}: {r.message}",
                                          severity=lsp.DiagnosticSeverity.Error, source=SOURCE))
        _, best = _best_for(k, snap, entry.current.get(k.name))
        if best is not None:
            out.append(lsp.Diagnostic(
                _range(entry.text, k.name_range),
                f"a verified {_speed(best.speedup)} faster variant of {k.name} exists ({change_label(best, _DESCRIBE)})",
                severity=lsp.DiagnosticSeverity.Information, source=SOURCE, code="faster-variant"))
    return out


# -- variant texts ------------------------------------------------------------------------


def text_edit(old: str, new: str) -> lsp.TextEdit:
    """One TextEdit turning `old` into `new`: the smallest span of whole lines that differs."""
    a_lines = old.splitlines(keepends=True)
    b_lines = new.splitlines(keepends=True)
    p = 0
    while p < min(len(a_lines), len(b_lines)) and a_lines[p] == b_lines[p]:
        p += 1
    s = 0
    while s < min(len(a_lines), len(b_lines)) - p and a_lines[-1 - s] == b_lines[-1 - s]:
        s += 1
    end_line = len(a_lines) - s
    start = lsp.Position(p, 0)
    if end_line >= len(a_lines) and a_lines and not a_lines[-1].endswith("\n"):
        last = a_lines[-1].rstrip("\r\n")
        end = lsp.Position(len(a_lines) - 1, to_client(last, len(last)))
    else:
        end = lsp.Position(end_line, 0)
    return lsp.TextEdit(lsp.Range(start, end), "".join(b_lines[p:len(b_lines) - s]))


def top_variants(summary: SearchSummary | None, limit: int) -> Sequence[Variant]:
    return summary.top[:limit] if summary is not None else []
