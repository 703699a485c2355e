"""Red team of the device comparison (f401dd4: large outputs compared by kf's own kernel), on
the real SYCL CPU runtime. Candidates in tests/kernels/redteam/sycl (README there); each hole
is a test that failed before its fix, and the strongest of the cases kf already rejected stay
as regressions (the verdict, and a message that names the buffer and the element)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from backends.judge import device_checks, harness
from backends.judge.reference_cache import StoredRun
from backends.judge.verify import compare_output
from backends.kernel import dtypes
from backends.kernel.load import load_unit
from backends.model import EvalOptions, EvalRequest, Verdict

from evalcases import EXAMPLES, KERNELS

REDTEAM = KERNELS / "redteam" / "sycl"
QUICK = EvalOptions(seeds=1, check_extra_sizes=False, min_trials=6, max_trials=10, target_seconds=0.1,
                    warmup_seconds=0.0, timeout_s=60.0)


@pytest.fixture(scope="module")
def session():
    from backends.sycl.session import SyclSession

    s = SyclSession(0)
    yield s
    s.close()


def _live(session, values: np.ndarray):
    """A device copy of `values` offering what the harness's live buffers offer the comparison."""
    buf = session.alloc(values.nbytes)
    session.write(buf, 0, values.reshape(-1).view(np.uint8))

    class Live:
        def device_range(self, name):
            return session, buf, 0, values.nbytes

        def read(self, name, dtype):
            return session.read(buf, 0, values.nbytes).view(dtypes.numpy_dtype(dtype))

        def digest(self, name):
            return None

    return Live(), buf


@pytest.mark.parametrize("dtype", ["i64", "u64"])
def test_64_bit_integers_off_by_one_beyond_2_53_are_wrong_on_the_host_and_on_the_device(session, monkeypatch,
                                                                                          dtype):
    """float64 holds 2^60 and 2^60 + 1 as one value: both comparisons took every element as a
    float64, so an integer output off by one passed as exact (max abs error 0)."""
    monkeypatch.setattr(device_checks, "DEVICE_COMPARE_MIN_BYTES", 1 << 20)
    integers_off_by_one(session, dtype)


def integers_off_by_one(session, dtype: str) -> None:
    """The case above on any session (tests/test_redteam_device_compare_cuda.py: CUDA)."""
    rng = np.random.default_rng(3)
    n = 1 << 17
    e = rng.integers(1 << 55, 1 << 62, n, dtype=np.int64)
    if dtype == "i64":
        e[::2] = -e[::2]
    e = e.astype(dtypes.numpy_dtype(dtype))
    g = e.copy()
    g[1000::4096] ^= 1  # 32 elements, each one off
    host = compare_output("out", dtype, e, g, 0.0, 0.0, True)
    assert host.verdict is Verdict.WRONG and host.mismatch_count == 32 and host.max_abs_err == 1.0
    assert f"first at index 1000: expected {int(e[1000])}, got {int(g[1000])}" in host.message, host.message
    ref_buf = cand_buf = None
    try:
        ref, ref_buf = _live(session, e)
        cand, cand_buf = _live(session, g)
        found = session.compare_close(ref_buf, 0, cand_buf, 0, n, dtype, 0.0, 0.0, dtypes.poison_pattern(dtype))
        assert (found.bad, found.max_abs, found.compared) == (32, 1.0, n)
        for reference in (ref, StoredRun({}, {"out": e})):
            got = device_checks.compare("out", dtype, reference, cand, 0.0, 0.0, True)
            assert (got.ok, got.verdict, got.message) == (host.ok, host.verdict, host.message)
        # a tolerance of 1 takes an off-by-one, on both sides, with the same figures
        within = device_checks.compare("out", dtype, ref, cand, 0.0, 1.0, True)
        assert within.ok and within.max_abs_err == 1.0
        assert compare_output("out", dtype, e, g, 0.0, 1.0, True).max_abs_err == 1.0
    finally:
        for b in (ref_buf, cand_buf):
            if b is not None:
                session.free(b)


def test_a_hash_with_its_low_bit_flipped_is_wrong_in_an_evaluation(session, monkeypatch):
    """hash64_low_bit flips the lowest bit of ~98% of its 64-bit hashes, wherever float64 rounds
    it away: `correct` before, on the host and through the device comparison alike (its 1 MiB
    output reaches the device kernel here)."""
    monkeypatch.setattr(device_checks, "DEVICE_COMPARE_MIN_BYTES", 1 << 20)
    result, _ = harness.evaluate(session, EvalRequest(load_unit(str(REDTEAM / "hash64.cpp")),
                                                      load_unit(str(REDTEAM / "hash64_low_bit.cpp")), "sycl", 0,
                                                      QUICK, nonce=5))
    assert result.verdict is Verdict.WRONG, result.message
    m = re.search(r"out: (\d+) of (\d+) elements differ \(first at index \d+: expected (\d+), got (\d+);",
                  result.message)
    assert m, result.message
    assert int(m.group(1)) > int(m.group(2)) // 2 and abs(int(m.group(3)) - int(m.group(4))) == 1


