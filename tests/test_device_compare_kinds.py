"""The SYCL comparison kernel's loop is written once per element type (compare_kernel.kf_close_range)
and its sample gather reads whole elements where it can: every type kf compares on the device
gets the host's figures, and the gather the host's sample, aligned or not (real SYCL CPU runtime)."""

from __future__ import annotations

import numpy as np
import pytest

from backends import compare_kernel
from backends.judge import verify
from backends.kernel import dtypes


@pytest.fixture(scope="module")
def session():
    from backends.sycl.session import SyclSession

    s = SyclSession(0)
    yield s
    s.close()


def _values(kind: str, n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    t = dtypes.numpy_dtype(kind)
    if dtypes.is_float(kind):
        e = (rng.standard_normal(n) * 50).astype(t)
        g = (e.astype(np.float64) * (1 + 3e-3 * rng.uniform(-1, 1, n))).astype(t)
    else:
        info = np.iinfo(t)
        e = rng.integers(max(info.min, -100), min(info.max, 100), n, endpoint=True).astype(t)
        g = e.copy()
        g[::5] = (e[::5].astype(np.int64) + 1).clip(info.min, info.max).astype(t)
    return e, g


@pytest.mark.parametrize("kind", sorted(compare_kernel.KINDS))
def test_every_element_type_gets_the_hosts_figures(session, kind):
    rng = np.random.default_rng(compare_kernel.KINDS[kind])
    n = 3001
    e, g = _values(kind, n, rng)
    poison = dtypes.poison_pattern(kind)
    p = np.frombuffer(poison, dtype=dtypes.numpy_dtype(kind))[0]
    for a in (e, g):  # small integer types meet the poison by chance: nowhere but where it is put
        a[a.view(f"u{a.itemsize}") == np.array(p).view(f"u{a.itemsize}")] = 0
    e[7], g[11] = p, p  # one element the reference leaves unwritten, one the candidate does
    atol, rtol = 1e-3, 1e-3
    ref, cand = session.alloc(e.nbytes), session.alloc(g.nbytes)
    try:
        session.write(ref, 0, e.view(np.uint8))
        session.write(cand, 0, g.view(np.uint8))
        found = session.compare_close(ref, 0, cand, 0, n, kind, atol, rtol, poison)
    finally:
        session.free(ref)
        session.free(cand)
    keep = np.ones(n, dtype=bool)
    keep[[7, 11]] = False
    e64, g64 = e[keep].astype(np.float64), g[keep].astype(np.float64)
    m = verify._measure(e64, g64, atol + rtol * np.abs(e64))
    assert (found.ref_poison, found.unwritten, found.compared) == (1, 1, n - 2)
    assert found.bad == int((~m.close).sum()) and found.nonfinite == int(m.nonfinite.sum())
    assert (found.max_abs, found.max_rel) == (m.max_abs, m.max_rel)
    assert found.max_abs > 0


@pytest.mark.parametrize("kind", ["u8", "f16", "f32", "f64"])
@pytest.mark.parametrize("offset", [0, 1])
def test_the_gather_reads_the_hosts_sample(session, kind, offset):
    t = dtypes.numpy_dtype(kind)
    values = np.random.default_rng(1).integers(0, 1 << 62, 5000, dtype=np.uint64).view(np.uint8)[: 5000 * 8]
    values = values[: (values.size // np.dtype(t).itemsize) * np.dtype(t).itemsize].view(t)
    idx = np.random.default_rng(2).integers(0, values.size, 777).astype(np.uint64)
    buf = session.alloc(values.nbytes + offset)
    try:
        session.write(buf, offset, values.view(np.uint8))
        got = session.gather(buf, offset, kind, idx)
    finally:
        session.free(buf)
    assert got.view(np.uint8).tobytes() == values[idx.astype(np.int64)].view(np.uint8).tobytes()


class _Live:
    def __init__(self, session, values: np.ndarray):
        self.session, self.nbytes = session, values.nbytes
        self.buf = session.alloc(values.nbytes)
        session.write(self.buf, 0, values.view(np.uint8))

    def device_range(self, name):
        return self.session, self.buf, 0, self.nbytes

    def read(self, name, dtype):
        return self.session.read(self.buf, 0, self.nbytes).view(np.float32)


@pytest.mark.parametrize("where", ["stored run", "live, poison in the sample", "live, poison outside the sample"])
def test_a_reference_with_unwritten_elements_is_scaled_by_the_written_ones(session, monkeypatch, where):
    """The default atol is scaled by the elements the reference wrote (compare_output's rule). Where
    the reference's poison shows in what kf already holds (a stored run, the scale's sample), that
    scale is taken at once and the kernel passes once; else a first pass finds the poison and a
    second compares with the written elements' scale. The figures are the host's either way."""
    from backends.judge import device_checks
    from backends.judge.reference_cache import StoredRun

    monkeypatch.setattr(device_checks, "DEVICE_COMPARE_MIN_BYTES", 1 << 20)
    n = (1 << 22) + 4096
    rng = np.random.default_rng(9)
    e = rng.standard_normal(n).astype(np.float32)
    g = (e * (1 + 1e-5 * rng.uniform(-1, 1, n))).astype(np.float32)
    e[:2000] *= 1e3  # written elements whose magnitude the scale must see as the host does
    g[:2000] = e[:2000]
    poison = np.frombuffer(dtypes.poison_pattern("f32"), dtype=np.float32)[0]
    if where == "live, poison outside the sample":
        outside = np.ones(n, dtype=bool)
        outside[verify.scale_sample(n)] = False
        hole = int(np.flatnonzero(outside)[0])
        e[hole] = poison
    else:
        e[-500:] = poison
    host = verify.compare_output("y", "f32", e, g, 1e-4, 1e-5, True, scale_atol=True)
    assert host.ok
    calls = []
    real = session.compare_close
    monkeypatch.setattr(session, "compare_close", lambda *a, **k: calls.append(1) or real(*a, **k))
    cand = _Live(session, g)
    ref = StoredRun({}, {"y": e}) if where == "stored run" else _Live(session, e)
    try:
        got = device_checks.on_device("y", "f32", ref, cand, 1e-4, 1e-5, True, {"scale_atol": True})
    finally:
        session.free(cand.buf)
        if isinstance(ref, _Live):
            session.free(ref.buf)
    assert got is not None
    assert (got.atol, got.rtol, got.max_abs_err, got.max_rel_err, got.excess) == \
        (host.atol, host.rtol, host.max_abs_err, host.max_rel_err, host.excess)
    assert len(calls) == (2 if where == "live, poison outside the sample" else 1)
