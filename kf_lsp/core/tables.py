"""Rendering results for the terminal (rich). Pure functions of plain data."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from backends.model import DeviceInfo, EvalResult, KernelMeasurement, Verdict


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.3f} ms"
    return f"{seconds:.3f} s"


def fmt_bytes_rate(bps: float | None) -> str:
    return "-" if bps is None else f"{bps / 1e9:.1f} GB/s"


def fmt_shared(p) -> str:
    """Work-group shared/local memory: static (the compiler's or the device's figure) plus what
    the launch requests; where the runtime does not report the static part, says so."""
    if p is None or (p.static_shared is None and p.dynamic_shared is None):
        return "-"
    total = (p.static_shared or 0) + (p.dynamic_shared or 0)
    if p.static_shared is None:
        return f"{total} B (requested at launch; static not reported)"
    return f"{total} B"


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.0f}%"


def _num(x: int | None, unit: str = "") -> str:
    return "-" if x is None else f"{x}{unit}"


METRICS = ("median", "p10 - p90", "trials", "bandwidth", "% of peak", "registers", "spills", "shared mem", "occupancy")


def measurement_column(m: KernelMeasurement | None) -> list[str]:
    """One kernel's figures, in the order of METRICS."""
    t = m.timing if m else None
    p = m.profile if m else None
    spills = None if p is None or p.spill_stores is None else (p.spill_stores or 0) + (p.spill_loads or 0)
    return [
        fmt_time(t.median) if t else "-",
        f"{fmt_time(t.p10)} - {fmt_time(t.p90)}" if t else "-",
        str(t.trials) if t else "-",
        fmt_bytes_rate(p.bandwidth) if p else "-",
        (_pct(p.bandwidth_fraction) + (" (above peak!)" if p.above_peak else "")) if p else "-",
        _num(p.registers) if p else "-",
        _num(spills, " B") if p else "-",
        fmt_shared(p),
        _pct(p.occupancy) if p else "-",
    ]


def build_line(build) -> str:
    """'compiled with nvcc 13.0.88 (-DENABLE_BF16, from @kf flags): `int main()` is host code (k.cu:23)'."""
    flags = " ".join(build.flags) if build.flags else "no project flags"
    where = f", from {build.flags_source}" if build.flags_source and build.flags else ""
    why = f"; {build.why}" if build.why and build.compiler.startswith("nvcc") else ""
    return f"compiled with {build.compiler} ({flags}{where}){why}"


def render_result(console: Console, title: str, result: EvalResult) -> None:
    dev = result.device
    console.print(f"[bold]{title}[/bold]" + (f"  on {dev.backend} device {dev.index}: {dev.name}" if dev and dev.index >= 0 else ""))
    style = "green" if result.verdict in (Verdict.CORRECT, Verdict.COMPILED) else "red"
    console.print(f"verdict: [{style}]{result.verdict.value}[/{style}]  {result.message}")
    if result.build is not None and result.build.compiler:
        console.print(build_line(result.build), markup=False, highlight=False)
    for d in result.diagnostics[:10]:
        console.print(f"  {d.format()}", markup=False, highlight=False)
    if result.checks:
        passed = sum(1 for c in result.checks if c.ok)
        sizes = len({tuple(sorted(c.sizes.items())) for c in result.checks})
        derived = len({tuple(sorted(c.sizes.items())) for c in result.checks if c.derived})
        console.print(f"correctness: {passed}/{len(result.checks)} runs passed over {sizes} problem size(s)"
                      + (f", {derived} of them derived by kf" if derived else ""))
    if result.reference or result.candidate:
        table = Table(show_edge=False, header_style="bold")
        table.add_column("")
        # the user's own kernel is the "original"; a Python reference (`@kf reference`) is the oracle, never timed
        columns = ([("original", result.reference)] if result.reference else []) + \
            ([("candidate", result.candidate)] if result.candidate else [])
        for label, _ in columns:
            table.add_column(label, justify="right")
        values = [measurement_column(m) for _, m in columns]
        for i, metric in enumerate(METRICS):
            row = [v[i] for v in values]
            if all(x == "-" for x in row):
                continue
            table.add_row(metric, *row)
        console.print(table)
    if result.speedup is not None:
        if result.significant:
            sig = "significantly faster"
        elif result.speedup_high is not None and result.speedup_high < 1:
            sig = "significantly slower"
        else:
            sig = "within noise: not significant"
        console.print(f"speedup: [bold]{result.speedup:.2f}x[/bold] (95% CI {result.speedup_low:.2f}-{result.speedup_high:.2f}, {sig})")
    said: set[str] = set()
    for role, m in (("reference", result.reference), ("candidate", result.candidate)):
        if m and m.profile:
            for note in m.profile.notes:
                if note in said:
                    continue  # a device note both kernels carry is said once
                said.add(note)
                who = f" ({role})" if result.candidate is not None and role == "candidate" else ""
                console.print(f"[yellow]note{who}:[/yellow] {note}")
            for k, v in m.profile.ncu.items():
                console.print(f"  ncu {k} = {v:g}")
    if result.device and result.reference and result.reference.timing:
        console.print(f"timing: {result.reference.timing.method}; compile {result.compile_seconds:.1f} s, total {result.wall_seconds:.1f} s", style="dim")


def render_devices(console: Console, devices: list[DeviceInfo]) -> None:
    table = Table(show_edge=False, header_style="bold")
    for col in ("backend", "index", "name", "kind", "arch", "memory", "units", "peak bandwidth"):
        table.add_column(col)
    for d in devices:
        table.add_row(
            d.backend, str(d.index), d.name, d.kind, d.arch,
            f"{d.memory_bytes / 2**30:.0f} GiB" if d.memory_bytes else "-",
            str(d.compute_units or "-"),
            fmt_bytes_rate(d.peak_bandwidth) if d.peak_bandwidth else "not measured",
        )
    console.print(table)
