"""Large outputs compared on the device (backends/compare_kernel.py, device_checks.on_device),
on the real SYCL CPU runtime: the kernel passes exactly what the host comparison passes, with
the host's figures to the bit, and everything else reaches the host with its message; in an
evaluation, timed trials' large outputs are compared in full and a candidate wrong on a few
launches is still caught. (tests/test_hostile_timing_cuda.py runs the CUDA kernel on a GPU.)"""

from __future__ import annotations

import re

import numpy as np
import pytest

from backends.judge import device_checks, harness, verify
from backends.judge.reference_cache import StoredRun
from backends.judge.verify import compare_output
from backends.kernel import dtypes
from backends.kernel.load import load_unit
from backends.model import EvalOptions, EvalRequest, Verdict

from evalcases import EXAMPLES, KERNELS


@pytest.fixture(scope="module")
def session():
    from backends.sycl.session import SyclSession

    s = SyclSession(0)
    yield s
    s.close()


class Live:
    """One output held in a device allocation, offering what the harness's live Buffers offer
    the comparison (device_range, read); no digest, so the comparison itself is exercised."""

    def __init__(self, session, values: np.ndarray):
        self.session, self.nbytes = session, values.nbytes
        self.buf = session.alloc(values.nbytes)
        session.write(self.buf, 0, values.reshape(-1).view(np.uint8))

    def device_range(self, name):
        return self.session, self.buf, 0, self.nbytes

    def read(self, name, dtype):
        return self.session.read(self.buf, 0, self.nbytes).view(dtypes.numpy_dtype(dtype))

    def digest(self, name):
        return None

    def free(self):
        self.session.free(self.buf)


