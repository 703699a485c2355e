"""The output checks that decide a candidate's verdict, on plain arrays."""

import numpy as np
import pytest

from backends.kernel import dtypes
from backends.model import Verdict
from backends.judge.verify import CANARY, GUARD_BYTES, compare_output, guard_intact, poison_mask


def poisoned(n, dtype="f32"):
    raw = np.frombuffer(dtypes.poison_pattern(dtype) * n, dtype=np.uint8).copy()
    return raw.view(dtypes.numpy_dtype(dtype))


def test_identical_outputs_pass():
    rng = np.random.default_rng(0)
    ref = rng.uniform(-1, 1, 1000).astype(np.float32)
    assert compare_output("y", "f32", ref, ref.copy(), 1e-4, 1e-4).ok


def test_reordering_noise_within_tolerance_passes():
    ref = np.linspace(1, 2, 100, dtype=np.float32)
    got = ref * np.float32(1 + 3e-5)
    check = compare_output("y", "f32", ref, got, 1e-4, 1e-4)
    assert check.ok and check.max_rel_err > 0


def test_small_error_is_wrong_with_first_mismatch():
    ref = np.linspace(-1, 1, 100, dtype=np.float32)
    got = ref.copy()
    got[37] += 0.01
    check = compare_output("y", "f32", ref, got, 1e-4, 1e-4)
    assert check.verdict is Verdict.WRONG
    assert check.mismatch_count == 1 and check.mismatches[0].index == 37
    assert "index 37" in check.message


def test_untouched_poison_is_unwritten_even_if_stale_data_would_match():
    ref = np.linspace(-1, 1, 64, dtype=np.float32)
    got = poisoned(64)
    got[:32] = ref[:32]
    check = compare_output("y", "f32", ref, got, 1e-4, 1e-4)
    assert check.verdict is Verdict.UNWRITTEN and check.mismatch_count == 32
    assert check.mismatches[0].index == 32


def test_elements_the_reference_leaves_unwritten_are_ignored():
    ref = poisoned(10)
    ref[:5] = 1.5
    got = np.full(10, 7.0, dtype=np.float32)
    got[:5] = 1.5
    assert compare_output("y", "f32", ref, got, 1e-4, 1e-4).ok


def test_zeros_for_tiny_outputs_fail_the_tolerance_scaled_to_them():
    ref = (np.linspace(-1, 1, 256) * 1e-6).astype(np.float32)  # all within an absolute 1e-4 of zero
    check = compare_output("y", "f32", ref, np.zeros(256, np.float32), 1e-4, 1e-4, scale_atol=True)
    assert check.verdict is Verdict.CONSTANT
    assert "the lower quartile of the expected magnitudes" in check.message and check.atol < 1e-9


def test_half_the_value_at_1e_6_is_wrong_and_a_rounding_at_1_is_not():
    ref = (np.linspace(0.5, 1.5, 256) * 1e-6).astype(np.float32)
    half = compare_output("y", "f32", ref, ref / 2, 1e-4, 1e-4, scale_atol=True)
    assert half.verdict is Verdict.WRONG, half.message
    ones = np.linspace(0.5, 1.5, 256).astype(np.float32)
    rounded = (ones.astype(np.float64) + 1e-7).astype(np.float32)
    assert compare_output("y", "f32", ones, rounded, 1e-4, 1e-4, scale_atol=True).ok


def test_small_outputs_beside_large_ones_keep_an_absolute_tolerance():
    """exp(8x) over [-1, 1): outputs from 3e-4 to 3e3, rms ~374. An atol of 1e-4 x that rms (0.037)
    let zeros pass for the quarter of the outputs below 0.02 (red team, issue 19). The scale is
    the lower quartile of the magnitudes (0.018 here): the small outputs are compared at their own
    scale."""
    x = np.linspace(-1, 1, 4096, endpoint=False).astype(np.float32)
    ref = np.exp(8 * x).astype(np.float32)
    dropped = np.where(ref < 0.02, np.float32(0), ref)
    check = compare_output("y", "f32", ref, dropped, 1e-4, 1e-4, scale_atol=True)
    assert check.verdict is Verdict.WRONG and check.atol < 1e-5, check.message
    assert "lower quartile" in check.message
    assert compare_output("y", "f32", ref, ref * np.float32(1 + 3e-5), 1e-4, 1e-4, scale_atol=True).ok


