"""The MCP tools' arguments and results: plain msgspec Structs.

Each tool's JSON input and output schemas are generated from these (`tool_schema`), and
arguments are validated by converting into them, so the schema an agent reads is the one
it is held to. Every field says its unit and default in its own description (never inside
an `anyOf` branch). Evaluation results are the records of backends/model.py and
evolver/records.py (docs/results.md).

One contract: positions are 1-based (lines and columns, as an agent quotes them: the
diagnostics here are converted from the backends' 0-based ones); paths are absolute real
paths; times are seconds; states and statuses are closed enums shared with the language
server (docs/lsp.md). No field anywhere holds a secret, an endpoint URL or a key variable:
those are configured by whoever starts `kf mcp`; a call picks an endpoint by name.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from backends.model import EvalResult, Verdict

__all__ = ["ListArgs", "KernelArgs", "DraftArgs", "BenchArgs", "LLMChoice", "OptimizeArgs", "JobArgs", "StopArgs",
           "ResultsArgs", "ApplyArgs", "Position", "SearchInfo", "KernelInfo", "KernelList", "DraftResult",
           "SpecCheck", "BenchResult", "JobInfo", "OptimizeResult", "JobList", "StopResult", "VariantInfo",
           "Results", "ApplyResult", "tool_schema", "JobState", "SearchStatus", "MAX_WAIT_SECONDS", "positions"]

Number = int | float
# below the 60 s after which common MCP clients give up on a request (KF_MCP_MAX_WAIT: tests shorten it)
MAX_WAIT_SECONDS = float(os.environ.get("KF_MCP_MAX_WAIT") or 50.0)
Value = int | float | str  # a tunable's value: a number, or a type (`tune T = float, half`)
FilePath = Annotated[str, Meta(min_length=1, max_length=4096,
                               description="a kernel file, absolute or relative to the first root")]
KernelName = Annotated[Annotated[str, Meta(max_length=1000)] | None, Meta(
    description="the kernel's name; default: the file's only kernel (an error names them when there are several)")]
Wait = Annotated[float, Meta(ge=0, le=86400, description=(
    f"seconds to wait for the job to end before answering (default 0: answer at once); at most "
    f"{MAX_WAIT_SECONDS:g} s are waited (longer values are cut to that: MCP clients commonly give up on a request "
    "after 60 s), with progress notifications meanwhile when the request has a progressToken; call job_status "
    "again while the state is running"))]

JobState = Annotated[Literal["queued", "running", "done", "cancelled", "error", "interrupted"], Meta(description=(
    "queued: waiting for a free slot (kf mcp --max-jobs); running; done: ended by its budget, time, patience or an "
    "exhausted space (message says which); cancelled: stopped (stop, or a newer edit); error: could not run "
    "(message says why); interrupted: the kf process running it ended first (e.g. the client that started it "
    "disconnected): its evaluations are stored and optimize resumes from them"))]
SearchStatus = Annotated[Literal["none", "running", "budget", "time", "tokens", "patience", "exhausted", "cancelled",
                                 "error", "interrupted", "unknown"], Meta(description=(
    "the stored search's status: none (never searched); running; budget / time / tokens / patience (ended by that "
    "limit); exhausted (nothing new to try); cancelled (stopped); error; interrupted (its process ended before it "
    "finished: resumable); unknown (a database from another version)"))]


class _Args(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class ListArgs(_Args):
    path: Annotated[str, Meta(max_length=4096, description=(
        "a folder (searched recursively; build/, .git/, node_modules/, .kf/ and virtual environments are "
        "skipped) or a file; default: the first root"))] = ""
    glob: Annotated[Annotated[str, Meta(min_length=1, max_length=500)] | None, Meta(description=(
        "only files whose path relative to `path` matches this glob, e.g. '*.cu' or 'kernels/**/*.cpp' "
        "(`**` spans folders); default: every kernel file"))] = None
    language: Annotated[Literal["cuda", "sycl"] | None, Meta(description="only kernels of this language; default: both")] = None
    has_spec: Annotated[bool | None, Meta(description=(
        "true: only kernels with a `// @kf` spec (ok or with errors); false: only those without; default: all"))] = None
    cursor: Annotated[Annotated[str, Meta(max_length=100)] | None, Meta(description=(
        "the next_cursor of the previous page; default: the first page"))] = None
    limit: Annotated[int, Meta(ge=1, le=500, description="kernels per page (default 50)")] = 50


class KernelArgs(_Args):
    file: FilePath
    kernel: KernelName = None
    flags: Annotated[list[Annotated[str, Meta(max_length=4096)]], Meta(
        max_length=256, description="compiler flags for a file without a compile_commands.json entry, e.g. "
                                    "[\"-DENABLE_BF16\", \"-Iinclude\"] (include paths inside the roots; default: "
                                    "the kf.cuda.flags / kf.sycl.flags setting)")] = []


class DraftArgs(KernelArgs):
    write: Annotated[bool, Meta(description=(
        "insert the draft above the kernel (only when it has no spec); default false: only return it"))] = False


class BenchArgs(KernelArgs):
    candidate_source: Annotated[Annotated[str, Meta(max_length=4_000_000)] | None, Meta(
        description="a candidate: the whole file, or only the kernel (its @kf lines and definition) to splice "
                    "over the original's; without @kf lines the original's spec is used. Default: no candidate "
                    "(the file alone is measured)")] = None
    tunables: Annotated[dict[str, Value], Meta(
        description="values for the kernel's `@kf tune` tunables (names the spec declares; another name is an "
                    "error); without candidate_source, the file itself with these values is the candidate. "
                    "Default: none")] = {}
    seeds: Annotated[int, Meta(ge=1, le=20, description=(
        "input sets: each seed fills the inputs with fresh random data and checks every problem size on them "
        "(default 3)"))] = 3
    time_budget: Annotated[float, Meta(gt=0, le=60, description="seconds of timing per kernel (default 1.0)")] = 1.0
    timeout: Annotated[float, Meta(gt=0, le=600, description=(
        "seconds a launch may take before it counts as a hang (verdict timeout; default 30)"))] = 30.0


class LLMChoice(_Args):
    endpoint: Annotated[Annotated[str, Meta(min_length=1, max_length=100)] | None, Meta(description=(
        "the NAME of an endpoint configured by whoever started kf mcp (\"default\" is --llm-base-url); "
        "default: the default endpoint. A URL or a key variable cannot be given here"))] = None
    model: Annotated[Annotated[str, Meta(min_length=1, max_length=256)] | None, Meta(description=(
        "the NAME of a model configured for that endpoint (--model); default: its first model"))] = None


class OptimizeArgs(KernelArgs):
    budget: Annotated[Annotated[int, Meta(ge=1, le=100000)] | None, Meta(description=(
        "evaluations (default: the server's, 32 unless kf mcp was started with other settings); a search of the "
        "same code resumes and counts the evaluations it already has"))] = None
    time: Annotated[Annotated[float, Meta(gt=0, le=86400)] | None, Meta(description=(
        "wall-time budget in seconds (default: none; the evaluation budget alone ends the search)"))] = None
    llm: Annotated[bool | LLMChoice | None, Meta(description=(
        "LLM rewrites besides tuning: false = tuning only; true = the default endpoint; {endpoint, model} = "
        "endpoints and models by the names kf mcp was configured with. Default: the default endpoint when one "
        "is configured, else tuning only"))] = None
    tuning: Annotated[Literal["auto", "exhaustive", "random", "bayes"] | None, Meta(description=(
        "how tunable values are chosen (default auto: exhaustive for small spaces, else Bayesian)"))] = None
    eval_seconds: Annotated[Annotated[float, Meta(gt=0, le=60)] | None, Meta(description=(
        "seconds of timing per kernel per evaluation (default: the server's, 0.5)"))] = None
    wait_seconds: Wait = 0.0
    language: Annotated[Literal["cuda", "sycl"] | None, Meta(description=(
        "with a Python reference as `file` (ref.py, `kernel` its function; a KernelBench task.py with no kernel): "
        "the kernel language to write; a stub kernel file is drafted next to it and the LLM writes the first "
        "kernel. Default: none (`file` is a kernel file)"))] = None


class JobArgs(_Args):
    job_id: Annotated[Annotated[str, Meta(min_length=1, max_length=200)] | None, Meta(description=(
        "a job id from optimize (also one from an earlier kf mcp process: its stored state is answered); "
        "default: every job of this process"))] = None
    wait_seconds: Wait = 0.0


class StopArgs(_Args):
    job_id: Annotated[str, Meta(min_length=1, max_length=200, description=(
        "the id optimize returned; the search stops after its evaluation in flight and can be resumed"))]


class ResultsArgs(KernelArgs):
    limit: Annotated[int, Meta(ge=1, le=50, description="at most this many variants, best first (default 5)")] = 5


class ApplyArgs(KernelArgs):
    variant: Annotated[Annotated[str, Meta(max_length=200)] | None, Meta(
        description="a variant id or unique prefix (from results); default: the best")] = None
    file_sha256: Annotated[Annotated[str, Meta(max_length=64)] | None, Meta(
        description="refuse unless the file still has this sha256 (results gives it); default: no check")] = None


# -- results ------------------------------------------------------------------------------


class Position(msgspec.Struct, frozen=True):
    """A diagnostic at a place in a file: line and column are 1-based."""

    file: str
    line: Annotated[int, Meta(ge=1, description="1-based line")]
    column: Annotated[int, Meta(ge=1, description="1-based column")]
    severity: Literal["error", "warning", "info"]
    message: str
    source: str = "kf"  # who said it: kf (the spec), nvrtc, sycl-rtc, ptxas


def positions(diagnostics: Any) -> list[Position]:
    """The backends' diagnostics (0-based) as the contract's (1-based)."""
    return [Position(d.file, max(0, d.line) + 1, max(0, d.column) + 1, d.severity, d.message, d.source)
            for d in diagnostics]


class SearchInfo(msgspec.Struct, frozen=True):
    search_id: str
    status: SearchStatus
    evaluations: int
    best_speedup: float | None
    applicable: Annotated[bool, Meta(description="measured against the kernel's code as it is now")]


class KernelInfo(msgspec.Struct, frozen=True):
    file: str
    kernel: str
    line: Annotated[int, Meta(description="1-based line of the kernel's name")]
    language: Literal["cuda", "sycl"]
    spec: Annotated[Literal["ok", "missing", "error"], Meta(description="the `// @kf` spec's status")]
    diagnostics: Annotated[list[Position], Meta(description="the spec's errors and warnings (1-based positions)")]
    tunables: dict[str, list[Value]]
    search: SearchInfo | None = None


class KernelList(msgspec.Struct, frozen=True):
    root: str
    kernels: list[KernelInfo]
    total: Annotated[int, Meta(description="kernels matching the filters, over all pages")]
    files: Annotated[int, Meta(description="kernel files read")]
    next_cursor: Annotated[str | None, Meta(description="pass as cursor for the next page; null on the last")] = None
    errors: Annotated[list[str], Meta(description="files that could not be read or parsed")] = []


class DraftResult(msgspec.Struct, frozen=True):
    file: str
    kernel: str
    has_spec: bool
    draft: Annotated[str, Meta(description="the `// @kf` lines, to paste above the kernel")]
    line: Annotated[int, Meta(description="the 1-based line they go above")]
    written: bool


class SpecCheck(msgspec.Struct, frozen=True):
    file: str
    kernel: str
    ok: Annotated[bool, Meta(description="a spec with no errors, and the original ran cleanly on it")]
    spec: Literal["ok", "missing", "error"]
    diagnostics: Annotated[list[Position], Meta(description="1-based positions")]
    verdict: Annotated[Verdict | None, Meta(description="of running the original alone (null: not run)")] = None
    message: str = ""
    checks: Annotated[int, Meta(description="(problem size, seed) runs of the original")] = 0
    sizes: Annotated[list[dict[str, int]], Meta(description="the problem sizes checked")] = []


class BenchResult(msgspec.Struct, frozen=True):
    file: str
    kernel: str
    verdict: Verdict
    summary: Annotated[str, Meta(description="one line: verdict, times with spread, speedup with its interval")]
    candidate: Annotated[bool, Meta(description="a candidate was judged against the original")]
    diagnostics: Annotated[list[Position], Meta(description=(
        "compile errors and warnings at the file's lines (1-based positions; result.diagnostics is left empty)"))]
    result: Annotated[EvalResult, Meta(description=(
        "the whole evaluation (docs/results.md); timing samples left out (medians and spread kept); indices in "
        "checks are 0-based element offsets into the buffers"))]


class JobInfo(msgspec.Struct, frozen=True):
    job_id: Annotated[str, Meta(description="unique across kf mcp processes")]
    kind: Literal["optimize", "benchmark"]
    file: str
    kernel: str
    state: JobState
    done: Annotated[int, Meta(description="evaluations done")]
    budget: Annotated[int, Meta(description="evaluations allowed")]
    best_speedup: Annotated[float | None, Meta(description="the best verified speedup so far (x)")]
    message: str
    elapsed_seconds: Annotated[float, Meta(description="seconds it has run; frozen when it ends")]
    resumable: Annotated[bool, Meta(description=(
        "its evaluations are stored and optimize of the same code resumes from them"))] = False
    search_id: str | None = None


class OptimizeResult(msgspec.Struct, frozen=True):
    job: JobInfo
    already_running: bool
    database: str
    note: Annotated[str, Meta(description="what the job's life depends on")] = ""


class JobList(msgspec.Struct, frozen=True):
    jobs: list[JobInfo]
    waited_seconds: Annotated[float, Meta(description="how long this call waited")] = 0.0


class StopResult(msgspec.Struct, frozen=True):
    job_id: str
    stopped: Annotated[bool, Meta(description="false when the job had ended already")]
    state: JobState


class VariantInfo(msgspec.Struct, frozen=True):
    id: str
    operator: Annotated[str, Meta(description="what made it: tune, llm, or reference (the original)")]
    verdict: Verdict
    speedup: Annotated[float | None, Meta(description="x over the original (its median time over this one's)")]
    speedup_low: Annotated[float | None, Meta(description="95% confidence interval, low end")]
    speedup_high: Annotated[float | None, Meta(description="95% confidence interval, high end")]
    significant: Annotated[bool, Meta(description="the whole interval is above 1")]
    time_median: Annotated[float | None, Meta(description="seconds, from the same measurement as speedup")]
    retimed: Annotated[bool, Meta(description=(
        "speedup and time come from the final re-timing on fresh inputs; false: from the search's own "
        "measurement (a stopped or interrupted search is not re-timed)"))]
    cell: list[int] | None
    cell_description: Annotated[str, Meta(description="the archive cell in words (docs/descriptors.md)")]
    tunables: dict[str, Value]
    is_current: Annotated[bool, Meta(description="the file already holds this variant")]
    diff: Annotated[str, Meta(description=(
        "unified diff from the file as it is to the file with the variant (\"\" when not applicable)"))]


class Results(msgspec.Struct, frozen=True):
    file: str
    kernel: str
    file_sha256: str
    search_id: str | None
    status: SearchStatus
    evaluations: int
    budget: int
    backend: str
    device: str
    applicable: Annotated[bool, Meta(description="the variants were measured against the kernel's code as it is now")]
    retimed: Annotated[bool, Meta(description="figures from the final re-timing on fresh inputs")]
    reference_time_median: Annotated[float | None, Meta(description="seconds: the original, same measurement")]
    variants: Annotated[list[VariantInfo], Meta(description="verified, significantly faster, best first")]


class ApplyResult(msgspec.Struct, frozen=True):
    file: str
    kernel: str
    applied: bool
    variant: str
    speedup: float | None
    speedup_low: float | None
    speedup_high: float | None
    backup: Annotated[str, Meta(description="FILE.kf-orig: the file before kf first changed it")]
    diff: str


def tool_schema(cls: type) -> dict[str, Any]:
    """A Struct's JSON schema as an object schema (MCP wants `type: object` at the top),
    its definitions kept under `$defs`."""
    doc = msgspec.json.schema(cls)
    defs = dict(doc.get("$defs", {}))
    ref = doc.get("$ref", "")
    name = ref.rsplit("/", 1)[-1]
    top = dict(defs.pop(name, doc)) if ref else dict(doc)  # none of these refers to itself
    top.pop("title", None)
    if defs:
        top["$defs"] = defs
    return top
