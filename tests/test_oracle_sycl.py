"""Issue 21 on the real SYCL runtime (CPU device): the oracle. Python references, tolerances
that fit the outputs, verdicts by accuracy, and a nondeterministic original whose tolerance
does not depend on how much a few of its runs happened to vary. The kernels are in
tests/kernels/oracle and examples/reference."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from backends.kernel.load import load_unit
from backends.model import EvalOptions, EvalRequest, Verdict
from backends.run.local_pool import EvalPool

from evalcases import EXAMPLES, FAST, KERNELS

ORACLE = KERNELS / "oracle"
REF = EXAMPLES / "reference"
CHECK = EvalOptions(seeds=2, time=False, profile=False, timeout_s=20.0)


@pytest.fixture(scope="module")
def pool():
    with EvalPool("sycl", [0]) as p:
        yield p


def evaluate(pool, reference: Path | str, candidate: Path | str | None = None, options: EvalOptions = CHECK):
    ref = load_unit(str(reference))
    cand = load_unit(str(candidate)) if candidate else None
    return pool.evaluate_sync(EvalRequest(ref, cand, "sycl", 0, options, nonce=time.time_ns() & 0xFFFF))


def without_reference(tmp_path: Path, source: Path) -> Path:
    out = tmp_path / source.name
    out.write_text("\n".join(ln for ln in source.read_text().splitlines() if "@kf reference" not in ln) + "\n")
    return out


# -- 3. tolerances that fit the output ------------------------------------------------------

def test_half_the_value_of_tiny_outputs_is_wrong(pool):
    r = evaluate(pool, ORACLE / "tiny.cpp", ORACLE / "tiny_half.cpp")
    assert r.verdict is Verdict.WRONG, r.message
    assert "the rms of the expected values" in r.message  # the verdict shows the tolerance it used
    bad = r.checks[-1]
    assert bad.atol is not None and bad.atol < 1e-9 and bad.rtol == pytest.approx(1e-4)


def test_softmax_over_50000_columns_is_checked_at_its_scale(pool, tmp_path):
    """Outputs near 2e-5: half of them passed a fixed atol of 1e-4; with or without a reference."""
    half = tmp_path / "half.cpp"
    half.write_text((REF / "softmax.cpp").read_text().replace("/ s;", "/ s * 0.5f;"))
    with_ref = evaluate(pool, REF / "softmax.cpp", half)
    assert with_ref.verdict is Verdict.WRONG, with_ref.message
    assert with_ref.checks[-1].oracle == "python reference"
    (tmp_path / "plain").mkdir()
    plain = without_reference(tmp_path / "plain", REF / "softmax.cpp")
    plain_half = tmp_path / "plain" / "half.cpp"
    plain_half.write_text(plain.read_text().replace("/ s;", "/ s * 0.5f;"))
    alone = evaluate(pool, plain, plain_half)
    assert alone.verdict is Verdict.WRONG, alone.message
    assert alone.checks[-1].oracle == "original"


def test_constant_output_within_the_tolerance_is_accepted(pool):
    """sin^2 x + cos^2 x returned as 1.0f was `constant_output` "from 1 to 1" (issue 19.5)."""
    one = evaluate(pool, ORACLE / "trig.cpp", ORACLE / "trig_one.cpp")
    assert one.verdict is Verdict.CORRECT, one.message
    off = evaluate(pool, ORACLE / "trig.cpp", ORACLE / "trig_off.cpp")
    assert off.verdict is Verdict.CONSTANT, off.message
    assert "outside the tolerance" in off.message


# -- 2. verdicts by accuracy ----------------------------------------------------------------

def test_more_accurate_than_the_original_is_never_rejected_for_differing_from_it(pool, tmp_path):
    original = ORACLE / "sum_truncated.cpp"
    exact = evaluate(pool, original, ORACLE / "sum_exact.cpp")
    assert exact.verdict is Verdict.CORRECT, exact.message
    assert "judged against the Python reference" in exact.message
    default = exact.checks[0]
    assert default.oracle == "python reference" and default.rule == "tolerance"
    assert default.original_error > 0.05 and default.max_abs_err < default.original_error / 10
    # without the reference, the same candidate is judged against the original's error: rejected
    plain = without_reference(tmp_path, original)
    (tmp_path / "exact.cpp").write_text((ORACLE / "sum_exact.cpp").read_text().replace(
        "// @kf reference ../../../examples/reference/ref.py:total\n", ""))
    assert evaluate(pool, plain, tmp_path / "exact.cpp").verdict is Verdict.WRONG


def test_as_accurate_as_the_original_passes_by_the_accuracy_rule_and_says_so(pool):
    r = evaluate(pool, ORACLE / "sum_truncated.cpp", ORACLE / "sum_truncated_reversed.cpp")
    assert r.verdict is Verdict.CORRECT, r.message
    assert "no worse than the original" in r.message and "the original's" in r.message
    assert any(c.rule == "no worse than the original" for c in r.checks)


def test_less_accurate_than_the_original_is_wrong_and_the_verdict_states_both_errors(pool):
    r = evaluate(pool, ORACLE / "sum_truncated.cpp", ORACLE / "sum_coarse.cpp")
    assert r.verdict is Verdict.WRONG, r.message
    assert "against the Python reference, the original's" in r.message and "2 x the original's error" in r.message
    bad = r.checks[-1]
    assert bad.buffer == "sum" and bad.original_error and bad.max_abs_err > 2 * bad.original_error


def test_the_original_alone_reports_its_error_against_the_reference(pool):
    r = evaluate(pool, ORACLE / "sum_truncated.cpp")
    assert r.verdict is Verdict.CORRECT, r.message
    assert "the original's max abs error in `sum` is" in r.message and "beyond the tolerance" in r.message


def test_nondeterministic_original_with_a_reference_is_judged_by_accuracy(pool, tmp_path):
    tree = tmp_path / "tree.cpp"
    tree.write_text((KERNELS / "spec" / "sycl" / "atomic_sum_tree.cpp").read_text().replace(
        "void atomic_sum(", "void sum("))
    r = evaluate(pool, REF / "sum.cpp", tree)
    assert r.verdict is Verdict.CORRECT, r.message
    assert "judged by accuracy against the Python reference" in r.message


# -- 2. without a reference: the accumulation bound -----------------------------------------

def test_nondeterministic_original_gives_the_same_verdict_every_time(pool):
    """A reordered float sum against the atomic original, in fresh workers (each measures the
    original anew): accepted every time; a sum leaving out half the input rejected every time."""
    for _ in range(3):
        with EvalPool("sycl", [0]) as fresh:
            good = evaluate(fresh, EXAMPLES / "sycl" / "atomic_sum.cpp", KERNELS / "spec" / "sycl" / "atomic_sum_tree.cpp")
            assert good.verdict is Verdict.CORRECT, good.message
            bad = evaluate(fresh, EXAMPLES / "sycl" / "atomic_sum.cpp", KERNELS / "spec" / "sycl" / "atomic_sum_wrong.cpp")
            assert bad.verdict is Verdict.WRONG, bad.message


# -- 1. the Python reference as user code ---------------------------------------------------

def _with_reference(tmp_path: Path, body: str, line: str = "ref.py:total") -> Path:
    (tmp_path / "ref.py").write_text(body)
    src = (REF / "sum.cpp").read_text().replace("// @kf reference ref.py:total", f"// @kf reference {line}")
    path = tmp_path / "sum.cpp"
    path.write_text(src)
    return path


def test_an_error_in_the_reference_names_its_file_and_line(pool, tmp_path):
    kernel = _with_reference(tmp_path, "import numpy as np\n\n\ndef total(x):\n    y = x.sum()\n"
                                       "    return y / undefined_name\n")
    r = evaluate(pool, kernel)
    assert r.verdict is Verdict.REFERENCE_FAILED, r.message
    assert "ref.py:6:" in r.message and "NameError" in r.message
    d = r.diagnostics[-1]
    assert d.file.endswith("ref.py") and d.line == 5 and d.severity == "error"


def test_a_reference_returning_the_wrong_length_is_explained(pool, tmp_path):
    kernel = _with_reference(tmp_path, "def total(x):\n    return x[:2]\n")
    r = evaluate(pool, kernel)
    assert r.verdict is Verdict.REFERENCE_FAILED, r.message
    assert "gave 2 value(s) for `sum`, but the buffer has 1" in r.message


def test_a_hanging_reference_hits_the_evaluation_time_limit(pool, tmp_path):
    kernel = _with_reference(tmp_path, "def total(x):\n    while True:\n        pass\n")
    r = evaluate(pool, kernel, options=EvalOptions(seeds=1, time=False, profile=False, timeout_s=3.0))
    assert r.verdict is Verdict.REFERENCE_FAILED, r.message
    assert "timed out while running the Python reference ref.py:total" in r.message
    assert "time limit" in r.message
    after = evaluate(pool, REF / "sum.cpp")  # the pool replaced the worker
    assert after.verdict is Verdict.CORRECT, after.message


def test_a_missing_function_is_a_spec_error_at_the_line(tmp_path):
    kernel = _with_reference(tmp_path, "def other(x):\n    return x.sum()\n")
    unit = load_unit(str(kernel))
    errors = [d for d in unit.kernel.spec_errors if d.severity == "error"]
    assert errors and "has no top-level function `total` (functions: other)" in errors[0].message
    assert "@kf reference" in kernel.read_text().splitlines()[errors[0].line]


def test_the_reference_runs_once_per_input_set_while_outputs_are_reused(pool):
    from backends.judge import reference_cache

    first = evaluate(pool, REF / "matmul.cpp", REF / "matmul.cpp")
    assert first.verdict is Verdict.CORRECT, first.message
    stats = pool.workers[0].cache_stats()
    runs = stats["reference"]["python_runs"]
    again = evaluate(pool, REF / "matmul.cpp", REF / "matmul.cpp")
    assert again.verdict is Verdict.CORRECT, again.message
    stats2 = pool.workers[0].cache_stats()
    assert stats2["reference"]["python_runs"] == runs and stats2["reference"]["python_hits"] > stats["reference"]["python_hits"]
    assert reference_cache.REUSE_EVALUATIONS >= 2


@pytest.mark.parametrize("name", ["sum", "softmax", "layernorm", "matmul"])
def test_reference_examples_run(pool, name):
    r = evaluate(pool, REF / f"{name}.cpp", options=FAST)
    assert r.verdict is Verdict.CORRECT, r.message
    assert "judged against the Python reference ref.py:" in r.message
    assert all(c.oracle == "python reference" for c in r.checks)
