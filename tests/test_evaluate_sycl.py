"""End to end on the real SYCL runtime (CPU device): every adversarial candidate is caught
with the right verdict, through spawned worker processes, and the pool survives them."""

import pytest

from backends.model import Verdict
from backends.run.local_pool import EvalPool

from evalcases import CASES, EXAMPLES, cases_for, request


@pytest.fixture(scope="module")
def pool():
    with EvalPool("sycl", [0]) as p:
        yield p


def test_reference_alone_is_measured_with_bandwidth(pool):
    result = pool.evaluate_sync(request("sycl", None, "sycl"))
    assert result.verdict is Verdict.CORRECT, result.message
    t, p = result.reference.timing, result.reference.profile
    assert t.median > 0 and t.trials >= 5 and t.p10 <= t.median <= t.p90
    n = 1 << 22
    assert p.bytes_moved == 3 * 4 * n  # x and y read, out written
    assert p.bandwidth == pytest.approx(p.bytes_moved / t.median)
    assert p.peak_bandwidth and 0 < p.bandwidth_fraction
    assert result.device.backend == "sycl" and result.device.kind == "cpu"
    own = {tuple(c.sizes.items()) for c in result.checks if not c.derived}
    derived = {c.sizes["n"] for c in result.checks if c.derived}
    assert len(own) == 4  # the default size and three `@kf check` sizes
    # and the sizes kf derives (backends/judge/sizes.py; n=1 is already a check): every residue
    # modulo 8 around the work-group size, a partial last group of the largest tunable one (1024),
    # one size above the default (its index 2^24 + 1 is not a float), and one at random
    rule = {63, 65, 66, 67, 68, 69, 70, 71, 1023, 1025, (1 << 24) + 3}
    assert rule <= derived and len(derived - rule) <= 1 and all(1 <= v <= n for v in derived - rule)
    assert "random size n=" in result.message


@pytest.mark.parametrize("case", cases_for("sycl"))
def test_adversarial_candidate_gets_its_verdict(pool, case):
    result = pool.evaluate_sync(request("sycl", case, "sycl"))
    assert result.verdict in CASES[case], f"{case}: {result.verdict.value}: {result.message}"
    if case == "good":
        assert result.speedup and result.speedup_low <= result.speedup <= result.speedup_high
        assert all(c.ok for c in result.checks)
    if case == "compile_error":
        assert result.diagnostics and result.diagnostics[0].file.endswith("compile_error.cpp")
    if case in ("wrong",):
        bad = [c for c in result.checks if not c.ok][0]
        assert bad.mismatches and bad.buffer == "out"


def test_pool_keeps_working_after_a_crash_and_a_hang(pool):
    assert pool.evaluate_sync(request("sycl", "crash", "sycl")).verdict is Verdict.CRASH
    assert pool.evaluate_sync(request("sycl", "hang", "sycl")).verdict is Verdict.TIMEOUT
    after = pool.evaluate_sync(request("sycl", "good", "sycl"))
    assert after.verdict is Verdict.CORRECT, after.message
    assert pool.workers[0].restarts >= 2


def test_an_original_past_the_time_limit_says_the_limit_and_how_to_raise_it(pool):
    """A user's kernel that is only slow at a big size (HeCBench's vanGenuchten at 2^25
    doubles on a loaded CPU) hit the limit with just "the original kernel timed out": the
    message says the limit and what to change."""
    import msgspec
    from backends.kernel.load import load_unit
    from backends.model import EvalRequest

    from evalcases import FAST, KERNELS
    hang = load_unit(str(KERNELS / "sycl" / "hang.cpp"))
    options = msgspec.structs.replace(FAST, seeds=1, time=False, timeout_s=2.0)
    r = pool.evaluate_sync(EvalRequest(hang, None, "sycl", 0, options, nonce=7))
    assert r.verdict is Verdict.REFERENCE_FAILED, r.message
    assert "the original kernel timed out while running the reference" in r.message
    assert "past the time limit (2 s a run)" in r.message and "--timeout" in r.message


@pytest.mark.parametrize("example", ["matmul", "reduction", "transpose"])
def test_examples_are_measured(pool, example):
    result = pool.evaluate_sync(request("sycl", None, "sycl", reference=example))
    assert result.verdict is Verdict.CORRECT, result.message
    assert result.reference.timing.median > 0


def test_tunable_named_like_a_header_identifier_compiles(pool, tmp_path):
    """A tunable with no #define in the code gets one after the includes, not before
    <sycl/sycl.hpp> (whose headers use WG as a parameter name)."""
    from backends.kernel.load import load_unit
    from evalcases import FAST
    from backends.model import EvalRequest

    src = (EXAMPLES / "sycl" / "saxpy.cpp").read_text()
    src = src.replace("#ifndef WG_SIZE\n#define WG_SIZE 64\n#endif\n", "").replace("WG_SIZE", "WG")
    path = tmp_path / "wg.cpp"
    path.write_text(src)
    unit = load_unit(str(path))
    result = pool.evaluate_sync(EvalRequest(unit, None, "sycl", 0, FAST))
    assert result.verdict is Verdict.CORRECT, result.message
