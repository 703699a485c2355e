"""The LLM operator end to end against the scripted test double, and its proposals through the
real SYCL evaluator (CPU): a good reply becomes a CORRECT variant, a broken one a COMPILE_ERROR."""

import asyncio
from pathlib import Path

import msgspec
import pytest

from backends.model import EvalOptions, EvalRequest, EvalResult, KernelMeasurement, Verdict
from backends.run.local_pool import EvalPool
from backends.kernel.splice import region_text
from backends.kernel.load import load_unit
from evolver.extract import validate
from evolver.llm import LLMClient
from evolver.llm_operator import LLMOperator
from evolver.operators import Context, Proposal, Rejection
from evolver.prompts import EVOLUTION_MARK, default_prompt
from evolver.records import LLMConfig, Variant

from llm_double import (GOOD_REGION, LLMDouble, broken_variant, contract_variant, good_variant,
                        prose_wrapped, reply, slow, status, together, truncated)

pytestmark = pytest.mark.asyncio

ROOT = Path(__file__).resolve().parent.parent
SAXPY = str(ROOT / "examples" / "sycl" / "saxpy.cpp")


@pytest.fixture(scope="module")
def unit():
    return load_unit(SAXPY)


def reference_variant(unit):
    return Variant(id="ref", search="s", parent=None, operator="reference",
                   region=region_text(unit.text, unit.kernel), tunables={}, verdict=Verdict.CORRECT,
                   message="", speedup=1.0, cell=[0, 0, 0])


def context(unit, generation=0, **kw):
    ref = reference_variant(unit)
    base = dict(reference=unit, reference_variant=ref, elites=[ref], parents=[ref], recent_failures=[],
                empty_cells=[[1, 0, 0]], good_moves=[], axes=["memory_opt", "compute_opt", "parallelism_opt"],
                device="sycl cpu: test", prompts=[], generation=generation)
    base.update(kw)
    return Context(**base)


def config(url, **kw):
    base = dict(base_url=url, model="double", timeout_s=5.0, retries=2, concurrency=2)
    base.update(kw)
    return LLMConfig(**base)


def client(cfg):
    async def no_sleep(_):
        pass
    return LLMClient(cfg, sleep=no_sleep, seed=0)


def child_of(p: Proposal, id: str, verdict=Verdict.CORRECT, speedup=None) -> Variant:
    return Variant(id=id, search="s", parent=p.parent, operator="llm", region=p.region, tunables={},
                   verdict=verdict, message="", speedup=speedup, prompt=p.prompt)


async def test_one_proposal_per_scripted_reply(unit):
    script = [good_variant(), broken_variant(), contract_variant(), prose_wrapped(), truncated(),
              reply("Sorry, I can't do that.")]
    with LLMDouble(script) as llm:
        cfg = config(llm.url, concurrency=1)
        op = LLMOperator(cfg, client(cfg), seed=0)
        out = await op.propose(context(unit), 6)
    assert [type(x).__name__ for x in out] == ["Proposal", "Proposal", "Rejection", "Proposal",
                                                "Rejection", "Rejection"]
    good, broken, contract, prose, trunc, nothing = out
    assert good.region == GOOD_REGION and good.operator == "llm" and good.parent == "ref"
    assert good.tunables == {} and good.prompt == default_prompt("sycl").id
    assert good.note == "llm: two elements per work-item halve the launch overhead."
    assert "undeclared_z" in broken.region  # only the compiler can reject it
    assert "changes the contract" in contract.reason and "parameter 5 'n'" in contract.reason
    assert contract.raw.startswith("Idea: use a 64-bit size") and contract.prompt == good.prompt
    assert prose.region == GOOD_REGION
    assert trunc.reason.startswith("reply truncated")
    assert "no code block" in nothing.reason
    assert op.tokens_used > 0 and len(llm.requests) == 6
    # what the model was told
    user = llm.requests[0]["messages"][1]["content"]
    assert "void saxpy(" in user and "sycl cpu: test" in user and "memory_opt 0->1" in user


async def test_endpoint_errors_become_rejections(unit):
    script = [status(500), status(500), status(500), status(401, "bad key")]
    with LLMDouble(script) as llm:
        cfg = config(llm.url, concurrency=1, retries=2)
        op = LLMOperator(cfg, client(cfg))
        out = await op.propose(context(unit), 2)
    assert all(isinstance(x, Rejection) for x in out)
    assert "HTTP 500" in out[0].reason and "gave up after 3 attempts" in out[0].reason
    assert "HTTP 401" in out[1].reason and "refused the API key" in out[1].reason


async def test_429_then_success_and_timeouts(unit):
    # the slow replies never come while the test runs; the good one has seconds to spare on a
    # loaded machine
    script = [status(429, retry_after="0"), good_variant(), slow(600), slow(600)]
    with LLMDouble(script) as llm:
        cfg = config(llm.url, concurrency=1, retries=1, timeout_s=3.0)
        op = LLMOperator(cfg, client(cfg))
        out = await op.propose(context(unit), 2)
    assert isinstance(out[0], Proposal)
    assert isinstance(out[1], Rejection) and "did not answer within 3s" in out[1].reason


async def test_token_budget_rejects_without_calling(unit):
    with LLMDouble() as llm:
        cfg = config(llm.url, token_budget=100)
        op = LLMOperator(cfg, client(cfg))
        out = await op.propose(context(unit), 2)
    assert all(isinstance(x, Rejection) and "token budget" in x.reason for x in out)
    assert llm.requests == []


