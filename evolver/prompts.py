"""What the LLM operator says to the model, and how those instructions evolve.

A Prompt has four sections (after KernelFoundry's meta-prompts): `philosophy` (how to
think about the kernel), `strategies` (optimizations worth trying), `pitfalls` (what
breaks kernels or the contract) and `analysis` (how to read the profile). The defaults
below carry real CUDA and SYCL optimization knowledge. `build_messages` wraps a prompt
around one parent: the reference and parent regions, the parent's measurements, tuning
results, where the archive is still empty, which moves paid off, condensed feedback from
recent failures, the device, and the reply format.

Meta-prompt evolution: `evolve_prompt` asks the model to edit a prompt's sections with
one of five strategies (IMPROVE, SPECIALIZE, GENERALIZE, SIMPLIFY, ELABORATE); a reply
that does not parse into sensible sections keeps the parent. `PromptPool` tracks each
prompt's fitness (the best speedup improvement one of its children made over its parent)
and picks prompts by a softmax over fitness plus a usage bonus (UCB-like), seeded.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import msgspec

from backends.model import EvalResult, KernelMeasurement, Language, Unit
from backends.kernel.pyref import is_stub, resolve_path
from backends.kernel.splice import region_text

from .records import Prompt, Variant

__all__ = ["SECTIONS", "STRATEGIES", "DEFAULT_SECTIONS", "default_prompt", "prompt_id",
           "build_messages", "system_message", "failure_feedback", "profile_lines",
           "tuning_summary", "evolution_messages", "parse_sections", "evolve_prompt",
           "PromptPool", "EVOLUTION_MARK"]

SECTIONS = ("philosophy", "strategies", "pitfalls", "analysis")
EVOLUTION_MARK = "[kf:prompt-evolution]"

# ---------------------------------------------------------------------------
# Default sections
# ---------------------------------------------------------------------------

_PHILOSOPHY_COMMON = """\
Most kernels are limited by memory traffic, not arithmetic. First decide which bound
applies (bytes moved per launch vs. the device's bandwidth, flops vs. peak compute),
then change the kernel so it moves fewer bytes, moves them in wider and better aligned
transactions, reuses data from fast on-chip memory, or keeps more independent work in
flight to hide latency. Make one coherent change per variant, keep it simple enough to
be correct on every problem size (including sizes that are not multiples of the tile or
work-group), and prefer changes the measurements say matter."""

_STRATEGIES_CUDA = """\
- Coalescing: consecutive threads of a warp should touch consecutive addresses; swap
  index roles or go through shared memory to transpose access patterns.
- Vectorized loads/stores: float4 / float2 / int4 (16-byte aligned, tail handled with a
  scalar loop) cut instruction count and widen transactions.
- Several elements per thread (grid-stride or unrolled loops) amortize index math and
  launch cost; adjust `@kf grid` to match.
- Shared-memory tiling: stage tiles of reused data in __shared__ arrays, __syncthreads()
  between the load and the use; pad the inner dimension (+1) to avoid bank conflicts.
- Register blocking: each thread computes a small sub-tile (e.g. 4x4 outputs) kept in
  registers, reusing each loaded value several times.
- Warp-level reductions with __shfl_down_sync / __shfl_xor_sync instead of shared
  memory rounds; one atomic or one shared write per warp.
- Occupancy: tune block size (multiples of 32, usually 128-512), limit registers with
  __launch_bounds__, keep shared memory per block modest.
- Loop unrolling with #pragma unroll on loops of known trip count; __restrict__ and
  const on pointers so the compiler can use the read-only path (__ldg).
- Expose block size and tile sizes as `@kf tune` parameters (a #define or a template
  parameter) so the tuner can pick them."""

_STRATEGIES_SYCL = """\
- Coalescing: consecutive work-items of a sub-group should touch consecutive addresses;
  dimension 0 of the nd_range is the fastest varying one in these kernels.
- Vectorized access: sycl::vec<float, 4> loads (vec.load(i, ptr) / multi_ptr) or
  several contiguous elements per work-item; handle the tail with a scalar loop.
- Several elements per work-item amortize index math; adjust `@kf global` to match.
- Local-memory tiling: free-function kernels cannot take a local accessor and dynamic
  local memory is unsupported here, so declare tiles with
  syclexp::work_group_static<float[TILE][TILE + 1]> (a static object inside the kernel
  body or at namespace scope), and sycl::group_barrier(it.get_group()) between the load
  and the use; pad the inner dimension to avoid bank conflicts on GPUs.
- Register blocking: each work-item computes a small sub-tile kept in private variables.
- Sub-group and group algorithms: sycl::reduce_over_group, sycl::shift_group_left,
  sycl::select_from_group on it.get_sub_group() replace local-memory reduction rounds.
- Work-group size: tune `@kf local` (powers of two; 64-256 on GPUs, larger on CPUs where
  a work-group maps to a thread and the loop over its items is vectorized).
- Loop unrolling with #pragma unroll; keep pointers restrict-like (no aliasing writes).
- Expose sizes as `@kf tune` parameters (#define NAME value) so the tuner can pick them."""

_PITFALLS_CUDA = """\
- Keep the kernel name, every parameter (name, type, order) and every buffer exactly as
  they are: they are the contract; a variant that changes them is rejected unseen.
- Guard every access with bounds checks: problem sizes such as 1, 1000 and 4097 are
  checked; a tile or vector path must handle the remainder.
- Every output element the original writes must be written; inputs must not be modified.
- __syncthreads() must be reached by every thread of the block (no early return before it).
- Shared memory: static arrays must fit (48 KB without opt-in); dynamic shared memory
  needs `@kf shared BYTES`.
- Misaligned vector loads crash: only use float4 when the base offset is a multiple of 4.
- Do not cache results between launches, use other streams, or rely on uninitialized
  memory; outputs are poisoned and inputs change between runs.
- Integer overflow in index math for large n: use size_t or 64-bit where products grow."""

_PITFALLS_SYCL = """\
- Keep the kernel name, every parameter (name, type, order), every buffer and the
  free-function form exactly as they are:
  extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<N>)) void name(...)
  with the nd_item from syclext::this_work_item::get_nd_item<N>(). No lambdas, no queue.
- Dynamic local memory (`@kf shared`) is unsupported for free-function kernels here:
  use syclexp::work_group_static for local tiles.
- `@kf global` must be a multiple of `@kf local` in every dimension (use roundup), and
  every access needs a bounds check: sizes such as 1, 1000 and 4097 are checked.
- group_barrier must be reached by every work-item of the group (no early return before).
- Every output element the original writes must be written; inputs must not be modified.
- No std:: containers, exceptions, recursion, or function pointers in device code.
- Integer overflow in index math for large n: use size_t where products grow."""

_ANALYSIS_COMMON = """\
- Fraction of peak bandwidth near 1: the kernel is memory bound and close to its limit;
  only moving fewer bytes (fusion, reuse, smaller types) helps. Far below 1: look at
  coalescing, vector width, occupancy and launch overhead.
- Small problems or very short times: launch overhead dominates; more work per thread
  or work-item helps more than clever memory tricks.
- Registers high or spills > 0: reduce unrolling or per-thread tiles, or use launch
  bounds; occupancy falls as registers per thread grow.
- The tuning results show whether the block / work-group size matters: if all sizes
  time the same, the bottleneck is elsewhere.
- Compare with the moves that paid off before and the empty neighbouring cells: a
  change of kind (e.g. adding tiling, or sub-group reductions) explores the archive."""


DEFAULT_SECTIONS: dict[str, dict[str, str]] = {
    "cuda": {"philosophy": _PHILOSOPHY_COMMON, "strategies": _STRATEGIES_CUDA,
             "pitfalls": _PITFALLS_CUDA, "analysis": _ANALYSIS_COMMON},
    "sycl": {"philosophy": _PHILOSOPHY_COMMON, "strategies": _STRATEGIES_SYCL,
             "pitfalls": _PITFALLS_SYCL, "analysis": _ANALYSIS_COMMON},
}


def prompt_id(sections: dict[str, str]) -> str:
    data = json.dumps({k: sections[k] for k in sorted(sections)}, sort_keys=True)
    return "p" + hashlib.sha256(data.encode()).hexdigest()[:12]


def default_prompt(language: Language) -> Prompt:
    sections = dict(DEFAULT_SECTIONS[language])
    return Prompt(id=prompt_id(sections), parent=None, sections=sections)


# ---------------------------------------------------------------------------
# The messages for one proposal
# ---------------------------------------------------------------------------

_LANG_NAME = {"cuda": "CUDA", "sycl": "SYCL (free-function kernels compiled at run time)"}
_FENCE = {"cuda": "cuda", "sycl": "cpp"}


def system_message(prompt: Prompt, language: Language) -> str:
    parts = [f"You are an expert {_LANG_NAME[language]} performance engineer. You rewrite one "
             "GPU kernel to make it faster while computing exactly the same results."]
    for name in SECTIONS:
        text = prompt.sections.get(name, "").strip()
        if text:
            parts.append(f"## {name.capitalize()}\n{text}")
    for name, text in prompt.sections.items():  # sections an evolved prompt added
        if name not in SECTIONS and text.strip():
            parts.append(f"## {name.capitalize()}\n{text.strip()}")
    return "\n\n".join(parts)


def _measurement(v: Variant) -> KernelMeasurement | None:
    r: EvalResult | None = v.result
    if r is None:
        return None
    if v.operator == "reference":
        return r.reference or r.candidate
    return r.candidate or r.reference


def _fmt_time(s: float) -> str:
    return f"{s * 1e6:.1f} us" if s < 1e-3 else f"{s * 1e3:.3f} ms"


def profile_lines(v: Variant, axes: Sequence[str] = ()) -> list[str]:
    """The parent's measurements, one fact a line."""
    out = []
    if v.speedup is not None:
        ci = (f" (95% CI {v.speedup_low:.2f}-{v.speedup_high:.2f})"
              if v.speedup_low is not None and v.speedup_high is not None else "")
        out.append(f"speedup vs the original: {v.speedup:.2f}x{ci}")
    m = _measurement(v)
    t = m.timing if m else None
    if t is None and v.time_median is not None:
        out.append(f"time: {_fmt_time(v.time_median)} median")
    elif t is not None:
        out.append(f"time: {_fmt_time(t.median)} median (p10 {_fmt_time(t.p10)}, "
                   f"p90 {_fmt_time(t.p90)}, {t.trials} trials)")
    p = m.profile if m else None
    if p is not None:
        if p.bandwidth_fraction is not None:
            bw = f" ({p.bandwidth / 1e9:.1f} GB/s)" if p.bandwidth else ""
            out.append(f"bandwidth: {100 * p.bandwidth_fraction:.0f}% of measured peak{bw}")
        if p.bytes_moved:
            out.append(f"bytes moved per launch: {p.bytes_moved}")
        if p.flops:
            out.append(f"flops per launch: {p.flops}")
        res = []
        if p.registers is not None:
            res.append(f"{p.registers} registers/thread")
        if p.spill_stores or p.spill_loads:
            res.append(f"spills {p.spill_stores or 0} B stored / {p.spill_loads or 0} B loaded")
        elif p.spill_stores == 0:
            res.append("no spills")
        if p.static_shared:
            res.append(f"{p.static_shared} B static shared/local")
        if p.occupancy is not None:
            res.append(f"occupancy {100 * p.occupancy:.0f}%")
        if p.block_threads:
            res.append(f"{p.block_threads} threads per block/work-group")
        if p.sub_group_sizes:
            res.append(f"sub-group sizes {p.sub_group_sizes}")
        if res:
            out.append("resources: " + ", ".join(res))
        if p.features:
            top = ", ".join(f"{k}={v:g}" for k, v in sorted(p.features.items())[:10])
            out.append(f"code features ({p.feature_source or 'compiler'}): {top}")
        out.extend(f"note: {n}" for n in p.notes[:3])
    if v.cell is not None:
        names = list(axes) if len(axes) == len(v.cell) else [f"axis{i}" for i in range(len(v.cell))]
        out.append("archive cell: " + ", ".join(f"{a}={c}" for a, c in zip(names, v.cell)))
    if v.descriptors:
        out.append("descriptors: " + ", ".join(f"{k}={x:.3g}" for k, x in sorted(v.descriptors.items())))
    if v.tunables:
        out.append("tunables bound: " + ", ".join(f"{k}={x}" for k, x in sorted(v.tunables.items())))
    return out


def tuning_summary(parent: Variant | None, variants: Iterable[Variant], limit: int = 8) -> str:
    """Tuning results of the parent's region: the variants that differ from it only in
    tunables, fastest first."""
    if parent is None:
        return ""
    rows = [v for v in variants if v.region == parent.region and v.tunables]
    seen, lines = set(), []
    for v in sorted(rows, key=lambda v: -(v.speedup or 0.0)):
        key = tuple(sorted(v.tunables.items()))
        if key in seen:
            continue
        seen.add(key)
        binding = ", ".join(f"{k}={x}" for k, x in key)
        res = f"{v.speedup:.2f}x" if v.ok and v.speedup is not None else v.verdict.value
        lines.append(f"{binding}: {res}")
        if len(lines) >= limit:
            break
    return "\n".join(lines)


def _first_problem(v: Variant) -> str:
    r = v.result
    detail = ""
    if r is not None:
        errs = [d for d in r.diagnostics if d.severity == "error"] or list(r.diagnostics)
        if errs:
            d = errs[0]
            detail = f"line {d.line + 1}: {d.message}"
        else:
            bad = next((c for c in r.checks if not c.ok), None)
            if bad is not None:
                sizes = ", ".join(f"{k}={x}" for k, x in bad.sizes.items())
                if bad.mismatches:
                    mm = bad.mismatches[0]
                    detail = (f"at {sizes}: {mm.buffer}[{mm.index}] = {mm.got:g}, expected "
                              f"{mm.expected:g} ({bad.mismatch_count} elements differ)")
                else:
                    detail = f"at {sizes}: {bad.message}"
    msg = detail or v.message or r.message if r is not None else (detail or v.message)
    return " ".join(str(msg or "").split())


def failure_feedback(failures: Iterable[Variant], limit: int = 6, width: int = 220) -> list[str]:
    """Recent failures condensed: verdict + first diagnostic or mismatch, deduplicated."""
    out, seen = [], set()
    for v in failures:
        if v.ok:
            continue
        problem = _first_problem(v)
        line = f"{v.verdict.value}: {problem}" if problem else v.verdict.value
        line = line[: width - 3] + "..." if len(line) > width else line
        key = re.sub(r"\d+", "#", line)
        if key in seen:
            continue
        seen.add(key)
        out.append(line)
        if len(out) >= limit:
            break
    return out


def _cell_moves(frm: Sequence[int] | None, to: Sequence[int], axes: Sequence[str]) -> str:
    names = list(axes) if len(axes) == len(to) else [f"axis{i}" for i in range(len(to))]
    if frm is None or len(frm) != len(to):
        return ", ".join(f"{a}={c}" for a, c in zip(names, to))
    parts = [f"{a} {x}->{y}" for a, x, y in zip(names, frm, to) if x != y]
    return ", ".join(parts) or "same cell"


def _contract(context: Any) -> str:
    k = context.reference.kernel
    params = ", ".join(p.type + " " + p.name for p in k.params)
    lines = [f"kernel name `{k.name}`, parameters ({params})"]
    if k.spec is not None:
        for b in k.spec.buffers:
            lines.append(f"buffer {b.name}: {b.role} {b.dtype}[{b.length}]")
    return "\n".join(f"- {x}" for x in lines)


REFERENCE_SOURCE_LIMIT = 6000  # characters of a Python reference shown to the model


def reference_source(unit: Unit) -> str | None:
    """The Python reference's source (`@kf reference`), cut to REFERENCE_SOURCE_LIMIT; None without one."""
    spec = unit.kernel.spec
    if spec is None or spec.reference is None:
        return None
    try:
        with open(resolve_path(unit.path, spec.reference.path), encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    if len(text) > REFERENCE_SOURCE_LIMIT:
        text = text[:REFERENCE_SOURCE_LIMIT] + f"\n# ... [{len(text) - REFERENCE_SOURCE_LIMIT} more characters]"
    return text


def _reference_part(unit: Unit, source: str) -> str:
    ref = unit.kernel.spec.reference
    what = f"the function `{ref.function}`" if ref.function else \
        "its `Model.forward` (a KernelBench module: `get_inputs()` gives the inputs' shapes)"
    return (f"What the kernel must compute: {what} in this Python reference ({ref.path}). Each buffer is one of its "
            "arrays, flattened in row-major order; the spec's variables are its sizes. kf judges every kernel "
            "against it (in float64):\n```python\n" + source.strip() + "\n```")


# SYCL kernels as users write them (backends/kernel/sycl_forms.py): kf lifts them to compile
# them, but a variant is written, and applied, in the user's form
_FORM_NOTES = {
    "lambda": (
        "This kernel is a lambda passed to `parallel_for` in the user's host code, not a "
        "free-function kernel (the advice about the free-function form does not apply to it). "
        "Write the variant in the same form: the `@kf` lines, then the whole `parallel_for` "
        "statement with its lambda as it stands in the user's function (same queue or handler, "
        "same kernel name if it has one). The parameters above are the variables the lambda "
        "captures: use exactly those (no new captures, none dropped), plus what the file "
        "defines (macros, constants, helper functions). For work-group local memory declare "
        "`sycl::ext::oneapi::experimental::work_group_static<T[N]>` inside the lambda body. "
        "Launch lines follow the code: a `sycl::range` launch has `@kf global` only; an "
        "`nd_range` launch (with `sycl::nd_item<N>`) has `@kf global` and `@kf local` that "
        "match the nd_range the code builds."),
    "nd_item_function": (
        "This kernel is a function taking the SYCL work-item, called from a `parallel_for` "
        "lambda elsewhere in the user's file, not a free-function kernel (the advice about the "
        "free-function form does not apply to it). Write the variant as the same function: "
        "the `@kf` lines, then the whole function with exactly the same signature (every "
        "parameter, the work-item one included). Its launch is the caller's, outside the "
        "region: keep the `@kf global` and `@kf local` lines as they are."),
}


def build_messages(context: Any, parent: Variant | None, prompt: Prompt,
                   tuning_summary: str = "") -> list[dict[str, str]]:
    """The chat messages asking for one improved variant of `parent` (None: the reference)."""
    ref = context.reference
    lang: Language = ref.kernel.language
    fence = _FENCE[lang]
    ref_region = region_text(ref.text, ref.kernel)
    parent_region = parent.region if parent is not None and parent.region else ref_region
    is_reference = parent is None or parent.operator == "reference" or parent_region == ref_region
    stub = ref.kernel.spec is not None and ref.kernel.spec.reference is not None and is_stub(ref.text, ref.kernel)
    source = reference_source(ref)
    parts: list[str] = []
    parts.append(f"Target device: {context.device or 'unknown'}. Language: {_LANG_NAME[lang]}. "
                 f"Search generation {context.generation}.")
    if stub:
        parts.append("There is no kernel yet. This region in "
                     f"{ref.path.rsplit('/', 1)[-1]} is a stub: its `@kf` spec lines say what the kernel computes on "
                     "and how it is launched (docs: `@kf in/out/inout NAME: TYPE[LEN]`, `@kf NAME = EXPR`, launch "
                     "lines, `@kf tune NAME = V1, V2`); its body is empty:\n"
                     f"```{fence}\n{ref_region.strip()}\n```")
    else:
        parts.append("The original kernel's region (its `@kf` spec lines and its code) in "
                     f"{ref.path.rsplit('/', 1)[-1]}; the spec says what the kernel computes on "
                     "and how it is launched (docs: `@kf in/out/inout NAME: TYPE[LEN]`, "
                     f"`@kf NAME = EXPR`, launch lines, `@kf tune NAME = V1, V2`):\n"
                     f"```{fence}\n{ref_region.strip()}\n```")
    if source is not None:
        parts.append(_reference_part(ref, source))
    parts.append("The contract every variant keeps (do not change it):\n" + _contract(context))
    note = _FORM_NOTES.get(ref.kernel.form)
    if note:
        parts.append(note)
    if not is_reference:
        parts.append(f"The variant to improve (parent {parent.id[:10]}):\n```{fence}\n"
                     f"{parent_region.strip()}\n```")
    elif not stub:
        parts.append("The variant to improve is the original kernel itself.")
    if parent is not None:
        facts = profile_lines(parent, context.axes)
        if facts:
            parts.append("Its measurements:\n" + "\n".join(f"- {f}" for f in facts))
    if tuning_summary.strip():
        parts.append("Its tuning results (tunable values -> speedup vs the original):\n"
                     + "\n".join(f"- {x}" for x in tuning_summary.strip().splitlines()))
    if context.axes:
        parts.append("The archive keeps the best kernel of each kind, along the axes "
                     + ", ".join(context.axes) + ".")
    if context.empty_cells:
        here = parent.cell if parent is not None else None
        moves = [_cell_moves(here, c, context.axes) for c in context.empty_cells[:6]]
        parts.append("Still empty next to this kernel (a kernel of that kind is welcome):\n"
                     + "\n".join(f"- {m}" for m in moves))
    if context.good_moves:
        good = sorted(context.good_moves, key=lambda g: -g[2])[:5]
        parts.append("Moves that paid off so far (mean speedup gain):\n"
                     + "\n".join(f"- {_cell_moves(a, b, context.axes)}: {g:+.2f}"
                                 for a, b, g in good))
    tried = list(getattr(context, "already_tried", []) or [])
    if tried:
        parts.append("These were already tried (proposed again, so not evaluated again); "
                     "propose something different:\n" + "\n".join(f"- {t}" for t in tried[-8:]))
    fb = failure_feedback(context.recent_failures)
    if fb:
        parts.append("Recent candidates that failed (avoid these mistakes):\n"
                     + "\n".join(f"- {x}" for x in fb))
    first = "Write the first kernel: a correct and reasonably fast one" if stub else "Write one faster variant"
    parts.append(
        f"{first}. Reply with a first line `Idea: <one short sentence>`, "
        f"then the WHOLE kernel region in ONE fenced ```{fence} block: every `@kf` spec line "
        "followed by the complete kernel definition, ready to replace the region above. "
        "Keep the kernel name, parameters and buffers exactly; you may change the launch "
        "lines, and you may declare `@kf tune NAME = V1, V2, ...` lines for sizes you "
        "introduce (a `#define NAME value` or template parameter in the code). Helper "
        "functions may go above the spec lines inside the same block. No host code, no "
        "main(), nothing after the block.")
    return [{"role": "system", "content": system_message(prompt, lang)},
            {"role": "user", "content": "\n\n".join(parts)}]


# ---------------------------------------------------------------------------
# Meta-prompt evolution
# ---------------------------------------------------------------------------

STRATEGIES: dict[str, str] = {
    "IMPROVE": "Improve the sections where the feedback shows they fall short: fix advice "
               "that led to failures, strengthen advice that led to faster kernels.",
    "SPECIALIZE": "Specialize the sections to this kernel and device: name the concrete "
                  "optimizations most likely to pay off for it, drop generic advice.",
    "GENERALIZE": "Generalize the sections: turn advice that only fits one case into "
                  "principles that carry over to other kernels and devices.",
    "SIMPLIFY": "Simplify the sections: shorter, clearer, fewer items, keep what matters most.",
    "ELABORATE": "Elaborate the sections: add concrete techniques, code idioms and "
                 "checks that the current text lacks.",
}

_SECTION_MAX = 5000
_SECTION_MIN = 20


def evolution_messages(parent: Prompt, strategy: str, feedback: str) -> list[dict[str, str]]:
    sections = "\n\n".join(f"<{n}>\n{parent.sections.get(n, '').strip()}\n</{n}>" for n in SECTIONS)
    return [
        {"role": "system", "content":
            f"{EVOLUTION_MARK} You edit the instructions that guide an LLM which rewrites GPU "
            "kernels to make them faster. The instructions have four sections: philosophy, "
            "strategies, pitfalls, analysis."},
        {"role": "user", "content":
            f"Strategy: {strategy}. {STRATEGIES[strategy]}\n\n"
            f"How kernels written with these instructions fared:\n{feedback.strip() or 'no results yet'}"
            f"\n\nThe current sections:\n\n{sections}\n\n"
            "Reply with all four revised sections, each between its tags exactly as above "
            "(<philosophy>...</philosophy>, <strategies>...</strategies>, "
            "<pitfalls>...</pitfalls>, <analysis>...</analysis>), plain text, nothing else."},
    ]


def parse_sections(reply: str, parent: Prompt) -> dict[str, str] | None:
    """The edited sections, or None when the reply is not a sensible edit (no tags,
    empty or huge sections, nothing changed). A missing section keeps the parent's."""
    text = reply.replace("\r\n", "\n")
    out, found = dict(parent.sections), 0
    for name in SECTIONS:
        m = re.search(rf"<{name}>\s*(.*?)\s*</{name}>", text, re.S | re.I)
        if not m:
            continue
        body = m.group(1).strip()
        if re.search(r"</?(philosophy|strategies|pitfalls|analysis)>", body, re.I):
            return None
        if not (_SECTION_MIN <= len(body) <= _SECTION_MAX):
            return None
        out[name] = body
        found += 1
    if found == 0 or out == parent.sections:
        return None
    total_old = sum(len(parent.sections.get(n, "")) for n in SECTIONS)
    if sum(len(out[n]) for n in SECTIONS) > 3 * total_old + 2000:
        return None
    return out


async def evolve_prompt(client: Any, parent: Prompt, feedback: str, *,
                        strategy: str | None = None, rng: random.Random | None = None,
                        created: float | None = None) -> Prompt | None:
    """A child of `parent` edited by the LLM with one strategy; None when the reply is
    unusable (the parent is kept). Errors from the endpoint propagate (LLMError)."""
    rng = rng or random.Random(0)
    strategy = strategy or rng.choice(sorted(STRATEGIES))
    reply = await client.chat(evolution_messages(parent, strategy, feedback))
    if getattr(reply, "finish_reason", None) == "length":
        return None
    sections = parse_sections(reply.text, parent)
    if sections is None:
        return None
    return Prompt(id=prompt_id(sections), parent=parent.id, sections=sections,
                  created=time.time() if created is None else created)


@dataclass
class _Stats:
    children: int = 0  # evaluated children
    correct: int = 0
    rejected: int = 0
    best: float = 0.0
    verdicts: Counter = field(default_factory=Counter)
    reasons: list[str] = field(default_factory=list)


class PromptPool:
    """The prompts of one search, their use counts and fitness, and selection."""

    def __init__(self, prompts: Iterable[Prompt] = (), *, seed: int = 0,
                 temperature: float = 0.25, bonus: float = 0.3):
        self.rng = random.Random(seed)
        self.temperature = temperature
        self.bonus = bonus
        self._prompts: dict[str, Prompt] = {}
        self._stats: dict[str, _Stats] = {}
        for p in prompts:
            self.add(p)

    def __len__(self) -> int:
        return len(self._prompts)

    def __contains__(self, pid: object) -> bool:
        return pid in self._prompts

    def get(self, pid: str) -> Prompt | None:
        return self._prompts.get(pid)

    def prompts(self) -> list[Prompt]:
        return list(self._prompts.values())

    def add(self, p: Prompt) -> Prompt:
        """Add (or merge: the higher fitness and use count win) a prompt."""
        old = self._prompts.get(p.id)
        if old is not None:
            p = msgspec.structs.replace(old, uses=max(old.uses, p.uses),
                                        fitness=max(old.fitness, p.fitness))
        self._prompts[p.id] = p
        self._stats.setdefault(p.id, _Stats())
        return p

    def scores(self) -> dict[str, float]:
        total = sum(p.uses for p in self._prompts.values())
        return {pid: p.fitness + self.bonus * math.sqrt(math.log(total + 1) / (p.uses + 1))
                for pid, p in self._prompts.items()}

    def probabilities(self) -> dict[str, float]:
        s = self.scores()
        if not s:
            return {}
        top = max(s.values())
        w = {k: math.exp((v - top) / self.temperature) for k, v in s.items()}
        z = sum(w.values())
        return {k: x / z for k, x in w.items()}

    def select(self) -> Prompt:
        """A prompt by softmax over fitness + usage bonus (counts a use)."""
        probs = self.probabilities()
        if not probs:
            raise LookupError("no prompts")
        ids = sorted(probs)
        pid = self.rng.choices(ids, weights=[probs[i] for i in ids])[0]
        p = msgspec.structs.replace(self._prompts[pid], uses=self._prompts[pid].uses + 1)
        self._prompts[pid] = p
        return p

    def best(self) -> Prompt:
        return max(self._prompts.values(), key=lambda p: (p.fitness, -p.uses, p.id))

    def record_result(self, pid: str | None, verdict: str, improvement: float | None) -> None:
        """A child of prompt `pid` was evaluated; `improvement` is its speedup minus its
        parent's (None when not correct). Fitness keeps the best improvement (>= 0)."""
        if pid not in self._prompts:
            return
        st = self._stats[pid]
        st.children += 1
        st.verdicts[verdict] += 1
        if improvement is not None:
            st.correct += 1
            st.best = max(st.best, improvement)
            p = self._prompts[pid]
            if improvement > p.fitness:
                self._prompts[pid] = msgspec.structs.replace(p, fitness=max(0.0, improvement))

    def record_rejection(self, pid: str | None, reason: str) -> None:
        if pid not in self._prompts:
            return
        st = self._stats[pid]
        st.rejected += 1
        st.verdicts["rejected"] += 1
        if reason not in st.reasons:
            st.reasons.append(reason)
            del st.reasons[:-5]

    def note_failure(self, pid: str | None, reason: str) -> None:
        if pid in self._stats and reason and reason not in self._stats[pid].reasons:
            self._stats[pid].reasons.append(reason)
            del self._stats[pid].reasons[:-5]

    def feedback(self, pid: str) -> str:
        """How children of `pid` fared, for an evolution request."""
        p, st = self._prompts[pid], self._stats.get(pid, _Stats())
        lines = [f"{p.uses} proposals made, {st.children} evaluated, {st.correct} correct, "
                 f"{st.rejected} rejected before compiling."]
        if st.verdicts:
            lines.append("Outcomes: " + ", ".join(f"{k} {n}" for k, n in st.verdicts.most_common()))
        lines.append(f"Best speedup improvement over a parent: {p.fitness:+.2f}")
        lines.extend(f"Failure: {r[:200]}" for r in st.reasons[-5:])
        return "\n".join(lines)
