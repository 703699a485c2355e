"""The LLM mutation operator: asks a model for faster variants of the parents.

For each proposal: pick a prompt (softmax over prompt fitness with a usage bonus), build
the messages for one parent, call the model (concurrently, up to `LLMConfig.concurrency`),
extract the kernel region from the reply and validate it against the reference (spec
errors and contract changes are rejected here, before any compile). What comes back is a
Proposal for the engine to evaluate, or a Rejection with a one-line reason. Endpoint
errors (after the client's retries) and an exhausted token budget are Rejections too:
nothing but cancellation leaves `propose` as an exception.

`observe` feeds each evaluated child back into its prompt's fitness; every
`evolve_every` generations one prompt is edited by the model (meta-prompt evolution) and
the child joins the pool. `prompts()` hands the engine the Prompt records to store.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Sequence

from backends.model import Verdict
from backends.kernel.splice import region_text

from .extract import ExtractFailure, describe, extract_region, validate
from .llm import LLMClient, LLMError, TokenBudgetExceeded
from .operators import Context, Proposal, Rejection
from .prompts import PromptPool, STRATEGIES, build_messages, default_prompt, evolve_prompt, \
    failure_feedback, tuning_summary
from .records import Attempt, LLMConfig, OperatorName, Prompt, Variant

# what an extraction failure says about the reply, as the verdict it is stored with
_VERDICT_OF_KIND = {"contract": Verdict.CONTRACT, "spec_error": Verdict.SPEC_ERROR}

__all__ = ["LLMOperator"]

log = logging.getLogger("kf.llm")

RAW_LIMIT = 2000


def _raw(text: str) -> str:
    return text if len(text) <= RAW_LIMIT else text[:RAW_LIMIT] + f"... [{len(text) - RAW_LIMIT} more chars]"


class LLMOperator:
    name: OperatorName = "llm"

    def __init__(self, config: LLMConfig, client: LLMClient | None = None, seed: int = 0, *,
                 evolve_every: int = 3):
        self.config = config
        self._client = client
        self._owns_client = client is None
        self.seed = seed
        self._rng = random.Random(seed)
        self.pool = PromptPool(seed=seed)
        self.evolve_every = max(1, evolve_every)
        self._last_evolution: int | None = None
        self._speedups: dict[str, float] = {}  # variant id -> verified speedup (parents' baselines)
        self.evolutions: list[tuple[str, str, str | None]] = []  # (parent prompt, strategy, child or None)
        self.evolution_log: list[Attempt] = []  # every round and its outcome; the engine stores and drains it
        self.last_error: str | None = None

    # -- what the engine reads ----------------------------------------------------------

    @property
    def client(self) -> LLMClient | None:
        if self._client is None and self.config.base_url:
            self._client = LLMClient(self.config, seed=self.seed)
        return self._client

    @property
    def tokens_used(self) -> int:
        return self._client.tokens_used if self._client is not None else 0

    def prompts(self) -> list[Prompt]:
        """Every prompt of this search with its current uses and fitness (for storage)."""
        return self.pool.prompts()

    async def close(self) -> None:
        if self._client is not None and self._owns_client:
            await self._client.close()

    # -- the protocol -------------------------------------------------------------------

    async def propose(self, context: Context, count: int) -> Sequence[Proposal | Rejection]:
        if count <= 0:
            return []
        self._absorb(context)
        parents: list[Variant | None] = list(context.parents) or \
            ([context.reference_variant] if context.reference_variant is not None else [None])
        client = self.client
        if client is None:
            return [Rejection("llm", p.id if p else None,
                              "the LLM operator is off: no llm.base_url is configured")
                    for p in (parents[i % len(parents)] for i in range(count))]
        try:
            await self._maybe_evolve(context, client)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # evolution is optional: never lose a generation to it
            log.warning("prompt evolution failed: %s", e)
        known = list(context.elites) + list(context.recent_failures)
        jobs = []
        for i in range(count):
            parent = parents[i % len(parents)]
            prompt = self.pool.select()
            summary = tuning_summary(parent, known) if parent is not None else ""
            jobs.append(self._one(context, client, parent, prompt, summary))
        return list(await asyncio.gather(*jobs))

    def observe(self, variant: Variant) -> None:
        if variant.operator != "llm":
            return
        base = self._speedups.get(variant.parent or "", 1.0)
        improvement = None
        if variant.ok and variant.speedup is not None:
            improvement = variant.speedup - base
            self._speedups[variant.id] = variant.speedup
        self.pool.record_result(variant.prompt, variant.verdict.value, improvement)
        if not variant.ok:
            fb = failure_feedback([variant], limit=1)
            if fb:
                self.pool.note_failure(variant.prompt, fb[0])

    # -- internals ----------------------------------------------------------------------

    def _absorb(self, context: Context) -> None:
        for p in context.prompts:
            self.pool.add(p)
        if not len(self.pool):
            self.pool.add(default_prompt(context.reference.kernel.language))
        for v in [context.reference_variant, *context.elites, *context.parents]:
            if v is not None and v.ok and v.speedup is not None:
                self._speedups[v.id] = v.speedup
            elif v is not None and v.operator == "reference":
                self._speedups.setdefault(v.id, 1.0)

    async def _maybe_evolve(self, context: Context, client: LLMClient) -> Prompt | None:
        if not self.config.evolve_prompts or context.generation <= 0:
            return None
        if self._last_evolution is not None and \
                context.generation - self._last_evolution < self.evolve_every:
            return None
        if self._last_evolution is None and context.generation < self.evolve_every:
            return None
        used = [p for p in self.pool.prompts() if p.uses > 0]
        if not used:
            return None
        self._last_evolution = context.generation
        probs = self.pool.probabilities()
        ids = sorted(p.id for p in used)
        parent = self.pool.get(self._rng.choices(ids, weights=[probs[i] + 1e-9 for i in ids])[0])
        strategy = self._rng.choice(sorted(STRATEGIES))
        outcome = ""
        try:
            child = await evolve_prompt(client, parent, self.pool.feedback(parent.id),
                                        strategy=strategy, rng=self._rng)
            if child is None:
                outcome = "no change: the reply had no usable edit of the sections"
        except TokenBudgetExceeded as e:
            child, outcome = None, f"failed: {e}"
        except LLMError as e:
            log.warning("prompt evolution: %s", e)
            child, outcome = None, f"failed: {e}"
        if child is not None and child.id in self.pool:
            outcome = f"no change: the edit gave an existing prompt {child.id[:10]}"
            child = None
        if child is not None:
            outcome = f"new prompt {child.id[:10]}"
        self.evolutions.append((parent.id, strategy, child.id if child else None))
        self.evolution_log.append(Attempt(
            "prompt-evolution", "llm", f"prompt {parent.id[:10]} with {strategy} (generation {context.generation})",
            key=f"{parent.id}:{strategy}:{context.generation}", outcome=outcome))
        if child is not None:
            self.pool.add(child)
        return child

    async def _one(self, context: Context, client: LLMClient, parent: Variant | None,
                   prompt: Prompt, summary: str) -> Proposal | Rejection:
        pid = parent.id if parent is not None else None
        ref = context.reference

        def reject(reason: str, raw: str = "", kind: str = "") -> Rejection:
            self.pool.record_rejection(prompt.id, reason)
            verdict = _VERDICT_OF_KIND.get(kind, Verdict.REJECTED)
            return Rejection("llm", pid, reason, prompt=prompt.id, raw=_raw(raw), verdict=verdict)

        try:
            messages = build_messages(context, parent, prompt, summary)
            reply = await client.chat(messages)
        except asyncio.CancelledError:
            raise
        except TokenBudgetExceeded as e:
            self.last_error = str(e)
            return Rejection("llm", pid, str(e), prompt=prompt.id)
        except LLMError as e:  # no reply at all: neither the prompt's fault nor a rejected reply
            self.last_error = str(e)
            return Rejection("llm", pid, str(e), prompt=prompt.id, reply=False)
        except Exception as e:  # a bug here must not end the search
            log.exception("LLM operator")
            return reject(f"internal error in the LLM operator: {type(e).__name__}: {e}")
        try:
            region = extract_region(reply.text, ref.kernel, ref.kernel.language,
                                    file_text=ref.text, finish_reason=reply.finish_reason)
            if isinstance(region, ExtractFailure):
                return reject(region.reason, reply.text, region.kind)
            unit = validate(region, ref)
            if isinstance(unit, ExtractFailure):
                return reject(unit.reason, reply.text, unit.kind)
            base = parent.region if parent is not None and parent.region else \
                region_text(ref.text, ref.kernel)
            if region.strip() == base.strip():
                return reject("the reply repeats the parent's region unchanged", reply.text)
        except Exception as e:
            log.exception("LLM operator: extraction")
            return reject(f"internal error reading the reply: {type(e).__name__}: {e}", reply.text)
        idea = describe(reply.text)
        return Proposal(region=region, tunables={}, operator="llm", parent=pid, prompt=prompt.id,
                        note=f"llm: {idea}" if idea else "llm")
