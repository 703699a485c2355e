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
