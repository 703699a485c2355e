"""A real LLM round trip: the LLM operator against llama.cpp's OpenAI-compatible server
serving SmolLM2-135M (installed by `.ci/llm-setup`), on the SYCL saxpy example.

A 135M-parameter model cannot write correct kernels, so this checks the loop, not the
quality: the request is made, tokens are counted from the server's `usage`, extraction runs,
and every proposal comes back as a Rejection with a reason or as a candidate that the real
evaluator compiles and gives a verdict."""

from pathlib import Path

import pytest

from backends.model import EvalOptions, EvalRequest, Verdict
from backends.run.local_pool import EvalPool
from backends.kernel.splice import region_text
from backends.kernel.load import load_unit
from evolver.extract import ExtractFailure, validate
from evolver.llm import LLMClient
from evolver.llm_operator import LLMOperator
from evolver.operators import Context, Proposal, Rejection
from evolver.records import LLMConfig, Variant

import tiny_llm

OK, WHY = tiny_llm.available()
pytestmark = pytest.mark.skipif(not OK, reason=WHY)

ROOT = Path(__file__).resolve().parent.parent
SAXPY = str(ROOT / "examples" / "sycl" / "saxpy.cpp")


@pytest.fixture()
def server(tiny_llm_server):
    return tiny_llm_server  # one server for every test that uses it (tests/conftest.py)


class RecordingClient(LLMClient):
    """The real client, keeping the replies so the test can report them."""

    def __init__(self, config):
        super().__init__(config, seed=0)
        self.replies = []

    async def chat(self, messages, **kw):
        r = await super().chat(messages, **kw)
        self.replies.append(r)
        return r


@pytest.mark.asyncio
@pytest.mark.timeout(900)
async def test_operator_round_trip_with_a_real_tiny_llm(server):
    unit = load_unit(SAXPY)
    ref = Variant(id="ref", search="s", parent=None, operator="reference",
                  region=region_text(unit.text, unit.kernel), tunables={}, verdict=Verdict.CORRECT,
                  message="", speedup=1.0, cell=[0, 0, 0])
    ctx = Context(reference=unit, reference_variant=ref, elites=[ref], parents=[ref],
                  recent_failures=[], empty_cells=[[1, 0, 0]], good_moves=[],
                  axes=["memory_opt", "compute_opt", "parallelism_opt"], device="sycl cpu",
                  prompts=[], generation=0)
    # one attempt with a generous bound (a loaded 2-core machine reads the ~2,000-token prompt at
    # ~30 tokens/s: minutes), and a short reply (64 tokens prove the loop as well as 256)
    cfg = LLMConfig(base_url=server.url, model=server.model, temperature=0.0, max_tokens=64,
                    concurrency=1, timeout_s=540.0, retries=0, evolve_prompts=False)
    client = RecordingClient(cfg)
    op = LLMOperator(cfg, client, seed=0)
    try:
        out = await op.propose(ctx, 1)  # one round trip proves the loop (a second costs minutes on a loaded CPU)
    finally:
        await client.close()

    assert len(out) == 1 and client.calls == 1 and client.failures == 0
    assert op.tokens_used == client.tokens_used > 0
    for r in client.replies:
        assert not r.estimated and r.prompt_tokens > 500 and r.completion_tokens > 0  # real usage
        assert r.finish_reason in ("stop", "length")
    summary = []
    for item, r in zip(out, client.replies):
        assert isinstance(item, (Proposal, Rejection)) and item.operator == "llm"
        assert item.parent == "ref" and item.prompt == op.prompts()[0].id
        if isinstance(item, Rejection):
            assert item.reason and "\n" not in item.reason and item.raw == r.text[: len(item.raw)]
            summary.append(f"rejected: {item.reason}")
        else:
            cand = validate(item.region, unit)
            assert not isinstance(cand, ExtractFailure)
            with EvalPool("sycl") as pool:
                res = pool.evaluate_sync(EvalRequest(unit, cand, "sycl", options=EvalOptions(
                    seeds=1, target_seconds=0.1, min_trials=3, max_trials=10, timeout_s=30.0)))
            assert res.verdict in Verdict and res.message
            summary.append(f"evaluated: {res.verdict.value}: {res.message}")
    print(f"\ntiny LLM: {client.tokens_used} tokens "
          f"({client.prompt_tokens} prompt + {client.completion_tokens} completion)")
    for line, r in zip(summary, client.replies):
        print(f"  finish={r.finish_reason} {r.completion_tokens} tokens, {r.seconds:.1f}s -> {line}")
        print("  reply starts: " + " ".join(r.text.split())[:160])