def test_a_wrong_element_in_one_timed_trial_of_a_large_output_beside_a_small_one_is_caught(session, monkeypatch):
    """two_outputs_window is wrong at y[7] on two launches of the timing loop only. `s` (1 KiB)
    is not large enough for the device comparison, and so y (4 MiB here; 64 MiB at r = 4096 with
    the real thresholds, same verdict) was compared on a secret sample of blocks too, here only
    its last one: `correct` before. Now the outputs the device (or, being small, the host) takes
    whole are compared whole in every trial."""
    monkeypatch.setattr(device_checks, "DEVICE_COMPARE_MIN_BYTES", 1 << 20)
    monkeypatch.setattr(harness, "LARGE_OUTPUT_BYTES", 0)
    monkeypatch.setattr(harness, "SAMPLE_BLOCKS", 1)  # a sample that always misses y[7]
    options = EvalOptions(seeds=1, check_extra_sizes=False, min_trials=8, max_trials=10, target_seconds=0.1,
                          warmup_seconds=0.0, timeout_s=60.0)
    result, _ = harness.evaluate(session, EvalRequest(load_unit(str(REDTEAM / "two_outputs.cpp")),
                                                      load_unit(str(REDTEAM / "two_outputs_window.cpp")), "sycl", 0,
                                                      options, nonce=5))
    assert result.verdict is Verdict.WRONG, result.message
    assert "y: 1 of 1048576 elements differ (first at index 7: expected" in result.message, result.message
    assert "timed trial" in result.message and "sampled" not in result.message


def _saxpy_variant(tmp_path, name: str, body: str):
    """examples/sycl/saxpy.cpp with its one statement replaced (n = 2^22: a 16 MiB output, the
    device comparison's real threshold)."""
    text = (EXAMPLES / "sycl" / "saxpy.cpp").read_text()
    assert "if (i < n) out[i] = a * x[i] + y[i];" in text
    path = tmp_path / f"{name}.cpp"
    path.write_text(text.replace("if (i < n) out[i] = a * x[i] + y[i];", body))
    return load_unit(str(path))


@pytest.mark.parametrize("case", ["poison", "nan payload"])
def test_one_bad_element_of_a_16_mib_output_at_the_real_threshold_reaches_the_hosts_message(session, tmp_path,
                                                                                         monkeypatch, case):
    """Within the tolerance everywhere (so no digest passes it and the device kernel compares
    it), except one element at the default size: the poison's own bits (`unwritten`), or a NaN
    of another payload where the original has a number (`wrong`). The kernel's figures never
    pass it, and the host's message names the buffer and the element."""
    assert (1 << 22) * 4 >= device_checks.DEVICE_COMPARE_MIN_BYTES  # the real default, not monkeypatched
    bits = {"poison": "0x7FC0DEADu", "nan payload": "0x7FC0BEEFu"}[case]
    cand = _saxpy_variant(tmp_path, case.replace(" ", "_"), (
        "if (i < n) out[i] = (n == (1 << 22) && i == 3000001) ? sycl::bit_cast<float>(" + bits + ") : "
        "(a * x[i] + y[i]) * 1.000001f;"))
    seen = []
    real = session.compare_close

    def compare_close(*args, **kwargs):
        seen.append(real(*args, **kwargs))
        return seen[-1]

    monkeypatch.setattr(session, "compare_close", compare_close)
    result, _ = harness.evaluate(session, EvalRequest(load_unit(str(EXAMPLES / "sycl" / "saxpy.cpp")), cand, "sycl", 0,
                                                      QUICK, nonce=9))
    # the device kernel compared the default size's output and found the element (then the host said where)
    assert [(s.unwritten, s.bad, s.compared + s.unwritten) for s in seen] == \
        [(1, 0, 1 << 22) if case == "poison" else (0, 1, 1 << 22)], seen
    if case == "poison":
        assert result.verdict is Verdict.UNWRITTEN, result.message
        assert "out: 1 of 4194304 elements the reference writes were never written" in result.message
        assert "first at index 3000001" in result.message
    else:
        assert result.verdict is Verdict.WRONG, result.message
        assert re.search(r"out: 1 of 4194304 elements differ \(first at index 3000001: expected [-\d.e+]+, got nan; "
                         r"1 NaN/Inf where the reference has a number", result.message), result.message


def test_only_the_outputs_neither_way_takes_are_sampled_and_the_verdict_line_says_which(session, monkeypatch,
                                                                                        tmp_path):
    """Without the device comparison for y (here: its threshold out of reach) and y above the
    host's whole-output size, y alone is sampled; `s` is still compared whole in every trial
    (a candidate within the tolerance passes, and the line names what was sampled)."""
    monkeypatch.setattr(device_checks, "DEVICE_COMPARE_MIN_BYTES", 1 << 62)
    monkeypatch.setattr(harness, "WHOLE_ON_HOST_BYTES", 2 << 20)
    monkeypatch.setattr(harness, "LARGE_OUTPUT_BYTES", 0)
    monkeypatch.setattr(harness, "SAMPLE_BLOCKS", 4)
    text = (REDTEAM / "two_outputs.cpp").read_text()
    close = tmp_path / "two_outputs_close.cpp"
    close.write_text(text.replace("s[i / d] = x[i] * 3.0f;", "s[i / d] = x[i] * 3.0f * 1.000001f;"))
    result, _ = harness.evaluate(session, EvalRequest(load_unit(str(REDTEAM / "two_outputs.cpp")),
                                                      load_unit(str(close)), "sycl", 0, QUICK, nonce=6))
    assert result.verdict is Verdict.CORRECT, result.message
    assert "(where not bit for bit the original's, y on a secret sample of 4 blocks, the others in full)" \
        in result.message, result.message