async def test_off_without_base_url(unit):
    out = await LLMOperator(LLMConfig()).propose(context(unit), 1)
    assert isinstance(out[0], Rejection) and "base_url" in out[0].reason


async def test_concurrent_calls(unit):
    # each reply waits until four requests are open at once (an event, not a duration: a loaded
    # machine makes every request slower, not fewer at a time)
    with LLMDouble(default=together(4)) as llm:
        cfg = config(llm.url, concurrency=4, timeout_s=300.0)
        op = LLMOperator(cfg, client(cfg))
        out = await op.propose(context(unit), 4)
        assert all(isinstance(x, Proposal) for x in out) and llm.max_in_flight == 4


async def test_cancellation_propagates(unit):
    with LLMDouble(default=slow(600)) as llm:  # never answers first (3 s did after a 2.8 s stall)
        cfg = config(llm.url)
        op = LLMOperator(cfg, client(cfg))
        task = asyncio.ensure_future(op.propose(context(unit), 2))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_fitness_and_meta_prompt_evolution_are_deterministic(unit):
    async def run(seed):
        with LLMDouble() as llm:
            cfg = config(llm.url)
            op = LLMOperator(cfg, client(cfg), seed=seed, evolve_every=2)
            seen = []
            for gen in range(5):
                out = await op.propose(context(unit, generation=gen), 2)
                for i, p in enumerate(out):
                    assert isinstance(p, Proposal)
                    v = child_of(p, f"g{gen}-{i}", speedup=1.0 + 0.1 * gen + 0.05 * i)
                    op.observe(v)
                    seen.append(p.prompt)
            edits = llm.prompt_edit_requests
            return op, seen, edits, len(llm.chat_requests)

    op, seen, edits, chats = await run(7)
    assert chats == 10
    assert len(edits) == 2  # generations 2 and 4
    assert EVOLUTION_MARK in edits[0]["messages"][0]["content"]
    assert "Best speedup improvement over a parent: +0.15" in edits[0]["messages"][1]["content"]
    prompts = op.prompts()
    assert len(prompts) == 3
    root = default_prompt("sycl")
    children = [p for p in prompts if p.parent is not None]
    assert {p.parent for p in children} <= {p.id for p in prompts}  # lineage
    assert any(p.parent == root.id for p in children)
    assert all("(edited by the double)" in p.sections["strategies"] for p in children)
    best = max(prompts, key=lambda p: p.fitness)
    assert best.fitness == pytest.approx(0.45)  # g4-1: 1.45x over the 1.0x reference
    assert sum(p.uses for p in prompts) == 10
    assert all(s in {p.id for p in prompts} for s in seen)
    assert [e[1] for e in op.evolutions] and op.evolutions == (await run(7))[0].evolutions
    assert seen == (await run(7))[1]  # same seed, same prompt choices
    # the prompts survive a restart through the context (as the engine stores them)
    with LLMDouble() as llm:
        cfg = config(llm.url)
        again = LLMOperator(cfg, client(cfg))
        await again.propose(context(unit, prompts=prompts), 1)
        assert {p.id for p in again.prompts()} == {p.id for p in prompts}


async def test_garbage_prompt_edit_keeps_the_parent(unit):
    with LLMDouble(prompt_edit=lambda body: reply("no sections here")) as llm:
        cfg = config(llm.url)
        op = LLMOperator(cfg, client(cfg), evolve_every=1)
        await op.propose(context(unit, generation=0), 1)
        await op.propose(context(unit, generation=1), 1)
    assert len(llm.prompt_edit_requests) == 1 and len(op.prompts()) == 1
    assert op.evolutions[0][2] is None


# -- through the real evaluator -------------------------------------------------------------

TINY = EvalOptions(seeds=1, target_seconds=0.1, min_trials=3, max_trials=20, warmup_seconds=0.02,
                   timeout_s=30.0)


async def test_proposals_through_the_real_sycl_evaluator(unit):
    with LLMDouble([good_variant(), broken_variant()]) as llm:
        cfg = config(llm.url, concurrency=1)
        op = LLMOperator(cfg, client(cfg))
        good, broken = await op.propose(context(unit), 2)
    assert isinstance(good, Proposal) and isinstance(broken, Proposal)
    with EvalPool("sycl") as pool:
        results = {}
        for name, p in (("good", good), ("broken", broken)):
            cand = validate(p.region, unit)
            results[name] = await pool.evaluate(EvalRequest(unit, cand, "sycl", options=TINY))
    assert results["good"].verdict is Verdict.CORRECT, results["good"].message
    assert all(c.ok for c in results["good"].checks) and results["good"].speedup
    assert results["broken"].verdict is Verdict.COMPILE_ERROR, results["broken"].message
    d = results["broken"].diagnostics[0]
    assert "undeclared_z" in d.message and d.file == unit.path
    # feeding the results back moves the prompt's fitness
    op.observe(Variant(id="v1", search="s", parent="ref", operator="llm", region=good.region,
                       tunables={}, verdict=Verdict.CORRECT, message="", prompt=good.prompt,
                       speedup=results["good"].speedup, result=results["good"]))
    op.observe(Variant(id="v2", search="s", parent="ref", operator="llm", region=broken.region,
                       tunables={}, verdict=Verdict.COMPILE_ERROR, message="", prompt=broken.prompt,
                       result=results["broken"]))
    p = op.prompts()[0]
    assert p.fitness == pytest.approx(max(0.0, results["good"].speedup - 1.0))
    assert "compile_error 1" in op.pool.feedback(p.id) and "undeclared_z" in op.pool.feedback(p.id)
