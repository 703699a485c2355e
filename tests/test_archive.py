"""The archive's acceptance rule, parent selection and move memory (no device needed)."""

from backends.model import Verdict
from evolver.archive import Archive, accepts
from evolver.records import Variant


def v(id, speedup, low=None, high=None, cell=(0, 0), verdict=Verdict.CORRECT, parent=None):
    return Variant(id=id, search="s", parent=parent, operator="tune", region="r", tunables={},
                   verdict=verdict, message="", speedup=speedup,
                   speedup_low=speedup if low is None else low, speedup_high=speedup if high is None else high,
                   significant=(low or speedup) > 1.0, cell=list(cell) if cell is not None else None)


def test_empty_cell_takes_any_correct_variant():
    a = Archive([3, 3])
    d = a.consider(v("a", 0.8, 0.7, 0.9))
    assert d.accepted and d.previous is None and a.elite([0, 0]).id == "a"


def test_incumbent_is_replaced_only_when_significantly_faster():
    a = Archive([3, 3])
    a.consider(v("inc", 1.5, 1.4, 1.6))
    # faster point estimate but its interval reaches below the incumbent: noise, rejected
    d = a.consider(v("noisy", 1.6, 1.45, 1.8))
    assert not d.accepted and a.elite([0, 0]).id == "inc"
    d = a.consider(v("fast", 1.9, 1.6, 2.1))
    assert d.accepted and d.previous == "inc" and a.elite([0, 0]).id == "fast"
    ok, reason = accepts(v("x", 1.55, 1.51), a.elite([0, 0]))
    assert not ok and "not significantly" in reason


def test_failures_are_never_elites():
    a = Archive([2])
    for verdict in (Verdict.WRONG, Verdict.COMPILE_ERROR, Verdict.TIMEOUT):
        d = a.consider(v(verdict.value, 5.0, 4.0, cell=(0,), verdict=verdict))
        assert not d.accepted
    assert len(a) == 0 and a.best is None


def test_best_moves_only_on_significant_improvement():
    a = Archive([3])
    a.consider(v("ref", 1.0, 1.0, cell=(0,)))
    assert a.best.id == "ref"
    d = a.consider(v("b", 1.04, 0.98, cell=(1,)))  # a new cell, but not better than the best
    assert d.accepted and not d.best and a.best.id == "ref"
    d = a.consider(v("c", 1.3, 1.2, cell=(2,)))
    assert d.accepted and d.best and a.best.id == "c"
    assert [e.id for e in a.elites()] == ["c", "b", "ref"]


def test_parent_selection_and_exploration():
    a = Archive([4, 4], seed=1)
    a.consider(v("best", 2.0, 1.9, cell=(0, 0)))
    a.consider(v("mid", 1.5, 1.4, cell=(3, 3)))
    a.consider(v("low", 0.5, 0.4, cell=(1, 1)))
    parents = a.select_parents(200)
    counts = {k: sum(p.id == k for p in parents) for k in ("best", "mid", "low")}
    assert counts["best"] > counts["mid"] and counts["best"] > 100  # exploitation dominates
    assert counts["low"] > 0  # exploration / uniform still visit the rest
    empty = a.empty_neighbours([[0, 0]])
    assert sorted(empty) == [[0, 1], [1, 0]]


def test_good_moves_remember_improving_cell_changes():
    a = Archive([3, 3])
    parent = v("p", 1.0, 1.0, cell=(0, 0))
    a.consider(parent)
    a.consider(v("c1", 1.5, 1.4, cell=(1, 0), parent="p"), parent)
    a.consider(v("c2", 0.5, 0.4, cell=(0, 1), parent="p"), parent)
    moves = a.good_moves()
    assert moves == [([0, 0], [1, 0], 0.5)]


def test_rebuilding_from_the_same_variants_gives_the_same_archive():
    seq = [v("a", 1.0, 1.0, cell=(0, 0)), v("b", 1.2, 1.1, cell=(0, 0)), v("c", 1.25, 1.15, cell=(0, 0)),
           v("d", 0.9, 0.8, cell=(1, 2)), v("e", 3.0, 2.0, cell=(2, 2), verdict=Verdict.WRONG)]
    a1, a2 = Archive([3, 3]), Archive([3, 3])
    for x in seq:
        a1.consider(x)
    for x in seq:
        a2.consider(x)
    assert {c: e.id for c, e in a1.cells().items()} == {c: e.id for c, e in a2.cells().items()} \
        == {(0, 0): "b", (1, 2): "d"}


def test_best_history_counts_evaluations_and_only_significant_wins():
    from backends.model import EvalResult, Verdict
    from evolver.archive import best_history
    from evolver.records import Variant

    def v(op, verdict, speedup=None, significant=False, evaluated=True):
        return Variant(id=f"{op}{speedup}{verdict}", search="s", parent=None, operator=op, region="", tunables={},
                       verdict=verdict, message="", speedup=speedup, significant=significant,
                       result=EvalResult(verdict) if evaluated else None)

    history = best_history([
        v("reference", Verdict.CORRECT, 1.0),
        v("tune", Verdict.CORRECT, 1.5, significant=False),  # inside the noise: no move
        v("llm", Verdict.REJECTED, evaluated=False),  # never evaluated: not counted
        v("tune", Verdict.CORRECT, 1.8, significant=True),
        v("llm", Verdict.WRONG, 9.0),  # wrong kernels never count, however fast
        v("tune", Verdict.CORRECT, 1.2, significant=True),
    ])
    assert history == [{"evaluation": 0, "best": 1.0}, {"evaluation": 2, "best": 1.8}, {"evaluation": 4, "best": 1.8}]