def test_constant_output_within_the_tolerance_passes():
    """sin^2 x + cos^2 x computed in float32 varies around 1 by a rounding; a kernel that
    returns 1.0f everywhere is right (issue 19.5)."""
    x = np.linspace(-3, 3, 1000).astype(np.float32)
    ref = (np.sin(x) ** 2 + np.cos(x) ** 2).astype(np.float32)
    assert not np.all(ref == ref[0])
    check = compare_output("y", "f32", ref, np.ones(1000, np.float32), 1e-4, 1e-4, scale_atol=True)
    assert check.ok and check.rule == "tolerance", check.message
    off = compare_output("y", "f32", ref, np.full(1000, 1.01, np.float32), 1e-4, 1e-4, scale_atol=True)
    assert off.verdict is Verdict.CONSTANT and "outside the tolerance" in off.message


def test_accuracy_rule_against_a_python_reference():
    exact = np.linspace(1, 2, 100)  # float64, as a Python reference returns
    sloppy = (exact + 0.01).astype(np.float32)  # the original: 1e-2 off everywhere
    better = (exact + 0.004).astype(np.float32)  # outside the tolerance, but more accurate
    worse = (exact + 0.03).astype(np.float32)
    kw = dict(scale_atol=True, written=np.ones(100, bool), original=sloppy)
    ok = compare_output("y", "f32", exact, better, 1e-4, 1e-4, **kw)
    assert ok.ok and ok.rule == "no worse than the original"
    assert ok.original_error == pytest.approx(0.01, rel=1e-3) and ok.max_abs_err == pytest.approx(0.004, rel=1e-2)
    bad = compare_output("y", "f32", exact, worse, 1e-4, 1e-4, **kw)
    assert bad.verdict is Verdict.WRONG and "the original's 0.01" in bad.message and "2 x" in bad.message


def test_nan_where_reference_is_finite_is_wrong():
    ref = np.ones(8, np.float32) * np.arange(8, dtype=np.float32)
    got = ref.copy()
    got[3] = np.float32("nan")  # a plain NaN, not the poison payload
    assert compare_output("y", "f32", ref, got, 1e-4, 1e-4).verdict is Verdict.WRONG


def test_nan_and_inf_where_the_reference_has_them_pass_beside_a_rounding_difference():
    """A reordered sum over inputs holding NaN and Inf (the special input values) gives NaN and
    Inf where the original does and differs by rounding elsewhere: correct. Red team (issue 19):
    the NaN elements failed the bound `atol + rtol * |NaN|`, so every candidate not bit for bit
    the original's was `wrong` on the special values (a more accurate reduction included)."""
    ref = np.linspace(1, 2, 16, dtype=np.float32)
    ref[3], ref[7], ref[9] = np.float32("nan"), np.float32("inf"), np.float32("-inf")
    got = ref * np.float32(1 + 3e-5)
    check = compare_output("y", "f32", ref, got, 1e-4, 1e-4)
    assert check.ok, check.message
    assert np.isfinite(check.max_rel_err)
    got[3] = 1.0  # a number where the reference has NaN is still a difference
    assert compare_output("y", "f32", ref, got, 1e-4, 1e-4).verdict is Verdict.WRONG
    got[3], got[7] = np.float32("nan"), np.float32("-inf")  # the other Inf: the bound atol + rtol*Inf took it
    assert compare_output("y", "f32", ref, got, 1e-4, 1e-4).verdict is Verdict.WRONG
    got[7] = 0.0  # and so it took any number where the reference has Inf
    assert compare_output("y", "f32", ref, got, 1e-4, 1e-4).verdict is Verdict.WRONG


