"""The MCP tools' arguments and results: plain msgspec Structs.

Each tool's JSON input and output schemas are generated from these (`tool_schema`), and
arguments are validated by converting into them, so the schema an agent reads is the one
it is held to. Evaluation results are the records of backends/model.py and
evolver/records.py (docs/results.md). Positions in results are 1-based lines, as an agent
quotes them; paths are absolute real paths.

No field anywhere holds a secret: the LLM's key stays in the environment variable that
`LLMArgs.api_key_env` names.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from backends.model import Diagnostic, EvalResult, Verdict

__all__ = ["ListArgs", "KernelArgs", "DraftArgs", "BenchArgs", "LLMArgs", "OptimizeArgs", "JobArgs", "StopArgs",
           "ResultsArgs", "ApplyArgs", "SearchInfo", "KernelInfo", "KernelList", "DraftResult", "SpecCheck",
           "BenchResult", "JobInfo", "OptimizeResult", "JobList", "StopResult", "VariantInfo", "Results",
           "ApplyResult", "tool_schema"]

Number = int | float
Value = int | float | str  # a tunable's value: a number, or a type (`tune T = float, half`)
Seconds = Annotated[float, Meta(gt=0, le=86400)]
EnvName = Annotated[str, Meta(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)]
FilePath = Annotated[str, Meta(min_length=1, max_length=4096,
                               description="a kernel file, absolute or relative to the first root")]
KernelName = Annotated[str | None, Meta(description="the kernel's name; may be left out when the file has one kernel")]


class _Args(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    pass


class ListArgs(_Args):
    path: Annotated[str, Meta(description="a folder (searched recursively) or a file; default: the first root")] = ""


class KernelArgs(_Args):
    file: FilePath
    kernel: KernelName = None
    flags: Annotated[list[Annotated[str, Meta(max_length=4096)]], Meta(
        max_length=256, description="compiler flags for a file without a compile_commands.json entry, e.g. "
                                    "[\"-DENABLE_BF16\", \"-Iinclude\"] (include paths inside the roots; default: "
                                    "the kf.cuda.flags / kf.sycl.flags setting)")] = []


class DraftArgs(KernelArgs):
    write: Annotated[bool, Meta(description="insert the draft above the kernel (only when it has no spec)")] = False


class BenchArgs(KernelArgs):
    candidate_source: Annotated[Annotated[str, Meta(max_length=4_000_000)] | None, Meta(
        description="a candidate: the whole file, or only the kernel (its @kf lines and definition) to splice "
                    "over the original's; without @kf lines the original's spec is used")] = None
    tunables: Annotated[dict[str, Value], Meta(
        description="tunable values for the candidate; without candidate_source, the file itself with these "
                    "values is the candidate")] = {}
    seeds: Annotated[int, Meta(ge=1, le=20)] = 3
    time_budget: Annotated[float, Meta(gt=0, le=60, description="seconds of timing per kernel")] = 1.0
    timeout: Annotated[float, Meta(gt=0, le=600, description="a launch longer than this is a hang")] = 30.0


class LLMArgs(_Args):
    base_url: Annotated[str, Meta(min_length=1, max_length=2048, description="an OpenAI-compatible endpoint")]
    model: Annotated[str, Meta(min_length=1, max_length=256)]
    api_key_env: Annotated[EnvName, Meta(description="the environment variable of kf mcp holding the key "
                                                     "(never the key itself)")] = "OPENAI_API_KEY"


class OptimizeArgs(KernelArgs):
    budget: Annotated[int, Meta(ge=1, le=100000, description="evaluations")] | None = None
    time: Annotated[float, Meta(gt=0, le=86400, description="wall-time budget in seconds")] | None = None
    llm: LLMArgs | None = None
    tuning: Literal["auto", "exhaustive", "random", "bayes"] | None = None
    eval_seconds: Annotated[float, Meta(gt=0, le=60, description="timing per kernel per evaluation")] | None = None
    language: Annotated[Literal["cuda", "sycl"] | None, Meta(description=(
        "with a Python reference as `file` (ref.py, `kernel` its function; a KernelBench task.py with no kernel): "
        "the kernel language to write; a stub kernel file is drafted next to it and the LLM writes the first "
        "kernel"))] = None


class JobArgs(_Args):
    job_id: Annotated[str | None, Meta(description="a job id from optimize; none: every job")] = None
    wait_seconds: Annotated[float, Meta(ge=0, le=600, description=(
        "wait up to this long for the job to finish, with progress notifications when the request "
        "carries a progressToken"))] = 0.0


class StopArgs(_Args):
    job_id: Annotated[str, Meta(min_length=1, max_length=200)]


class ResultsArgs(KernelArgs):
    limit: Annotated[int, Meta(ge=1, le=50)] = 5


class ApplyArgs(KernelArgs):
    variant: Annotated[Annotated[str, Meta(max_length=200)] | None, Meta(
        description="a variant id or unique prefix (from results); default: the best")] = None
    file_sha256: Annotated[Annotated[str, Meta(max_length=64)] | None, Meta(
        description="refuse unless the file still has this sha256 (results gives it)")] = None


# -- results ------------------------------------------------------------------------------


class SearchInfo(msgspec.Struct, frozen=True):
    search_id: str
    status: str
    evaluations: int
    best_speedup: float | None
    applicable: bool  # measured against the kernel's code as it is now


class KernelInfo(msgspec.Struct, frozen=True):
    file: str
    kernel: str
    line: int  # 1-based line of the kernel's name
    language: str
    spec: Literal["ok", "missing", "error"]
    diagnostics: list[Diagnostic]  # spec errors and warnings (0-based positions, docs/results.md)
    tunables: dict[str, list[Value]]
    search: SearchInfo | None = None


class KernelList(msgspec.Struct, frozen=True):
    root: str
    kernels: list[KernelInfo]
    files: int  # kernel files read
    errors: list[str] = []  # files that could not be read or parsed


class DraftResult(msgspec.Struct, frozen=True):
    file: str
    kernel: str
    has_spec: bool
    draft: str  # the `// @kf` lines, to paste above the kernel
    line: int  # 1-based line they go above
    written: bool


class SpecCheck(msgspec.Struct, frozen=True):
    file: str
    kernel: str
    ok: bool  # a spec with no errors, and the original ran cleanly on it
    spec: Literal["ok", "missing", "error"]
    diagnostics: list[Diagnostic]
    verdict: Verdict | None = None  # of running the original alone (None: not run)
    message: str = ""
    checks: int = 0  # (problem size, seed) runs of the original
    sizes: list[dict[str, int]] = []  # the problem sizes checked


class BenchResult(msgspec.Struct, frozen=True):
    file: str
    kernel: str
    verdict: Verdict
    summary: str  # one line
    candidate: bool  # a candidate was judged against the original
    result: EvalResult  # timing samples left out (the medians and spread are kept)


class JobInfo(msgspec.Struct, frozen=True):
    job_id: str
    kind: str
    file: str
    kernel: str
    state: Literal["queued", "running", "done", "cancelled", "error"]
    done: int
    budget: int
    best_speedup: float | None
    message: str
    elapsed_seconds: float
    search_id: str | None = None


class OptimizeResult(msgspec.Struct, frozen=True):
    job: JobInfo
    already_running: bool
    database: str


class JobList(msgspec.Struct, frozen=True):
    jobs: list[JobInfo]


class StopResult(msgspec.Struct, frozen=True):
    job_id: str
    stopped: bool
    state: str


class VariantInfo(msgspec.Struct, frozen=True):
    id: str
    operator: str
    verdict: Verdict
    speedup: float | None
    speedup_low: float | None  # 95% confidence interval
    speedup_high: float | None
    significant: bool  # the whole interval above 1
    time_median: float | None  # seconds
    cell: list[int] | None
    cell_description: str
    tunables: dict[str, Value]
    is_current: bool  # the file already holds this variant
    diff: str  # unified diff from the file as it is to the file with the variant ("" when not applicable)


class Results(msgspec.Struct, frozen=True):
    file: str
    kernel: str
    file_sha256: str
    search_id: str | None
    status: str  # running / budget / time / exhausted / cancelled / error / none
    evaluations: int
    budget: int
    backend: str
    device: str
    applicable: bool  # the variants were measured against the kernel's code as it is now
    retimed: bool  # figures from the final re-timing on fresh inputs
    reference_time_median: float | None
    variants: list[VariantInfo]  # verified, significantly faster, best first


class ApplyResult(msgspec.Struct, frozen=True):
    file: str
    kernel: str
    applied: bool
    variant: str
    speedup: float | None
    speedup_low: float | None
    speedup_high: float | None
    backup: str  # FILE.kf-orig: the file before kf first changed it
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
