"""Prompt building, prompt selection and meta-prompt evolution (through the test double)."""

import random
from pathlib import Path

import pytest

from backends.model import (CheckReport, Diagnostic, EvalResult, KernelMeasurement, Mismatch, Profile,
                            Timing, Verdict)
from backends.kernel.load import load_unit
from evolver.llm import LLMClient
from evolver.operators import Context
from evolver.prompts import (DEFAULT_SECTIONS, EVOLUTION_MARK, SECTIONS, STRATEGIES, PromptPool,
                             build_messages, default_prompt, evolve_prompt, failure_feedback,
                             parse_sections, prompt_id, tuning_summary)
from evolver.records import LLMConfig, Variant

from llm_double import GOOD_REGION, LLMDouble, reply

ROOT = Path(__file__).resolve().parent.parent
SAXPY = str(ROOT / "examples" / "sycl" / "saxpy.cpp")


def timing(median):
    return Timing(median=median, p10=median * 0.9, p90=median * 1.1, mean=median, stdev=0.0,
                  trials=20, samples=[median], method="host-clock")


def variant(id, region, *, operator="llm", parent="ref", verdict=Verdict.CORRECT, speedup=None,
            tunables=None, result=None, cell=None, prompt=None, message=""):
    return Variant(id=id, search="s", parent=parent, operator=operator, region=region,
                   tunables=tunables or {}, verdict=verdict, message=message, speedup=speedup,
                   cell=cell, prompt=prompt, result=result)


def make_context(unit, **kw):
    base = dict(reference=unit, reference_variant=None, elites=[], parents=[], recent_failures=[],
                empty_cells=[], good_moves=[], axes=["memory_opt", "compute_opt", "parallelism_opt"],
                device="sycl cpu: Test CPU (16 cores)", prompts=[], generation=1)
    base.update(kw)
    return Context(**base)


@pytest.fixture(scope="module")
def unit():
    return load_unit(SAXPY)


def failures():
    compile_err = EvalResult(Verdict.COMPILE_ERROR, "compile failed", diagnostics=[
        Diagnostic("saxpy.cpp", 27, 4, "error", "use of undeclared identifier 'undeclared_z'")])
    wrong = EvalResult(Verdict.WRONG, "outputs differ", checks=[CheckReport(
        sizes={"n": 4097}, seed=0, ok=False, buffer="out",
        mismatches=[Mismatch("out", 4096, 3.5, 0.0)], mismatch_count=1)])
    return [variant("f1", "x", verdict=Verdict.COMPILE_ERROR, result=compile_err),
            variant("f2", "x", verdict=Verdict.COMPILE_ERROR, result=compile_err),  # duplicate
            variant("f3", "x", verdict=Verdict.WRONG, result=wrong),
            variant("f4", "x", verdict=Verdict.CONTRACT,
                    message="parameter 5 'n' changed type: `int` -> `long`")]


def test_defaults_carry_real_knowledge():
    for lang in ("cuda", "sycl"):
        s = DEFAULT_SECTIONS[lang]
        assert set(s) == set(SECTIONS)
        text = "\n".join(s.values()).lower()
        for word in ("coalesc", "vector", "tiling", "register blocking", "occupancy", "bank conflict",
                     "unroll"):
            assert word in text, (lang, word)
    cuda, sycl = "\n".join(DEFAULT_SECTIONS["cuda"].values()), "\n".join(DEFAULT_SECTIONS["sycl"].values())
    assert "__shfl_down_sync" in cuda and "__syncthreads" in cuda
    assert "work_group_static" in sycl and "SYCL_EXT_ONEAPI_FUNCTION_PROPERTY" in sycl
    assert "dynamic local memory" in sycl.lower() and "reduce_over_group" in sycl
    p = default_prompt("sycl")
    assert p.id == prompt_id(p.sections) and p.parent is None