def test_integers_are_exact():
    ref = np.arange(100, dtype=np.int32)
    got = ref.copy()
    got[99] += 1
    assert compare_output("c", "i32", ref, got, 0.0, 0.0).verdict is Verdict.WRONG
    assert poison_mask(poisoned(4, "i32"), "i32").all()


def test_guards_report_direction_and_extent():
    canary = np.frombuffer(CANARY * (GUARD_BYTES // 4), np.uint8).copy()
    assert guard_intact(canary, canary.copy())[0]
    back = canary.copy()
    back[:8] = 0
    ok, where = guard_intact(canary, back)
    assert not ok and "past the end" in where and "8 bytes" in where
    front = canary.copy()
    front[-4:] = 0
    ok, where = guard_intact(front, canary)
    assert not ok and "before the start" in where


# -- the findings of a black-box evaluation of issue 21 ------------------------------------------

def test_small_elements_of_a_wide_range_buffer_are_not_swamped_by_the_large_ones():
    """exp(12 x) spans ten orders of magnitude: scaled by the rms (about 2.4 absolute), every value
    below 1 could be 0 or 1. Scaled by the lower quartile of the magnitudes, both are wrong."""
    x = np.random.default_rng(1).uniform(-1, 1, 100_000)
    want = np.exp(12 * x)
    got = want.astype(np.float32)
    assert compare_output("y", "f32", want, got, 1e-4, 1e-4, scale_atol=True).ok
    for fill in (0.0, 1.0):
        bad = np.where(x < 0, np.float32(fill), got).astype(np.float32)
        check = compare_output("y", "f32", want, bad, 1e-4, 1e-4, scale_atol=True)
        assert check.verdict is Verdict.WRONG, check.message


def test_nan_needs_nan_and_an_infinity_the_same_infinity():
    want = np.array([1.0, np.nan, np.inf, -np.inf, 2.0])
    same = want.astype(np.float32)
    assert compare_output("y", "f32", want, same, 1e-4, 1e-4, scale_atol=True).ok
    for i, value in ((1, 0.0), (2, 3e38), (3, np.inf), (4, np.nan)):
        got = same.copy()
        got[i] = value
        check = compare_output("y", "f32", want, got, 1e-4, 1e-4, scale_atol=True)
        assert check.verdict is Verdict.WRONG and check.nonfinite_count == 1, (i, check.message)


def test_an_original_far_from_the_reference_is_a_disagreement_whatever_the_candidate():
    want = np.linspace(1, 2, 100)
    kw = dict(scale_atol=True, written=np.ones(100, bool))
    off_by_one = (want + 1).astype(np.float32)  # 1e4 x the tolerance: no rounding explains it
    check = compare_output("y", "f32", want, want.astype(np.float32), 1e-4, 1e-4, original=off_by_one, **kw)
    assert check.verdict is Verdict.REFERENCE_FAILED and not check.ok
    assert "more than the 100 x an imprecise original may err" in check.message
    overflow = want.astype(np.float32)
    overflow[3] = np.inf  # where the reference has a number
    check = compare_output("y", "f32", want, np.zeros(100, np.float32), 1e-4, 1e-4, original=overflow, **kw)
    assert check.verdict is Verdict.REFERENCE_FAILED and "NaN/Inf in one and not the other" in check.message
    # an imprecise original (1e-2 off: 45 x the tolerance) stays the yardstick
    sloppy = (want + 0.01).astype(np.float32)
    assert compare_output("y", "f32", want, sloppy, 1e-4, 1e-4, original=sloppy, **kw).ok


def test_integer_outputs_are_said_to_be_compared_exactly():
    want = np.array([0, 3, 70, 150])
    got = np.array([0, 3, 71, 150], dtype=np.int32)
    check = compare_output("c", "i32", want, got, 0.0, 0.0, False)
    assert check.verdict is Verdict.WRONG
    assert "compared exactly (an integer buffer)" in check.message and "e+307" not in check.message
    assert check.max_rel_err == pytest.approx(1 / 70)


def test_an_imprecise_sum_is_judged_at_the_size_of_such_sums_not_at_one_draws_cancellation():
    """One output, the sum of k = 1000 terms of rms ~0.58, which happened to cancel to 0.507
    for this draw. An original truncating every term to bf16 errs by ~20 tolerances at the
    sums' typical size (sqrt(k) x rms ~ 18) but by 219 at this draw's 0.507: it is imprecise,
    not wrong, whatever the draw. An original that drops a term is still beyond the limit."""
    rng = np.random.default_rng(7)
    x = rng.uniform(-1, 1, 1000)
    x[-1] += 0.507 - x.sum()  # this draw's sum
    want = np.array([x.sum()])
    truncated = np.array([(x.astype(np.float32).view(np.uint32) & 0xFFFF0000).view(np.float32).astype(np.float64).sum()],
                         np.float32)
    dropped = np.array([x[:-1].sum()], np.float32)
    rms = float(np.sqrt((x ** 2).mean()))
    kw = dict(scale_atol=True, extra_rtol=1e-6, extra_atol=1e-6 * 1000 ** 0.5 * rms, extra_why="rounding")
    got = want.astype(np.float32)
    assert abs(truncated[0] - want[0]) > 100 * 1e-4 * 0.507  # far beyond this draw's tolerance
    plain = compare_output("sum", "f32", want, got, 1e-4, 1e-4, original=truncated, **kw)
    assert plain.verdict is Verdict.REFERENCE_FAILED  # judged at the draw's 0.507 alone
    scaled = compare_output("sum", "f32", want, got, 1e-4, 1e-4, original=truncated, sum_scale=1000 ** 0.5 * rms, **kw)
    assert scaled.ok, scaled.message
    wrong = compare_output("sum", "f32", want, got, 1e-4, 1e-4, original=dropped, sum_scale=1000 ** 0.5 * rms, **kw)
    assert wrong.verdict is Verdict.REFERENCE_FAILED and "the typical size of such a sum" in wrong.message, wrong.message


@pytest.mark.parametrize("flaw", ["none", "one far element", "nan", "inf for a number", "wide original"])
def test_a_large_output_compared_in_pieces_is_judged_as_in_one_piece(monkeypatch, flaw):
    """Outputs over a million elements are measured piece by piece on threads (a 1.6 GB softmax
    output took seconds per comparison in float64 whole): every figure and verdict the same."""
    from backends.judge import verify

    monkeypatch.setattr(verify, "_CHUNK", 4096)  # pieces of 4096 elements: the same code, cheap to run
    rng = np.random.default_rng(3)
    n = verify._CHUNK * 2 + 1234  # three pieces, the last one short
    expected = rng.standard_normal(n).astype(np.float32)
    got = expected * np.float32(1 + 3e-6)
    original = expected * np.float32(1 - 2e-6)
    where = verify._CHUNK + 777  # in the second piece
    if flaw == "one far element":
        got[where] += 1.0
    elif flaw == "nan":
        got[where] = np.nan
    elif flaw == "inf for a number":
        got[n - 1] = np.inf
    elif flaw == "wide original":
        original[where] *= 1.5

    def judged():
        return verify.compare_output("y", "f32", expected.astype(np.float64), got, 1e-5, 1e-6, False,
                                     scale_atol=True, original=original, sum_scale=2.0)

    pieces = judged()
    monkeypatch.setattr(verify, "_CHUNK", n + 1)
    whole = judged()
    assert (pieces.ok, pieces.verdict, pieces.mismatch_count, pieces.max_abs_err, pieces.max_rel_err,
            pieces.excess, pieces.original_excess, pieces.message) == \
           (whole.ok, whole.verdict, whole.mismatch_count, whole.max_abs_err, whole.max_rel_err,
            whole.excess, whole.original_excess, whole.message)
    assert pieces.ok is (flaw == "none")
