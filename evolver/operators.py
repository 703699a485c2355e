"""What a mutation operator is: given the search's state, propose new regions to evaluate.

Operators never compile or run anything: the engine evaluates what they propose through
the evaluation pool and feeds the results back. A proposal the operator already knows
is invalid (a reply with no code, a changed contract) comes back as a Rejection, which
the engine records as a failed candidate with its reason (data, not an exception).
"""

from __future__ import annotations

from typing import Protocol, Sequence

import msgspec

from backends.model import Unit, Verdict

from .records import OperatorName, Prompt, Variant


class Proposal(msgspec.Struct, frozen=True):
    region: str  # the whole kernel region (spec + code) to splice in
    tunables: dict[str, int | float | str]
    operator: OperatorName
    parent: str | None
    prompt: str | None = None
    note: str = ""  # why: "BLOCK=256", "llm: shared-memory tiling"


class Rejection(msgspec.Struct, frozen=True):
    operator: OperatorName
    parent: str | None
    reason: str  # one line for the user and for the next prompt's feedback
    prompt: str | None = None
    raw: str = ""  # what the LLM replied, truncated, for debugging
    verdict: Verdict = Verdict.REJECTED  # CONTRACT or SPEC_ERROR when that is what was wrong
    reply: bool = True  # False: no reply came (the endpoint could not be reached, or failed): nothing was rejected


class Context(msgspec.Struct, frozen=True):
    """A snapshot of the search for operators: plain data only."""

    reference: Unit  # the original kernel and its file
    reference_variant: Variant | None
    elites: list[Variant]  # current archive elites, best first
    parents: list[Variant]  # parents chosen for this generation
    recent_failures: list[Variant]  # latest failed candidates (for feedback)
    empty_cells: list[list[int]]  # cells next to the parents that are still empty
    good_moves: list[tuple[list[int], list[int], float]]  # (from cell, to cell, mean gain)
    axes: list[str]  # descriptor axis names, for prompts
    device: str  # "NVIDIA H100 80GB HBM3 (sm_90)", "sycl cpu: AMD EPYC"
    prompts: list[Prompt]
    generation: int
    # proposals that were already evaluated (or in flight), one line each with their outcome:
    # fed back so an operator that repeats itself is asked for something else
    already_tried: list[str] = []


class Operator(Protocol):
    name: OperatorName

    async def propose(self, context: Context, count: int) -> Sequence[Proposal | Rejection]: ...

    def observe(self, variant: Variant) -> None:
        """Called with every evaluated variant this operator proposed (for its own learning)."""

