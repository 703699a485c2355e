"""What a search needs before it starts, checked the same way by every front.

A search proposes variants through its operators: tuning (the spec's `@kf tune` lines) and
LLM rewrites (an endpoint configured). With neither it has nothing to propose: it would
measure the original and end at "0 evaluations (exhausted)" seconds later, never saying
why. A stub kernel (no code yet, `@kf reference`) can only be written by the LLM.
`nothing_to_try` says so up front, before any compile or job, in the words of the front
that asked: `kf optimize` (CLI flags), the editor (`kf.llm.*` settings, the Benchmark
command) or `kf mcp` (the flags it was started with, the bench tool).
"""

from __future__ import annotations

import os
from typing import Literal, NamedTuple

from backends.model import Unit

__all__ = ["Front", "Refusal", "nothing_to_try"]

Front = Literal["cli", "editor", "mcp"]


class Refusal(NamedTuple):
    message: str  # `FILE:LINE:COL: ...` (1-based, the kernel's name): what is missing and what to add
    short: str  # a line an editor's message line shows whole (the whole message goes to its log):
    # Neovim 0.7 writes "LSP[kf][Warning] " before it and cuts the middle out past 69 of 80 columns


class _Words(NamedTuple):
    no_llm: str  # why there is no LLM
    give_llm: str  # how to give this front one
    short_llm: str
    measure: str  # how to measure the kernel as it is ({target}: FILE:KERNEL)
    own_kernel: str  # how to judge a kernel the user writes
    choose_llm: str = ""  # how a call uses an endpoint that is configured but not chosen


_WORDS: dict[str, _Words] = {
    "cli": _Words(
        no_llm="no LLM was given",
        give_llm="pass --llm-base-url URL --model NAME",
        short_llm="--llm-base-url",
        measure="`kf bench {target}` measures it",
        own_kernel="check it with `kf bench {target} --candidate YOURS`"),
    "editor": _Words(
        no_llm="no LLM is configured",
        give_llm="set kf.llm.baseUrl and kf.llm.model (its key from the variable kf.llm.apiKeyEnv names, or "
                 "kf.setApiKey)",
        short_llm="kf.llm.baseUrl",
        measure="Benchmark (kf.benchmark) measures it",
        own_kernel="measure it with Benchmark (kf.benchmark)",
        choose_llm="pass llm: true (or {endpoint: NAME}) to kf.optimize, or set kf.llm.baseUrl, the endpoint "
                   "Optimize uses"),
    "mcp": _Words(
        no_llm="kf mcp was started without an LLM endpoint",
        give_llm="start kf mcp with --llm-base-url URL --model NAME (or --settings FILE with llm.baseUrl)",
        short_llm="--llm-base-url",
        measure="bench measures it",
        own_kernel="judge it with bench (candidate_source)",
        choose_llm="call optimize with llm: true (or {\"endpoint\": NAME})"),
}

_DECLINED = "this search uses none of the configured LLM endpoints"


def _show(path: str) -> str:
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def nothing_to_try(unit: Unit, llm: bool, front: Front, declined: bool = False) -> Refusal | None:
    """Why a search of `unit`'s kernel cannot start, or None when it can.

    `llm`: an LLM endpoint is in use for this search (the CLI's --llm-base-url, the server's
    settings or the endpoint a call chose by name). `declined`: endpoints are configured but
    this search uses none (`llm: false`, or only named endpoints and no default), so the
    advice is to choose one, not to configure one."""
    from backends.kernel.pyref import is_stub

    if llm:
        return None
    k = unit.kernel
    w = _WORDS[front]
    where = f"{unit.path}:{k.name_range.start.line + 1}:{k.name_range.start.column + 1}"
    target = f"{_show(unit.path)}:{k.name}"
    no_llm, give_llm, short_llm = ((_DECLINED, w.choose_llm, "llm: true")
                                   if declined and w.choose_llm else (w.no_llm, w.give_llm, w.short_llm))
    if k.spec is not None and k.spec.reference is not None and is_stub(unit.text, k):
        return Refusal(
            f"{where}: kernel {k.name} is a stub (no code yet): writing a first kernel from its Python reference "
            f"needs an LLM and {no_llm}: {give_llm}"
            + (" (any OpenAI-compatible endpoint; its key from OPENAI_API_KEY)" if front == "cli" else "")
            + f", or write the kernel yourself and {w.own_kernel.format(target=target)}",
            f"a stub kernel needs an LLM: {short_llm}")
    if k.spec is not None and k.spec.tunables:
        return None
    return Refusal(
        f"{where}: nothing to try for {k.name}: its spec has no `@kf tune` lines and {no_llm}: add `// @kf tune "
        f"NAME = V1, V2, ...` for a #define, constexpr or template parameter (a work-group size, a tile), or "
        f"{give_llm} for rewrites; {w.measure.format(target=target)}",
        f"nothing to try: add @kf tune or {short_llm}")
