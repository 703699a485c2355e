"""The text content of a tool result: what an agent needs to go on, in a few lines.

The whole result is the structured content (its schema is the tool's output schema); the
text is not that JSON again but a summary line, then one compact line per item (kernels,
jobs, variants), the ids and hashes a next call needs, and a diff where there is one.
Clients that show only text still have everything to continue; clients that read
structured content are not made to read the same thing twice.
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["summary_text"]

MAX_LINES = 60


def _x(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def _t(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.3f} ms"
    return f"{seconds:.3f} s"


def _ci(d: dict) -> str:
    lo, hi = d.get("speedup_low"), d.get("speedup_high")
    return f" [{lo:.2f}-{hi:.2f}]" if lo is not None and hi is not None else ""


def _rel(path: str, root: str) -> str:
    """Paths under the listed folder, relative to it (the summary line names the folder)."""
    prefix = root.rstrip("/") + "/"
    return path[len(prefix):] if path.startswith(prefix) else path


def _diag(d: dict) -> str:
    return f"{d['file']}:{d['line']}:{d['column']}: {d['severity']}: {d['message']}"


def _lines(head: str, items: list[str]) -> str:
    if len(items) > MAX_LINES:
        items = items[:MAX_LINES] + [f"... and {len(items) - MAX_LINES} more (in the structured result)"]
    return "\n".join([head, *items])


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _list(d: dict) -> str:
    ks = d["kernels"]
    missing = sum(1 for k in ks if k["spec"] == "missing")
    errors = sum(1 for k in ks if k["spec"] == "error")
    head = (f"{_n(d['total'], 'kernel')} under {d['root']} ({_n(d['files'], 'file')} read); this page {len(ks)}"
            + (f", {missing} without a spec" if missing else "") + (f", {errors} with spec errors" if errors else "")
            + (f"; next_cursor {d['next_cursor']}" if d.get("next_cursor") else ""))
    items = []
    for k in ks:
        s = k.get("search")
        search = f", search {s['status']} {s['evaluations']} evals best {_x(s['best_speedup'])}" if s else ""
        tun = ", tunables " + " ".join(f"{n}={v}" for n, v in k["tunables"].items()) if k["tunables"] else ""
        items.append(f"{_rel(k['file'], d['root'])}:{k['line']} {k['kernel']} ({k['language']}, spec {k['spec']}"
                     f"{tun}{search})")
        items += [f"  {_rel(x['file'], d['root'])}:{x['line']}:{x['column']}: {x['severity']}: {x['message']}"
                  for x in k["diagnostics"][:3]]
    items += [f"error: {e}" for e in d.get("errors", [])[:5]]
    return _lines(head, items)


def _draft(d: dict) -> str:
    what = "written above" if d["written"] else "draft for"
    return f"{what} {d['kernel']} at {d['file']}:{d['line']}:\n{d['draft']}"


def _check(d: dict) -> str:
    head = (f"{d['kernel']}: spec {d['spec']}, " + ("ok" if d["ok"] else "NOT ok")
            + (f"; the original {d['verdict']} on {d['checks']} runs" if d.get("verdict") else "")
            + (f": {d['message']}" if d.get("message") and not d["ok"] else ""))
    return _lines(head, [_diag(x) for x in d["diagnostics"]])


def _bench(d: dict) -> str:
    return _lines(f"{d['kernel']}: {d['summary']}", [_diag(x) for x in d["diagnostics"][:20]])


def _job(j: dict) -> str:
    best = f", best {_x(j['best_speedup'])}" if j.get("best_speedup") else ""
    tail = f" - {j['message']}" if j.get("message") else ""
    resume = " (resumable)" if j.get("resumable") else ""
    return (f"{j['job_id']}: {j['state']}{resume}, {j['kind']} {j['kernel']} {j['done']}/{j['budget']} evaluations"
            f"{best}, {j['elapsed_seconds']:.1f} s{tail}")


def _optimize(d: dict) -> str:
    head = ("already running: " if d["already_running"] else "started: ") + _job(d["job"])
    return head + (f"\n{d['note']}" if d.get("note") else "")


def _jobs(d: dict) -> str:
    if not d["jobs"]:
        return "no jobs"
    return "\n".join(_job(j) for j in d["jobs"])


def _stop(d: dict) -> str:
    return f"{d['job_id']}: {'stopped' if d['stopped'] else 'had ended already'}; state {d['state']}"


def _results(d: dict) -> str:
    if d["search_id"] is None:
        return f"{d['kernel']}: no search yet (file_sha256 {d['file_sha256']})"
    head = (f"{d['kernel']}: search {d['status']}, {d['evaluations']}/{d['budget']} evaluations on {d['backend']} "
            f"{d['device']}; original {_t(d.get('reference_time_median'))}; "
            + ("figures re-timed together" if d["retimed"] else "figures NOT re-timed (the search's own)")
            + ("" if d["applicable"] else "; measured against other code: not applicable")
            + f"; file_sha256 {d['file_sha256']}")
    items = []
    for v in d["variants"]:
        tun = " ".join(f"{n}={x}" for n, x in v["tunables"].items())
        items.append(f"{v['id'][:16]} {_x(v['speedup'])}{_ci(v)} {_t(v['time_median'])} {v['operator']}"
                     + (f" {tun}" if tun else "") + (" (current)" if v["is_current"] else ""))
    if d["variants"] and d["variants"][0]["diff"]:
        items.append(d["variants"][0]["diff"].rstrip("\n"))
    return _lines(head, items or ["no verified, significantly faster variant"])


def _apply(d: dict) -> str:
    return (f"applied {d['variant'][:16]} ({_x(d['speedup'])}{_ci(d)}) to {d['file']}; original kept in "
            f"{d['backup']}\n{d['diff'].rstrip()}")


RENDER: dict[str, Callable[[dict], str]] = {
    "list_kernels": _list, "draft_spec": _draft, "check_spec": _check, "bench": _bench, "optimize": _optimize,
    "job_status": _jobs, "stop": _stop, "results": _results, "apply_variant": _apply,
}


def summary_text(tool: str, data: Any) -> str:
    render = RENDER.get(tool)
    try:
        return render(data) if render is not None else str(data)[:2000]
    except (KeyError, TypeError, ValueError) as e:  # a renderer's bug must not fail the call
        return f"{tool}: done (see the structured result; summary unavailable: {type(e).__name__})"