def _pair(dtype: str, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Expected values over several orders of magnitude, and a candidate within the dtype's
    default tolerance but not equal to them."""
    rng = np.random.default_rng(seed)
    e = rng.standard_normal(n) * np.exp(rng.uniform(-6, 3, n))
    rtol, _ = dtypes.default_tolerance(dtype)
    g = e * (1 + 0.3 * rtol * rng.uniform(-1, 1, n))
    if dtype.startswith("i") or dtype.startswith("u"):
        e, g = np.round(e * 100), np.round(e * 100)
        g[:: 7] += 1  # integers: off by one where the tolerance allows it (an atol of 1 below)
    np_t = dtypes.numpy_dtype(dtype)
    return e.astype(np_t), g.astype(np_t)


FIELDS = ("ok", "verdict", "rule", "max_abs_err", "max_rel_err", "excess", "rtol", "atol", "mismatch_count",
          "nonfinite_count")


def _same(a, b) -> None:
    assert {f: getattr(a, f) for f in FIELDS} == {f: getattr(b, f) for f in FIELDS}


@pytest.mark.parametrize("dtype", ["f32", "f64", "f16", "bf16", "i32"])
@pytest.mark.parametrize("scaled", [False, True])
def test_a_passing_output_gets_the_hosts_check_from_the_device(session, monkeypatch, dtype, scaled):
    monkeypatch.setattr(device_checks, "DEVICE_COMPARE_MIN_BYTES", 1 << 20)
    e, g = _pair(dtype, 1 << 19)
    rtol, atol = dtypes.default_tolerance(dtype)
    if not dtypes.is_float(dtype):
        rtol, atol = 0.0, 1.0
    oracle = dict(scale_atol=scaled, extra_atol=1e-7 if scaled else 0.0, extra_rtol=2e-6, extra_why="for a test")
    host = compare_output("y", dtype, e, g, rtol, atol, True, **oracle)
    assert host.ok and host.max_abs_err > 0  # not bit for bit: the float64 pass ran on the host
    cand = Live(session, g)
    try:
        before = device_checks.stats()
        for ref in (StoredRun({}, {"y": e}), Live(session, e)):  # the original stored on the host, or live
            got = device_checks.compare("y", dtype, ref, cand, rtol, atol, True, **oracle)
            _same(got, host)
            if isinstance(ref, Live):
                ref.free()
        after = device_checks.stats()
    finally:
        cand.free()
    assert after["outputs_on_device"] - before["outputs_on_device"] == 2
    assert after["outputs_on_host"] == before["outputs_on_host"]


def test_the_scaled_tolerance_reads_the_hosts_sample_of_a_buffer_above_it(session, monkeypatch):
    """Above verify's sample size the scale comes from a fixed sample: gathered on the device from
    a live reference, it is the host's to the bit."""
    monkeypatch.setattr(device_checks, "DEVICE_COMPARE_MIN_BYTES", 1 << 20)
    n = (1 << 22) + 12345
    assert verify.scale_sample(n) is not None
    e, g = _pair("f16", n, seed=3)
    host = compare_output("y", "f16", e, g, 1e-2, 1e-2, True, scale_atol=True)
    ref, cand = Live(session, e), Live(session, g)
    try:
        got = device_checks.compare("y", "f16", ref, cand, 1e-2, 1e-2, True, scale_atol=True)
    finally:
        ref.free()
        cand.free()
    _same(got, host)


def test_elements_the_reference_leaves_unwritten_ask_nothing_and_the_scale_is_of_the_rest(session, monkeypatch):
    """A stencil's border: the original leaves it holding the poison. The candidate may write
    anything there; the scaled tolerance is taken over the written elements, as on the host."""
    monkeypatch.setattr(device_checks, "DEVICE_COMPARE_MIN_BYTES", 1 << 20)
    e, g = _pair("f32", 1 << 19, seed=5)
    poison = np.frombuffer(dtypes.poison_pattern("f32"), dtype=np.float32)[0]
    e[:1000] = poison
    e[-1000:] = poison
    e[1000:3000] *= 1e4  # a large region the scale must not see as a sample of the whole buffer
    g[1000:3000] *= 1e4
    g[:1000] = 7.0
    host = compare_output("y", "f32", e, g, 1e-4, 1e-5, True, scale_atol=True)
    assert host.ok
    cand = Live(session, g)
    try:
        got = device_checks.compare("y", "f32", StoredRun({}, {"y": e}), cand, 1e-4, 1e-5, True, scale_atol=True)
    finally:
        cand.free()
    _same(got, host)


def _broken(kind: str, e: np.ndarray, g: np.ndarray) -> np.ndarray:
    g = g.copy()
    if kind == "one element":
        g[123457] = e[123457] * 1.5 + 1
    elif kind == "unwritten":
        g[-3:] = np.frombuffer(dtypes.poison_pattern("f32"), dtype=np.float32)[0]
    elif kind == "nan":
        g[999] = np.nan
    elif kind == "inf for a number":
        g[5] = np.inf
    elif kind == "constant":
        g[:] = 1.0
    return g


@pytest.mark.parametrize("kind", ["one element", "unwritten", "nan", "inf for a number", "constant"])
def test_what_fails_reaches_the_host_and_gets_its_message(session, monkeypatch, kind):
    monkeypatch.setattr(device_checks, "DEVICE_COMPARE_MIN_BYTES", 1 << 20)
    e, g = _pair("f32", 1 << 19, seed=7)
    g = _broken(kind, e, g)
    host = compare_output("y", "f32", e, g, 1e-4, 1e-6, True, scale_atol=True)
    assert not host.ok
    cand = Live(session, g)
    try:
        before = device_checks.stats()
        got = device_checks.compare("y", "f32", StoredRun({}, {"y": e}), cand, 1e-4, 1e-6, True, scale_atol=True)
        after = device_checks.stats()
    finally:
        cand.free()
    assert after["outputs_on_host"] - before["outputs_on_host"] == 1
    assert after["outputs_on_device"] == before["outputs_on_device"]
    assert (got.ok, got.verdict, got.message) == (host.ok, host.verdict, host.message)


def test_the_kernels_element_rule_matches_the_hosts_at_the_edges(session):
    """Boundary values, element by element: exactly at the tolerance, one ulp beyond, signed zeros,
    subnormals, NaN, infinities of both signs."""
    tol_e = np.float32(1.0)
    at = np.nextafter(np.float32(1.0 + 1e-4 + 1e-6), np.float32(0))  # near the edge from below
    e = np.array([tol_e, tol_e, 0.0, -0.0, 1e-45, np.inf, -np.inf, np.nan, 3.0, 2.0, np.inf], dtype=np.float32)
    g = np.array([at, np.nextafter(np.float32(1.0001011), np.float32(2)), -0.0, 0.0, 0.0, np.inf, np.inf,
                  np.float32(np.nan), np.nan, 2.0, np.nan], dtype=np.float32)
    e, g = np.tile(e, 1 << 15), np.tile(g, 1 << 15)
    ref, cand = Live(session, e), Live(session, g)
    try:
        found = session.compare_close(ref.buf, 0, cand.buf, 0, e.size, "f32", 1e-6, 1e-4,
                                      dtypes.poison_pattern("f32"))
    finally:
        ref.free()
        cand.free()
    e64, g64 = e.astype(np.float64), g.astype(np.float64)
    m = verify._measure(e64, g64, 1e-6 + 1e-4 * np.abs(e64))
    assert found.compared == e.size and found.ref_poison == 0 and found.unwritten == 0
    assert found.bad == int((~m.close).sum()) and found.nonfinite == int(m.nonfinite.sum())
    assert (found.max_abs, found.max_rel) == (m.max_abs, m.max_rel)


def close_and_zeros(session, backend: str, suffix: str, tmp_path):
    """The example saxpy (`backend`, file suffix) evaluated with a candidate within the tolerance
    but not bit for bit the original's, then with the hostile one writing zeros on launches
    14-17, many timed trials each: (good, bad, outputs the good evaluation passed on the device)."""
    src = (EXAMPLES / backend / f"saxpy{suffix}").read_text()
    assert "out[i] = a * x[i] + y[i];" in src
    close = tmp_path / f"saxpy_close{suffix}"
    close.write_text(src.replace("out[i] = a * x[i] + y[i];", "out[i] = (a * x[i] + y[i]) * 1.000001f;"))
    ref = load_unit(str(EXAMPLES / backend / f"saxpy{suffix}"))
    options = EvalOptions(seeds=1, check_extra_sizes=False, min_trials=20, max_trials=40, target_seconds=0.2,
                          warmup_seconds=0.0, timeout_s=60.0)
    try:
        before = device_checks.stats()
        good, _ = harness.evaluate(session, EvalRequest(ref, load_unit(str(close)), backend, 0, options, nonce=4))
        on_device = device_checks.stats()["outputs_on_device"] - before["outputs_on_device"]
        bad, _ = harness.evaluate(session, EvalRequest(
            ref, load_unit(str(KERNELS / "hostile" / backend / f"zeros_window{suffix}")), backend, 0, options, nonce=3))
    finally:
        session.close()
    return good, bad, on_device


def test_timed_trials_of_a_large_output_are_compared_in_full_on_the_device(monkeypatch, tmp_path):
    """In an evaluation (the real harness, the SYCL CPU device): the saxpy's 16 MiB output counts
    as large; a candidate within the tolerance but not bit for bit the original's passes with
    every timed trial verified in full on the device, and zeros on launches 14-17 are caught at a
    timed trial with the whole comparison's verdict."""
    from backends.sycl.session import SyclSession

    monkeypatch.setattr(harness, "LARGE_OUTPUT_BYTES", 0)
    good, bad, on_device = close_and_zeros(SyclSession(0), "sycl", ".cpp", tmp_path)
    assert good.verdict is Verdict.CORRECT, good.message
    assert re.search(r"all (\d+) timed trials verified \(where not bit for bit the original's, in full on the device\)",
                     good.message), good.message
    trials = int(re.search(r"all (\d+) timed trials", good.message).group(1))
    assert on_device >= trials  # each trial's, and verification's
    assert good.checks and max(c.max_rel_err for c in good.checks) > 0  # the perturbation was seen, within tolerance
    assert bad.verdict in (Verdict.CONSTANT, Verdict.WRONG) and "timed trial" in bad.message, bad.message
