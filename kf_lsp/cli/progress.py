"""Live progress of a search in the terminal (rich), and the tables it ends with.

`SearchProgress` is an `emit` callback for `evolver.engine.Search.run`: it keeps a bar
of evaluations against the budget, the best verified speedup so far and the current
activity, and prints one line per new elite and per error above the bar. Rendering is
separate from the engine: the language server consumes the same events differently.
"""

from __future__ import annotations

from typing import Sequence

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from evolver.records import EvaluationDone, Event, Finished, NewElite, Progress as ProgressEvent, SearchError, Variant

from kf_lsp.core.tables import fmt_time


def fmt_speedup(v: Variant) -> str:
    if v.speedup is None:
        return "-"
    if v.operator == "reference":
        return "1.00x"
    ci = ""
    if v.speedup_low is not None and v.speedup_high is not None:
        ci = f" [{v.speedup_low:.2f}-{v.speedup_high:.2f}]"
    return f"{v.speedup:.2f}x{ci}"


def fmt_change(v: Variant) -> str:
    if v.operator == "reference":
        return "original" + (f" ({', '.join(f'{k}={x}' for k, x in v.tunables.items())})" if v.tunables else "")
    tun = ", ".join(f"{k}={x}" for k, x in v.tunables.items())
    return f"{v.operator}: {tun}" if tun else v.operator


def peak_fraction(v: Variant) -> float | None:
    r = v.result
    m = (r.reference if v.operator == "reference" else r.candidate) if r is not None else None
    return m.profile.bandwidth_fraction if m is not None and m.profile is not None else None


class SearchProgress:
    def __init__(self, console: Console, title: str, budget: int, *, enabled: bool = True):
        self.console = console
        self.enabled = enabled
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("best [green]{task.fields[best]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[activity]}"),
            console=console,
            transient=True,
            disable=not enabled,
        )
        self.task = self.progress.add_task(title, total=budget, best="-", activity="starting")
        self.finished: Finished | None = None
        self.errors: list[SearchError] = []

    def __enter__(self) -> "SearchProgress":
        self.progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.__exit__(*exc)

    def __call__(self, event: Event) -> None:
        if isinstance(event, ProgressEvent):
            best = f"{event.best_speedup:.2f}x" if event.best_speedup else "-"
            self.progress.update(self.task, completed=event.done, total=event.budget, best=best,
                                 activity=event.message[:60])
        elif isinstance(event, EvaluationDone):
            self.progress.update(self.task, completed=event.done, total=event.budget)
        elif isinstance(event, NewElite):
            v = event.variant
            if self.enabled and v.operator != "reference":
                self.progress.console.print(
                    f"  new elite in cell {event.cell}: {fmt_speedup(v)}  {fmt_change(v)}"
                    + ("  (best)" if event.best else ""), markup=False, highlight=False)
        elif isinstance(event, SearchError):
            self.errors.append(event)
            where = f"{event.file}:{event.line + 1}: " if event.file and event.line is not None else ""
            if self.enabled:
                self.progress.console.print(f"  {where}{event.message}", markup=False, highlight=False,
                                            style="yellow")
        elif isinstance(event, Finished):
            self.finished = event


def short_cell(describe, cell) -> str:
    """'memory: plain global, compute: scalar' -> 'plain global / scalar'."""
    text = describe(cell)
    if not text or ":" not in text:
        return text
    return " / ".join(part.split(":", 1)[1].strip() for part in text.split(", ") if ":" in part)


def results_table(title: str, rows: Sequence[Variant], describe) -> Table:
    """The best variants: speedup with CI, time, % of peak, cell, change."""
    t = Table(title=title, title_justify="left")
    t.add_column("#", justify="right")
    t.add_column("speedup [interval]", justify="right", no_wrap=True)  # 95% CIs spanned over the blocks
    t.add_column("time", justify="right", no_wrap=True)
    t.add_column("% peak", justify="right")
    t.add_column("verified")
    t.add_column("change")
    t.add_column("cell")
    rank = 0
    for v in rows:
        pf = peak_fraction(v)
        if v.operator == "reference":
            verified, label = "original", "-"
        else:
            rank += 1
            label = str(rank)
            if not v.ok:
                verified = f"[red]{v.verdict.value}[/red]"
            elif v.significant:
                verified = "[green]faster[/green]"
            elif v.speedup is not None and v.speedup > 1.0:
                verified = "within noise"
            else:
                verified = "not faster"
        t.add_row(label, fmt_speedup(v), fmt_time(v.time_median), "-" if pf is None else f"{pf * 100:.0f}%",
                  verified, fmt_change(v), ",".join(str(c) for c in v.cell) if v.cell else "-")
    return t


def cell_legend(rows: Sequence[Variant], describe) -> list[str]:
    """One line per distinct cell of `rows`: 'cell 0,0,0: memory: plain global, ...'."""
    seen: list[str] = []
    out = []
    for v in rows:
        if v.cell is None:
            continue
        key = ",".join(str(c) for c in v.cell)
        if key not in seen:
            seen.append(key)
            out.append(f"cell {key}: {describe(v.cell)}")
    return out