def test_messages_carry_everything(unit):
    prof = Profile(registers=32, spill_stores=0, spill_loads=0, bandwidth=2e10, peak_bandwidth=4e10,
                   bandwidth_fraction=0.5, bytes_moved=3 * 4 * (1 << 22), block_threads=64)
    res = EvalResult(Verdict.CORRECT, candidate=KernelMeasurement(timing(2.5e-4), prof))
    parent = Variant(id="abc123def456", search="s", parent="ref", operator="llm", region=GOOD_REGION,
                     tunables={"WG_SIZE": 256}, verdict=Verdict.CORRECT, message="", speedup=1.42,
                     speedup_low=1.3, speedup_high=1.5, cell=[1, 0, 0],
                     descriptors={"vector_loads": 0.0}, result=res)
    ctx = make_context(unit, parents=[parent], recent_failures=failures(),
                       empty_cells=[[2, 0, 0], [1, 0, 1]], good_moves=[([0, 0, 0], [1, 0, 0], 0.35)])
    tuned = [variant("t1", GOOD_REGION, tunables={"WG_SIZE": 64}, speedup=1.2),
             variant("t2", GOOD_REGION, tunables={"WG_SIZE": 256}, speedup=1.42)]
    summary = tuning_summary(parent, tuned)
    assert summary.splitlines() == ["WG_SIZE=256: 1.42x", "WG_SIZE=64: 1.20x"]
    msgs = build_messages(ctx, parent, default_prompt("sycl"), summary)
    assert [m["role"] for m in msgs] == ["system", "user"]
    system, user = msgs[0]["content"], msgs[1]["content"]
    assert "work_group_static" in system and "## Pitfalls" in system
    # reference region with its spec, and the parent's region
    assert "// @kf global roundup(n, WG_SIZE)" in user and "void saxpy(" in user
    assert "roundup(cdiv(n, 2), WG_SIZE)" in user
    # the parent's profile
    for s in ("1.42x", "250.0 us", "50% of measured peak", "32 registers", "no spills",
              "memory_opt=1", "WG_SIZE=256"):
        assert s in user, s
    assert "- WG_SIZE=64: 1.20x" in user
    # empty cells, good moves, failures (deduplicated), device, contract, instructions
    assert "memory_opt 1->2" in user and "parallelism_opt 0->1" in user
    assert "memory_opt 0->1: +0.35" in user
    assert user.count("undeclared_z") == 1
    assert "out[4096] = 0, expected 3.5" in user and "contract_violation: parameter 5" in user
    assert "sycl cpu: Test CPU" in user
    assert "buffer out: out f32[n]" in user
    assert "WHOLE kernel region" in user and "@kf tune" in user and "```cpp" in user


def test_messages_for_the_reference(unit):
    msgs = build_messages(make_context(unit), None, default_prompt("sycl"), "")
    user = msgs[1]["content"]
    assert "is the original kernel itself" in user and user.count("void saxpy(") == 1


def test_failure_feedback_is_short_and_deduplicated():
    fb = failure_feedback(failures() * 3, limit=6, width=60)
    assert len(fb) == 3 and all(len(x) <= 60 for x in fb)


def test_pool_softmax_with_usage_bonus_is_deterministic():
    a = default_prompt("sycl")
    b = a.__class__(id="pb", parent=a.id, sections=dict(a.sections, philosophy="other text here ok"))

    def picks(seed):
        pool = PromptPool([a, b], seed=seed)
        pool.record_result(b.id, "correct", 0.8)
        return [pool.select().id for _ in range(40)], pool

    one, pool = picks(3)
    assert one == picks(3)[0]  # same seed, same choices
    assert one.count("pb") > one.count(a.id) > 0  # fitness wins, the bonus keeps exploring
    assert pool.get("pb").fitness == 0.8 and pool.get("pb").uses == one.count("pb")
    pool.record_result(b.id, "correct", 0.1)  # fitness keeps the best
    pool.record_result(b.id, "wrong", None)
    assert pool.get("pb").fitness == 0.8
    assert "Outcomes: correct 2, wrong 1" in pool.feedback("pb")


def test_parse_sections_rejects_garbage():
    p = default_prompt("cuda")
    assert parse_sections("no tags at all", p) is None
    assert parse_sections("<philosophy>short</philosophy>", p) is None
    assert parse_sections("<philosophy>" + "x" * 9000 + "</philosophy>", p) is None
    same = "".join(f"<{n}>{p.sections[n]}</{n}>" for n in SECTIONS)
    assert parse_sections(same, p) is None  # nothing changed
    s = parse_sections("<pitfalls>Always check the bounds of every access.</pitfalls>", p)
    assert s["pitfalls"].startswith("Always") and s["philosophy"] == p.sections["philosophy"]


@pytest.mark.asyncio
async def test_evolve_prompt_through_the_double():
    parent = default_prompt("sycl")
    with LLMDouble() as llm:
        async with LLMClient(LLMConfig(base_url=llm.url, model="double")) as client:
            child = await evolve_prompt(client, parent, "3 proposals, 1 correct",
                                        rng=random.Random(1), created=5.0)
            llm.prompt_edit = lambda body: reply("I like these prompts as they are.")
            kept = await evolve_prompt(client, parent, "", strategy="SIMPLIFY")
    assert child is not None and child.parent == parent.id and child.id != parent.id
    assert child.created == 5.0 and child.id == prompt_id(child.sections)
    assert all("(edited by the double)" in child.sections[n] for n in SECTIONS)
    req = llm.requests[0]["messages"]
    assert EVOLUTION_MARK in req[0]["content"]
    assert any(f"Strategy: {s}." in req[1]["content"] for s in STRATEGIES)
    assert "3 proposals, 1 correct" in req[1]["content"]
    assert "<strategies>" in req[1]["content"] and "work_group_static" in req[1]["content"]
    assert kept is None  # garbage keeps the parent
