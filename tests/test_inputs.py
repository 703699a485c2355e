"""Inputs generated on the device from a key (backends/judge/inputs.py): reproducible from the
key, the same for the original and the candidate, inside the spec's range, and bit for bit the
values of the host twin; the special set holds what docs/spec.md promises. The device side runs
on the real SYCL runtime (CPU); tests/test_evaluate_cuda.py has the CUDA one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backends.judge import inputs as gen
from backends.judge.inputs import InputSet
from backends.judge.launch import GUARD_BYTES, Buffers
from backends.kernel.load import load_unit
from backends.model import BufferSpec, Spec

from evalcases import EXAMPLES


def spec_of(*buffers: BufferSpec, values: str | None = None) -> Spec:
    return Spec(list(buffers), [], None, values=values)


def buf(dtype: str, n: int, low: str | None = None, high: str | None = None, name: str = "x") -> BufferSpec:
    return BufferSpec(name, "in", dtype, str(n), low, high)


@pytest.fixture(scope="module")
def session():
    from backends.sycl.session import SyclSession

    s = SyclSession(0)
    yield s
    s.close()


def test_same_key_same_values_new_key_new_values():
    spec = spec_of(buf("f32", 5000), buf("i32", 5000, name="k"))
    a, b, c = InputSet(spec, {}, (1, 2)), InputSet(spec, {}, (1, 2)), InputSet(spec, {}, (1, 3))
    assert np.array_equal(a["x"], b["x"]) and np.array_equal(a["k"], b["k"])
    assert not np.array_equal(a["x"], c["x"])
    assert not np.array_equal(a["x"][:100].view(np.uint32), a["k"][:100].view(np.uint32))  # buffers differ too


@pytest.mark.parametrize("dtype,low,high", [
    ("f32", None, None), ("f64", None, None), ("f16", None, None), ("f32", "-3", "0.5"), ("f32", "0.1", "0.2"),
    ("f16", "1", "10"), ("i32", None, None), ("u32", None, None), ("i64", "-1000000", "2000000000"),
    ("u8", None, None), ("i8", None, None), ("i16", None, None), ("u16", "3", "7"),
])
def test_values_fill_the_range_and_stay_inside_it(dtype, low, high):
    spec = spec_of(buf(dtype, 200_000, low, high))
    x = InputSet(spec, {}, (9,))["x"].astype(np.float64)
    lo, hi = gen.value_range(dtype, float(low) if low else None, float(high) if high else None)
    assert x.min() >= lo and x.max() < hi
    width = hi - lo
    assert x.min() < lo + 0.01 * width and x.max() > hi - 0.01 * width - 1  # reaches both ends
    if dtype in ("u8", "i8") or (low, high) == ("3", "7"):
        assert len(np.unique(x)) == int(hi - lo)  # every value of a small range appears
    mean = x.mean()
    assert abs(mean - (lo + hi - (0 if gen._is_float(dtype) else 1)) / 2) < 0.02 * width  # uniform, roughly


@pytest.mark.parametrize("dtype,low,high,wide", [
    ("f32", None, None, False), ("f32", None, None, True), ("f16", None, None, True), ("f64", None, None, True),
    ("f32", "0", "1", True), ("u8", None, None, False), ("i64", "-5", "5", False),
])
def test_the_device_writes_the_host_twins_values(session, monkeypatch, dtype, low, high, wide):
    monkeypatch.setattr(gen, "DEVICE_MIN_ELEMENTS", 1)  # even small buffers take the device path
    n = (1 << 20) // np.dtype(gen._np_scalar(dtype)).itemsize + 3  # above the size written whole from the host
    spec = spec_of(buf(dtype, n, low, high))
    inputs = InputSet(spec, {}, (4, 5, 6), wide=wide)
    before = gen.generator_stats()["device_buffers"]
    b = Buffers(session, spec, {})
    try:
        b.load(inputs)
        assert gen.generator_stats()["device_buffers"] == before + 1  # written by the kernel
        on_device = b.read("x", dtype)
    finally:
        b.free()
    host = InputSet(spec, {}, (4, 5, 6), wide=wide)["x"]
    assert np.array_equal(on_device.view(np.uint8), np.ascontiguousarray(host).view(np.uint8))


def test_original_and_candidate_buffers_get_identical_inputs(session):
    unit = load_unit(str(EXAMPLES / "sycl" / "saxpy.cpp"))
    spec = unit.kernel.spec
    env = {"n": 1 << 18, "a": 2.5, "WG_SIZE": 64}
    inputs = InputSet(spec, env, (11, 12))
    first, second = Buffers(session, spec, env), Buffers(session, spec, env)
    try:
        first.load(inputs)
        second.load(InputSet(spec, env, (11, 12)))  # the same key, a new object: the same values
        for name in ("x", "y"):
            assert np.array_equal(first.read(name, "f32"), second.read(name, "f32"))
        assert not np.array_equal(first.read("x", "f32"), first.read("y", "f32"))
        assert np.array_equal(session.read(first.alloc["x"], 0, GUARD_BYTES), first.guards["x"][0])  # guards kept
    finally:
        first.free()
        second.free()


def test_half_rounding_matches_numpy():
    rng = np.random.default_rng(0)
    bits = np.concatenate([rng.integers(0, 2**32, 200_000, dtype=np.uint64).astype(np.uint32),
                           np.array([0, 0x80000000, 0x33000000, 0x33000001, 0x387FC000, 0x477FE000, 0x477FF000,
                                     0x7F800000, 0xFF800000, 0x38800000, 0x3F800000], dtype=np.uint32)])
    f = bits.view(np.float32)
    finite = np.isfinite(f)
    with np.errstate(over="ignore"):
        want = f[finite].astype(np.float16).view(np.uint16)
    got = gen._f16_bits(bits[finite])
    assert np.array_equal(got, want)


def test_special_set_holds_nan_inf_subnormals_and_magnitudes_on_both_sides():
    spec = spec_of(buf("f32", 1 << 16))
    x = InputSet(spec, {}, (3,), wide=True)["x"]
    assert np.isnan(x).sum() >= 1 and np.isposinf(x).sum() >= 1 and np.isneginf(x).sum() >= 1
    finite = x[np.isfinite(x)]
    tiny = np.finfo(np.float32).tiny
    assert ((finite != 0) & (np.abs(finite) < tiny)).sum() >= 8  # subnormals
    assert (finite == 0).sum() >= 8  # zeros
    assert (np.abs(finite) >= 2).sum() >= 20 and np.abs(finite).max() > 2.0 ** 15  # above the range
    assert ((finite != 0) & (np.abs(finite) >= tiny) & (np.abs(finite) < 2.0 ** -24)).sum() >= 8  # far below it


@pytest.mark.parametrize("dtype", ["f32", "f64", "f16", "bf16"])
def test_every_special_set_has_both_regimes_in_every_float_input(dtype):
    """Issue 19, red team (7): the special set's scale was drawn per buffer, below 1 in 1 set in 4,
    so a kernel wrong only for |x| > 1 passed a quarter of the evaluations. Every set holds
    magnitudes above the range and far below it, in every float input."""
    spec = spec_of(buf(dtype, 5000), buf(dtype, 5000, name="y"))
    for key in range(32):
        s = InputSet(spec, {}, (key,), wide=True)
        for name in ("x", "y"):
            v = np.abs(np.asarray(s[name]).astype(np.float32 if dtype == "bf16" else np.float64))
            v = v[np.isfinite(v)]
            assert (v >= 2).sum() >= 20, (key, name)
            below, count = (2.0 ** -5, 8) if dtype == "f16" else (2.0 ** -9, 20)
            assert ((v > 0) & (v < below)).sum() >= count, (key, name)


def test_the_special_set_looks_ordinary_to_a_few_sampled_elements():
    """Issue 19, red team (6): one scale per buffer told the whole special set apart from 8 sampled
    elements. Now every element but ~72 scattered ones is an ordinary value (uniform [-1, 1), as
    an ordinary set draws it), at positions drawn from the secret key: different in every set."""
    n = 1 << 20
    spec = spec_of(buf("f32", n))
    x = InputSet(spec, {}, (5,), wide=True)["x"]
    odd = ~((x >= -1) & (x < 1)) | (x == 0) | (np.abs(x) < 2.0 ** -24)
    assert 40 <= odd.sum() <= gen.OUTLIERS + gen.SPECIALS_PER_BUFFER
    ordinary = x[~odd].astype(np.float64)
    assert abs(np.abs(ordinary).mean() - 0.5) < 0.01 and abs(ordinary.mean()) < 0.01
    strided = x[np.arange(64) * (n // 64)]
    assert ((strided >= -1) & (strided < 1)).all()  # what a kernel sampling 64 elements sees (here)
    other = InputSet(spec, {}, (6,), wide=True)
    assert not set(np.flatnonzero(odd)) & {i for i, _ in other.scattered("x")}  # another set, other positions


def test_special_set_respects_finite_ordinary_and_ranges():
    finite = InputSet(spec_of(buf("f32", 1 << 14), values="finite"), {}, (3,), wide=True)["x"]
    assert np.isfinite(finite).all()
    ordinary = InputSet(spec_of(buf("f32", 1 << 14), values="ordinary"), {}, (3,), wide=True)
    assert not ordinary.has_specials and ordinary["x"].min() >= -1 and ordinary["x"].max() < 1
    ranged = InputSet(spec_of(buf("f32", 1 << 14, "-2", "3")), {}, (3,), wide=True)["x"]
    assert np.isfinite(ranged).all() and ranged.min() >= -2 and ranged.max() < 3
    above = InputSet(spec_of(buf("f64", 1 << 14, "1", "10")), {}, (3,), wide=True)["x"]
    assert above.min() >= 1 and above.max() < 10
    ints = InputSet(spec_of(buf("i32", 1 << 14)), {}, (3,), wide=True)
    assert not ints.has_specials and ints["x"].min() == -64 and ints["x"].max() == 63  # ordinary values


def test_an_input_set_is_digested_once_and_still_catches_a_changed_input(session):
    """Writing one input set again (the original's checks, the candidate's run) reuses the
    digest taken when it was first written; a run that changes the input is still caught."""
    from backends.judge import device_checks

    unit = load_unit(str(EXAMPLES / "sycl" / "saxpy.cpp"))
    spec = unit.kernel.spec
    env = {"n": 1 << 19, "a": 2.5, "WG_SIZE": 64}  # 2 MiB per buffer: checked by digest
    inputs = InputSet(spec, env, (21, 22))
    assert "x" in inputs and "out" not in inputs and not inputs._host  # `in` computes no values
    first, second = Buffers(session, spec, env), Buffers(session, spec, env)
    try:
        first.load(inputs)
        taken = device_checks.stats()["digests"]
        second.load(inputs)
        assert device_checks.stats()["digests"] == taken  # the second write took no digest
        assert second.digests == first.digests and set(second.digests) == {"x", "y"}
        assert second.modified_inputs() is None
        session.write(second.alloc["y"], GUARD_BYTES + 4 * 1000, np.array([7.0], dtype=np.float32))
        assert second.modified_inputs().startswith("y (")
    finally:
        first.free()
        second.free()


def test_a_sample_of_a_large_input_is_its_own_values_and_gives_its_rms(monkeypatch):
    """The accumulation bound's rms is measured on a sample (original.RMS_SAMPLE): the sample
    is made of the buffer's exact values, spread over all of it, and its rms is the buffer's."""
    from backends.judge import original

    n = 1 << 20
    spec = spec_of(buf("f32", n), BufferSpec("y", "out", "f32", "1"))
    inputs = InputSet(spec, {}, (4, 5))
    sample = inputs.sample("x", 1 << 17)
    whole = np.asarray(InputSet(spec, {}, (4, 5))["x"])
    chunk = gen.HOST_CHUNK
    assert sample.size == 4 * chunk
    assert np.array_equal(sample[:chunk], whole[:chunk]) and np.array_equal(sample[-chunk:], whole[-chunk:])
    assert np.array_equal(sample[chunk:2 * chunk], whole[(n - chunk) // 3:(n - chunk) // 3 + chunk])
    monkeypatch.setattr(original, "RMS_SAMPLE", 1 << 17)  # the bound measures the 4-chunk sample
    _, atol_sampled, k, rms = original.accumulation_bound(spec.buffers[1], spec, inputs, {"x": n, "y": 1})
    exact = math.sqrt(float(np.mean(whole.astype(np.float64) ** 2)))
    assert k == n and abs(rms - exact) < 0.01 * exact
    assert original.accumulation_terms(spec.buffers[1], spec, inputs, {"x": n, "y": n}) == 1


def test_a_buffer_written_from_the_host_is_computed_once_per_set_and_counted_in_a_stored_run():
    """A 576 KiB input (147,456 floats: matmul's 384 x 384) is written from the host with its
    guards (below 1 MiB), so every write of a stored set needs its host values: they are
    computed once per set and kept (the same values, read-only), and a stored run counts them
    in its bytes; a buffer written on the device by the generator is not kept."""
    from backends.judge.reference_cache import StoredRun

    spec = spec_of(buf("f32", 384 * 384, name="a"), buf("f32", 1 << 20, name="big"))
    s = InputSet(spec, {}, (3, 4))
    first = s["a"]
    assert s["a"] is first and not first.flags.writeable
    np.testing.assert_array_equal(first, InputSet(spec, {}, (3, 4))["a"])
    assert s["big"] is not s["big"]  # 4 MiB: the device writes it, the host copy is not kept
    assert s.kept_bytes == 384 * 384 * 4
    assert StoredRun(s, {"y": np.zeros(10, np.float32)}).nbytes == 40 + 384 * 384 * 4
