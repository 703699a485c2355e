"""The search's plain data: variants, prompts, events, configuration (msgspec Structs).

These cross from the engine to its consumers (the command line, the language server)
and into the database; none of them holds live objects.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from backends.model import EvalResult, Verdict

OperatorName = Literal["reference", "tune", "llm"]


class Block(msgspec.Struct, frozen=True):
    """One independent measurement of a variant against the reference: its own evaluation
    (new inputs, its own place in the order of evaluations)."""

    stage: str  # "search" (the first evaluation), "confirm" (its second look), "final" (re-time block)
    speedup: float
    low: float
    high: float
    reference_median: float | None = None  # seconds, the reference in this same evaluation
    candidate_median: float | None = None


class Variant(msgspec.Struct, frozen=True):
    """One evaluated version of the kernel's region."""

    id: str  # sha256 of (region text, sorted tunables): identical source is evaluated once
    search: str  # the search (kernel) this belongs to: SearchKey.id
    parent: str | None
    operator: OperatorName
    region: str  # the variant's region text (spec + code), spliceable into the user's file
    tunables: dict[str, int | float | str]  # a str is a type (`tune T = float, half`)
    verdict: Verdict
    message: str
    speedup: float | None = None  # verified, vs the reference, on fresh inputs
    speedup_low: float | None = None
    speedup_high: float | None = None
    significant: bool = False
    time_median: float | None = None  # seconds
    cell: list[int] | None = None  # archive cell (descriptor levels); None for failures
    descriptors: dict[str, float] = {}  # raw features the cell came from
    prompt: str | None = None  # id of the prompt that produced it (llm)
    generation: int = 0
    created: float = 0.0  # unix time
    result: EvalResult | None = None  # the whole evaluation, for hovers and reports
    # every independent measurement behind speedup / low / high (docs/search.md "claims"):
    # with two or more, speedup is their median and [low, high] spans every block's interval
    blocks: list[Block] = []
    confirmed: bool = False  # its advantage held on an independent second measurement
    count: int = 1  # a rejection: how many times this same reply came back (stored once)

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.CORRECT


class SearchKey(msgspec.Struct, frozen=True):
    """What a search optimizes: a kernel in a file, as it was when the search started."""

    id: str  # sha256 of (path, kernel name, reference region hash, backend, device name)
    path: str
    kernel: str
    reference_hash: str  # KernelSource.code_hash of the reference
    backend: str
    device: str


class Prompt(msgspec.Struct, frozen=True):
    """An instruction for the LLM operator, co-evolved with the kernels."""

    id: str
    parent: str | None
    sections: dict[str, str]  # e.g. philosophy, strategies, pitfalls, analysis
    created: float = 0.0
    uses: int = 0
    fitness: float = 0.0  # best speedup improvement its children made (>= 0)


class LLMConfig(msgspec.Struct, frozen=True):
    base_url: str | None = None  # None: the operator is off
    model: str = ""
    api_key_env: str = "OPENAI_API_KEY"  # the key itself is read from the environment, never stored
    temperature: float = 0.7
    max_tokens: int = 4096
    concurrency: int = 2
    timeout_s: float = 120.0
    retries: int = 3
    token_budget: int | None = None  # total prompt + completion tokens for the run
    evolve_prompts: bool = True


class Budget(msgspec.Struct, frozen=True):
    evaluations: int = 64
    wall_seconds: float | None = None
    tokens: int | None = None
    patience: int | None = None  # stop after this many generations with no new best


class SearchConfig(msgspec.Struct, frozen=True):
    budget: Budget = Budget()
    tuning: Literal["auto", "exhaustive", "random", "bayes"] = "auto"
    llm: LLMConfig = LLMConfig()
    batch: int = 4  # proposals per generation
    exploit: float = 0.7  # parent selection: best cells
    explore: float = 0.2  # empty / rarely tried neighbours (the rest: uniform)
    seed: int = 0
    eval_seconds: float = 0.5  # timing budget per kernel per evaluation
    # claims (docs/search.md): a figure that makes a variant best, an elite over an incumbent
    # or its prompt's fitness is confirmed by a second evaluation first
    confirm: bool = True
    final_blocks: int = 3  # interleaved re-time blocks behind the final claim
    min_effect: float | None = None  # below this "faster" is not claimed; None: from the measured noise
    ask_again: int = 3  # generations of only known proposals (fed back) before "exhausted"


# -- events the engine emits (the command line and the language server consume them) ----


class EvaluationDone(msgspec.Struct, frozen=True, tag="evaluation"):
    variant: Variant
    done: int  # evaluations so far
    budget: int


class NewElite(msgspec.Struct, frozen=True, tag="elite"):
    variant: Variant
    cell: list[int]
    previous: str | None  # the variant it replaced
    best: bool  # the best overall now


class SearchError(msgspec.Struct, frozen=True, tag="error"):
    message: str
    file: str | None = None
    line: int | None = None  # 0-based


class Progress(msgspec.Struct, frozen=True, tag="progress"):
    done: int
    budget: int
    best_speedup: float | None
    message: str


class Finished(msgspec.Struct, frozen=True, tag="finished"):
    reason: str  # "budget" / "time" / "tokens" / "patience" / "cancelled" / "exhausted" / "error"
    best: Variant | None
    evaluations: int
    min_effect: float | None = None  # the smallest speedup claimed as "faster" (1 + this)
    note: str = ""  # e.g. why nothing is claimed: "1.01x is within the noise (min effect 3%)"


class Attempt(msgspec.Struct, frozen=True):
    """Something the search did that is not an evaluation, recorded with a count: a proposal
    that was already known, a prompt-evolution round and its outcome."""

    kind: str  # "known" (already evaluated / in flight / twice in a batch), "prompt-evolution"
    operator: str
    detail: str  # one line: the tunables or idea proposed; "parent -> child (STRATEGY)"
    key: str = ""  # what identifies it (variant id, evolution outcome): repeats bump `count`
    count: int = 1
    outcome: str = ""  # prompt evolution: "new prompt P", "no change", "failed: ..."


Event = EvaluationDone | NewElite | SearchError | Progress | Finished
