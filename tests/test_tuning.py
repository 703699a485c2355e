"""The tuning operator: strategies on synthetic spaces, tunables read from the parent's region."""

import asyncio
import math
import random

import pytest

from backends.model import EvalResult, Verdict
from backends.kernel.splice import region_text
from backends.kernel.load import load_unit
from evolver.operators import Context, Proposal
from evolver.records import Variant
from evolver.store import variant_id
from evolver.tuning import Space, TuningOperator, next_points

SAXPY = "examples/sycl/saxpy.cpp"
MATMUL = "examples/sycl/matmul.cpp"


def f(p):  # a separable landscape with one optimum at (64, 8, 3)
    return 3.0 - 0.3 * abs(math.log2(p[0] / 64)) - 0.2 * abs(math.log2(p[1] / 8)) - 0.1 * abs(p[2] - 3)


def space():
    return Space("r", ["A", "B", "C"], [[4, 8, 16, 32, 64, 128, 256], [1, 2, 4, 8, 16], [0, 1, 2, 3, 4, 5]],
                 (16, 2, 0), None)


def run(strategy, seed, budget=None):
    s, rng = space(), random.Random(seed)
    best = max(s.all_points(), key=f)
    n = 0
    while not s.exhausted and (budget is None or n < budget):
        batch = next_points(s, 4, strategy, rng)
        assert batch and len(set(batch)) == len(batch) and not any(s.seen(p) for p in batch)
        for p in batch:
            n += 1
            s.results[p] = f(p)
            if p == best:
                return n
    return n


@pytest.mark.parametrize("strategy", ["exhaustive", "random", "coordinate", "bayes"])
def test_every_strategy_covers_the_space_without_repeats(strategy):
    s, rng = space(), random.Random(0)
    seen = set()
    while not s.exhausted:
        batch = next_points(s, 5, strategy, rng)
        assert batch and not seen.intersection(batch)
        seen.update(batch)
        for p in batch:
            s.results[p] = None if p[2] == 5 else f(p)  # failures do not stop anything
    assert len(seen) == s.size == 7 * 5 * 6


def test_coordinate_search_beats_random_on_a_separable_space():
    coord = [run("coordinate", seed) for seed in range(10)]
    rand = [run("random", seed) for seed in range(10)]
    assert sum(coord) / 10 < 0.5 * sum(rand) / 10


def _context(unit, parent):
    return Context(reference=unit, reference_variant=parent, elites=[parent], parents=[parent],
                   recent_failures=[], empty_cells=[], good_moves=[], axes=[], device="cpu", prompts=[],
                   generation=1)


def _variant(unit, region, tunables, speedup=1.0, operator="reference"):
    return Variant(id=variant_id(region, tunables), search="s", parent=None, operator=operator, region=region,
                   tunables=tunables, verdict=Verdict.CORRECT, message="", speedup=speedup, speedup_low=speedup,
                   speedup_high=speedup, cell=[0, 0, 0], result=EvalResult(Verdict.CORRECT))


def test_operator_proposes_the_parents_space_exhaustively_when_it_fits():
    unit = load_unit(SAXPY)
    region = region_text(unit.text, unit.kernel)
    ref = _variant(unit, region, {"WG_SIZE": 64})
    op = TuningOperator("auto")
    op.set_remaining(10)
    op.observe(ref)
    got = asyncio.run(op.propose(_context(unit, ref), 8))
    assert all(isinstance(p, Proposal) and p.region == region and p.operator == "tune" for p in got)
    assert sorted(p.tunables["WG_SIZE"] for p in got) == [16, 256, 1024]  # 64 is the parent itself
    for p, s in zip(got, (0.7, 1.1, 1.5)):
        op.observe(_variant(unit, region, p.tunables, s, "tune"))
    assert asyncio.run(op.propose(_context(unit, ref), 8)) == [] and op.exhausted
    summary = op.summary()
    assert summary.startswith("WG_SIZE: ") and "best WG_SIZE=" in summary


def test_operator_reads_the_tunables_an_llm_variant_declares():
    unit = load_unit(SAXPY)
    region = region_text(unit.text, unit.kernel).replace("// @kf tune WG_SIZE = 16, 64, 256, 1024",
                                                         "// @kf tune WG_SIZE = 128, 512")
    llm = _variant(unit, region, {}, 1.2, "llm")
    op = TuningOperator("exhaustive")
    got = asyncio.run(op.propose(_context(unit, llm), 8))
    assert sorted(p.tunables["WG_SIZE"] for p in got) == [128, 512] and all(p.parent == llm.id for p in got)


def test_large_space_uses_coordinate_search_within_budget():
    unit = load_unit(MATMUL)
    region = region_text(unit.text, unit.kernel)
    ref = _variant(unit, region, {"WG_Y": 4, "WG_X": 16})
    op = TuningOperator("auto")
    op.set_remaining(6)  # 25 points do not fit
    got = asyncio.run(op.propose(_context(unit, ref), 4))
    assert len(got) == 4
    # one axis at a time around the parent: WG_X stays at 16 while WG_Y moves (nearest first)
    assert [p.tunables for p in got] == [{"WG_Y": y, "WG_X": 16} for y in (2, 8, 1, 16)]
