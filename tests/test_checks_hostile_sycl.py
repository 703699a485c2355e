"""Issue 19 (items 2-4) and 20 (sizes, memory, compile), on the real SYCL runtime (CPU device),
in this process: each test is a case of "What was seen" or a defence the issues ask for, with
a hostile candidate from tests/kernels/verify/sycl (its header says what it does)."""

from __future__ import annotations

import time

import msgspec
import numpy as np
import pytest

pytest.importorskip("dpctl")

from backends.judge.harness import Evaluation, evaluate  # noqa: E402
from backends.judge.inputs import InputSet  # noqa: E402
from backends.judge.launch import Buffers  # noqa: E402
from backends.judge.sizes import derived_sizes, footprint, random_size  # noqa: E402
from backends.kernel.expressions import resolve  # noqa: E402
from backends.kernel.load import load_unit  # noqa: E402
from backends.kernel.tunables import defaults  # noqa: E402
from backends.model import EvalOptions, EvalRequest, Require, Verdict  # noqa: E402
from backends.sycl import list_devices  # noqa: E402
from backends.sycl.session import SyclSession  # noqa: E402

from evalcases import EXAMPLES, FAST, KERNELS  # noqa: E402

if not any(d.kind == "cpu" for d in list_devices()):
    pytest.skip("no SYCL CPU device", allow_module_level=True)

HOSTILE = KERNELS / "verify" / "sycl"
SAXPY = EXAMPLES / "sycl" / "saxpy.cpp"
CHECKS = EvalOptions(seeds=2, time=False, timeout_s=30.0)  # verdicts need no timing


@pytest.fixture(scope="module")
def session():
    s = SyclSession(0)
    yield s
    s.close()


def judge(session, candidate: str | None, reference=SAXPY, options: EvalOptions = CHECKS, nonce: int | None = None):
    ref = load_unit(str(reference))
    cand = load_unit(str(HOSTILE / candidate)) if candidate else None
    req = EvalRequest(ref, cand, "sycl", 0, options, nonce=time.time_ns() & 0xFFFF if nonce is None else nonce)
    result, healthy = evaluate(session, req)
    return result


def failing(result):
    bad = [c for c in result.checks if not c.ok]
    assert bad, result.message
    return bad[-1]


def saxpy_derived() -> list:
    unit = load_unit(str(SAXPY))
    spec = unit.kernel.spec
    return derived_sizes(spec, defaults(unit.text, unit.kernel), [c.assignments for c in spec.checks], "sycl")


# -- 19.2: reads out of bounds -------------------------------------------------------------


def test_reading_a_float_guard_shows_in_the_output(session):
    """`out[i] = a*x[i] + y[i] + 0*x[n]` passed, "significantly faster": the canary read as a
    finite number. Float guards hold NaN now, and the verdict names the buffer read."""
    r = judge(session, "nan_guard_read.cpp")
    assert r.verdict is Verdict.OUT_OF_BOUNDS, r.message
    assert "reads out of bounds of `x`" in r.message and "NaN" in r.message
    assert not failing(r).ok


def test_a_read_nan_hides_is_caught_by_a_run_with_other_guard_contents(session):
    """`x[n] > 1 ? 0 : ...`: NaN > 1 is false, so the NaN guard alone shows nothing; at the
    small sizes kf chose the candidate runs again with huge guard values of both signs."""
    r = judge(session, "branch_guard_read.cpp")
    assert r.verdict is Verdict.OUT_OF_BOUNDS, r.message
    assert "reads out of bounds of `x`" in r.message and "other guard contents" in r.message
    assert failing(r).derived


def test_an_original_that_reads_past_a_buffer_is_a_spec_error_not_the_candidates_fault(session):
    """NaN guards make the original's own output NaN where it reads past a buffer: before a
    correct candidate could be judged wrong against it, kf says the original is at fault (the
    spec's length, or the kernel), at the buffer's line, alone or with a candidate."""
    for candidate in ("../../sycl/good.cpp", None):
        r = judge(session, candidate, reference=HOSTILE / "nan_guard_read.cpp")
        assert r.verdict is Verdict.SPEC_ERROR, r.message
        assert "the original reads outside `x`" in r.message
        d = [x for x in r.diagnostics if x.severity == "error"][-1]
        assert "@kf in  x: float[n]" in (HOSTILE / "nan_guard_read.cpp").read_text().splitlines()[d.line]


# -- 19.3 / 20.2: sizes nobody wrote -------------------------------------------------------------


def test_every_residue_modulo_8_is_derived_and_n_mod_4_eq_2_catches_a_float4_tail(session):
    ns = [int(d.overrides["n"]) for d in saxpy_derived() if d.kind == "residue"]
    assert {n % 8 for n in ns} >= set(range(1, 8)), ns  # hence every residue modulo 2 and 4
    assert 1025 in ns and 1023 in ns  # a partial last group of the largest tunable work-group size (1024)
    r = judge(session, "float4_tail.cpp")
    assert r.verdict is Verdict.UNWRITTEN, r.message
    bad = failing(r)
    assert bad.derived and bad.sizes["n"] % 4 == 2, bad


def test_a_size_above_the_default_catches_an_index_computed_in_float(session):
    above = [d for d in saxpy_derived() if d.kind == "above"]
    assert len(above) == 1 and int(above[0].overrides["n"]) > (1 << 24) + 1  # the default is 2^22
    r = judge(session, "float_index.cpp")
    assert r.verdict in (Verdict.UNWRITTEN, Verdict.WRONG), r.message
    assert failing(r).sizes["n"] > (1 << 24) + 1


def test_a_random_size_drawn_from_the_nonce_is_checked_and_reported(session):
    unit = load_unit(str(SAXPY))
    spec, tun = unit.kernel.spec, defaults(unit.text, unit.kernel)
    draws = {n: int(random_size(spec, n, tun, "sycl").overrides["n"]) for n in range(200)}
    assert draws[7] == int(random_size(spec, 7, tun, "sycl").overrides["n"])  # reproducible from the nonce
    assert len(set(draws.values())) > 100 and all(1 <= v <= 1 << 22 for v in draws.values())
    four = msgspec.structs.replace(spec, requires=[Require("n % 4 == 0")])
    assert all(int(random_size(four, n, tun, "sycl").overrides["n"]) % 4 == 0 for n in range(50))
    inside = next(k for k, v in draws.items() if 5000 <= v < 4000000)
    outside = next(k for k, v in draws.items() if not 5000 <= v < 4000000)
    caught = judge(session, "unlisted_sizes.cpp", nonce=inside)
    assert caught.verdict is Verdict.WRONG, caught.message
    assert failing(caught).sizes["n"] == draws[inside]
    missed = judge(session, "unlisted_sizes.cpp", nonce=outside)  # only that size can catch it
    assert missed.verdict is Verdict.CORRECT, missed.message
    assert f"random size n={draws[outside]}" in missed.message


def _bct_spec(extra: str = ""):
    src = (SAXPY.read_text()
           .replace("// @kf in  x: float[n]", "// @kf in  x: float[B * T * C]")
           .replace("// @kf in  y: float[n]", "// @kf in  y: float[B * T * C]")
           .replace("// @kf out out: float[n]", "// @kf out out: float[B * T * C]")
           .replace("// @kf n = 1 << 22", "// @kf n = B * T * C\n// @kf B = 8\n// @kf T = 1024\n// @kf C = 768" + extra))
    src = "\n".join(ln for ln in src.splitlines() if "@kf check" not in ln) + "\n"
    unit = load_unit("bct.cpp", text=src)
    return unit.kernel.spec, defaults(unit.text, unit.kernel)


def test_derived_sizes_vary_one_variable_with_the_others_small():
    """(B, T, C) = (8, 1024, 768): B = 7 and T = 1023 with the others at their defaults were 88%
    and 99.9% of the full problem, and all derived sizes together 3x it. Now the others sit at
    small values: at most 10% each, under half of the full problem together."""
    spec, tun = _bct_spec()
    base = footprint(spec, resolve(spec, None, tun))
    derived = derived_sizes(spec, tun, [], "sycl")
    total = 0.0
    for d in derived:
        if d.kind == "above":
            continue
        cost = footprint(spec, resolve(spec, d.overrides, tun))[0] / base[0]
        assert cost <= 0.1, (d, cost)
        total += cost
    assert total < 0.5, total
    for name in ("B", "T", "C"):
        varied = [int(d.overrides[name]) for d in derived if d.kind == "residue"
                  and all(int(v) <= 64 for k, v in d.overrides.items() if k != name)]
        assert {v % 8 for v in varied} >= ({1, 2, 3, 4, 5, 6, 7} if name != "B" else set(range(1, 8))), (name, varied)
    assert any(d.kind == "combined" for d in derived) and sum(d.kind == "above" for d in derived) == 1


def test_derived_and_random_sizes_respect_require_and_fixed():
    spec, tun = _bct_spec()
    spec = msgspec.structs.replace(spec, requires=[Require("C % 4 == 0"), Require("T >= 16")], fixed=["B"])
    derived = derived_sizes(spec, tun, [], "sycl") + [random_size(spec, k, tun, "sycl") for k in range(20)]
    for d in derived:
        env = resolve(spec, d.overrides, tun)
        assert env["C"] % 4 == 0 and env["T"] >= 16 and env["B"] == 8, d
    cs = {int(d.overrides["C"]) % 8 for d in derived if d.kind == "residue" and "C" in d.overrides}
    assert cs == {0, 4}  # the residues `require` allows


def test_a_costly_size_that_is_its_variables_only_partial_group_is_checked_and_said(session, tmp_path):
    """`m * m * m` elements, work-groups of 256, m = 64: m = 63 (several work-groups and a
    partial last one) costs 3 MiB, more than kf's derived sizes may (1 MiB at this default),
    and no smaller value gives one: it is checked all the same, and the verdict says why."""
    text = (SAXPY.read_text().replace("float[n]", "float[m * m * m]")
            .replace("// @kf n = 1 << 22", "// @kf n = m * m * m\n// @kf m = 64")
            .replace("#define WG_SIZE 64", "#define WG_SIZE 256"))
    kernel = tmp_path / "cube.cpp"
    kernel.write_text("\n".join(ln for ln in text.splitlines() if "@kf check" not in ln) + "\n")
    r = judge(session, None, reference=kernel)
    assert r.verdict is Verdict.CORRECT, r.message
    assert "size m=63 (residue) costs 95% of the default size's memory" in r.message
    assert "the only value of m it found with a partial last work-group" in r.message
    assert any(c.sizes.get("m") == 63 for c in r.checks)


# -- 20.2: memory planned before running --------------------------------------------------------


def test_a_size_that_cannot_fit_is_a_spec_error_naming_it_and_its_line(session, monkeypatch):
    monkeypatch.setenv("KF_DEVICE_MEMORY_GIB", "0.1")  # the default (2^22) needs ~97 MiB twice
    r = judge(session, None, options=FAST)
    assert r.verdict is Verdict.SPEC_ERROR, r.message
    assert "the default size n=4194304 does not fit" in r.message and "KF_DEVICE_MEMORY_GIB" in r.message
    assert "the largest buffer x: 16 MiB" in r.message  # which buffer to shrink (a user's report)
    d = [x for x in r.diagnostics if x.severity == "error"][-1]
    assert d.file.endswith("saxpy.cpp") and "@kf n = 1 << 22" in SAXPY.read_text().splitlines()[d.line]


def test_a_size_its_int_parameter_cannot_hold_is_a_spec_error_before_anything_runs(session, tmp_path):
    """`@kf n = 1 << 31` for `int n` (a user scaling HeCBench's vanGenuchten up, `const int
    size`): the value would arrive wrapped (2^34 as 0), the original judged on a size nobody
    asked for. Said at the size's line, before any buffer is allocated."""
    text = SAXPY.read_text()
    kernel = tmp_path / "saxpy.cpp"
    kernel.write_text(text.replace("// @kf n = 1 << 22", "// @kf n = 1 << 31"))
    r = judge(session, None, reference=kernel, options=FAST)
    assert r.verdict is Verdict.SPEC_ERROR, r.message
    assert "`n` = 2147483648 does not fit the kernel's parameter `int n` (i32: -2147483648..2147483647)" in r.message
    d = [x for x in r.diagnostics if x.severity == "error"][-1]
    assert "@kf n = 1 << 31" in kernel.read_text().splitlines()[d.line]


def test_a_size_above_the_default_that_cannot_fit_is_skipped_and_said(session, monkeypatch):
    monkeypatch.setenv("KF_DEVICE_MEMORY_GIB", "0.15")  # the default fits twice, 2^24 + 3 does not once
    (above,) = [d.overrides["n"] for d in saxpy_derived() if d.kind == "above"]
    r = judge(session, None, options=FAST)
    assert r.verdict is Verdict.CORRECT, r.message
    assert f"size n={above} (above) skipped: it needs 192 MiB of device memory" in r.message
    assert all(c.sizes["n"] <= 1 << 22 for c in r.checks)


# -- 19.2: isolation and blame ------------------------------------------------------------------


def test_the_originals_buffers_are_gone_while_the_candidate_runs_during_checks(session, monkeypatch):
    """During the checks the original's outputs are copied to the host and its buffers freed
    before the candidate runs: nothing of it is alive to copy from or write into (before, its
    buffers were alive, at a predictable address, whenever its outputs were not reused)."""
    roles: dict[int, str] = {}  # live Buffers -> whose
    current = {"role": "reference"}
    seen: list[list[str]] = []
    run_checked, init, free, launch = Evaluation._run_checked, Buffers.__init__, Buffers.free, Evaluation._launch

    def tracked_run_checked(self, k, *a, **kw):
        current["role"] = k.role
        return run_checked(self, k, *a, **kw)

    def tracked_init(self, *a, **kw):
        init(self, *a, **kw)
        roles[id(self)] = current["role"]

    def tracked_free(self):
        roles.pop(id(self), None)
        return free(self)

    def tracked_launch(self, k, bufs, env, what, timed=False):
        if k.role == "candidate":
            seen.append(sorted(roles.values()))
        return launch(self, k, bufs, env, what, timed)

    monkeypatch.setattr(Evaluation, "_run_checked", tracked_run_checked)
    monkeypatch.setattr(Buffers, "__init__", tracked_init)
    monkeypatch.setattr(Buffers, "free", tracked_free)
    monkeypatch.setattr(Evaluation, "_launch", tracked_launch)
    monkeypatch.setenv("KF_REFERENCE_REUSE", "0")  # the original runs live at every size and seed
    r = judge(session, "../../sycl/good.cpp")  # checks only: no timing
    assert r.verdict is Verdict.CORRECT, r.message
    assert seen and all(s == ["candidate"] for s in seen), seen


def test_a_change_in_the_originals_buffers_found_after_a_candidate_ran_is_the_candidates(session):
    """The original's input written by the candidate (standing for a candidate that found the
    original's buffers at a predictable address while both were alive, as in the timed runs)
    was the verdict `reference_failed`, the user's original blamed. It is the candidate's."""
    from backends.judge.launch import EvalFailure

    ref_unit, cand_unit = load_unit(str(SAXPY)), load_unit(str(KERNELS / "sycl" / "input_modified.cpp"))
    req = EvalRequest(ref_unit, cand_unit, "sycl", 0, CHECKS, nonce=5)
    ev = Evaluation(session, req, lambda what, s: None)
    ref = ev._compile(ref_unit, "reference")
    cand = ev._compile(cand_unit, "candidate")
    contract = ref.spec
    env = ref.env(contract, {"n": "4096"})
    inputs = InputSet(contract, env, (1,))
    rb = ev._run_checked(ref, contract, env, inputs, "n=4096, seed 0")
    cb = Buffers(session, contract, env)
    try:
        cb.load(inputs)
        # the candidate's launch, its `y` being the original's: it writes into the original's input
        args = cb.args(cand_unit.kernel.params, env)
        args[1] = rb.arg("y")
        session.launch(cand.compiled, *cand.launch_shape(env), args)
        with pytest.raises(EvalFailure) as blamed:
            ev._after_run(ref, rb, "timed runs", candidate_ran=True)
        assert blamed.value.verdict is Verdict.INPUT_MODIFIED
        assert blamed.value.message.startswith("candidate writes outside its own buffers: the original's input y")
        with pytest.raises(EvalFailure) as alone:  # the same change with no candidate run: the original's
            ev._after_run(ref, rb, "n=4096, seed 0")
        assert alone.value.verdict is Verdict.REFERENCE_FAILED
    finally:
        cb.free()
        rb.free()


# -- 19.4: races and uninitialised memory ---------------------------------------------------------


def test_small_sizes_run_repeatedly_catch_a_candidate_wrong_on_some_runs_only(session):
    r = judge(session, "third_run_wrong.cpp")
    assert r.verdict is Verdict.NONDETERMINISTIC, r.message
    assert "right on the first run, wrong on a repeat" in r.message
    assert failing(r).derived


# -- large buffers checked by a digest on the device (the cost of the checks above) ---------------


def test_the_device_digest_is_the_documented_function_and_sees_one_changed_bit(session):
    from backends.judge.device_checks import DEVICE_MIN_BYTES

    words = DEVICE_MIN_BYTES // 4 + 3
    data = np.random.default_rng(3).integers(0, 2**32, words, dtype=np.uint32)
    buf = session.alloc(4 * words + 64)
    try:
        session.write(buf, 64, data)
        d = session.keyed_digest(buf, 64, 4 * words, 0x1234)
        with np.errstate(over="ignore"):
            i = np.arange(words, dtype=np.uint64)

            def mix(z):
                z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
                z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
                return z ^ (z >> np.uint64(31))

            # 64-bit blocks: words 2j and 2j+1 (an odd last word alone), block j keyed by j
            blocks = np.zeros((words + 1) // 2, dtype=np.uint64)
            blocks[:] = data[0::2]
            blocks[:words // 2] |= data[1::2].astype(np.uint64) << np.uint64(32)
            j = i[:blocks.size]
            host = int(np.sum(mix(mix(np.uint64(0x1234) ^ (j * np.uint64(0x9E3779B97F4A7C15))) ^ blocks),
                              dtype=np.uint64))
        assert d == host == session.keyed_digest(buf, 64, 4 * words, 0x1234)
        data[words // 2] ^= 1 << 7
        session.write(buf, 64, data)
        assert session.keyed_digest(buf, 64, 4 * words, 0x1234) != d
        data[words // 2] ^= 1 << 7
        data[[10, 11]] = data[[11, 10]]  # two words of one block swapped: another block value
        session.write(buf, 64, data)
        assert session.keyed_digest(buf, 64, 4 * words, 0x1234) != d
        data[[10, 11]] = data[[11, 10]]
        data[-1] ^= 1  # the odd last word, alone in its block
        session.write(buf, 64, data)
        assert session.keyed_digest(buf, 64, 4 * words, 0x1234) != d
        with pytest.raises(ValueError):
            session.keyed_digest(buf, 68, 8, 1)  # not 8-byte aligned: checked on the host instead
    finally:
        session.free(buf)


def test_a_large_fill_by_the_fill_kernel_writes_the_pattern_exactly_and_nothing_beyond(session, monkeypatch):
    """Poison fills of large buffers go through kf_fill (session.FILL_KERNEL_MIN_BYTES): every byte
    of the range holds the pattern, in phase, with an odd tail, and the bytes around it are untouched."""
    from backends.sycl import session as sycl_session

    monkeypatch.setattr(sycl_session, "FILL_KERNEL_MIN_BYTES", 1 << 16)
    n = (1 << 18) + 6
    buf = session.alloc(n + 64)
    try:
        for pattern in (b"\xa5", b"\x01\x02", b"\x00\x00\xc0\x7f", bytes(range(1, 9))):
            session.write(buf, 0, np.full(n + 64, 0x33, dtype=np.uint8))
            session.fill(buf, 32, n, pattern)
            got = session.read(buf, 0, n + 64)
            want = np.frombuffer(pattern * (n // len(pattern) + 1), dtype=np.uint8)[:n]
            assert np.array_equal(got[32:32 + n], want), pattern
            assert (got[:32] == 0x33).all() and (got[32 + n:] == 0x33).all()
        assert session._filler  # the kernel did it (not the queue's fill)
    finally:
        session.free(buf)


# -- 20.3: the candidate compiled beside the original's work ----------------------------------


def test_with_the_compile_overlapped_verdicts_and_blame_stay_the_same(session, monkeypatch):
    """The overlap is off by default on a CPU device (it competes for the same cores); forced
    on, the original's checks run while the candidate compiles and the verdicts are the same,
    and a compiler that crashes the worker then is still the candidate's compile error (the
    pool asks again with the compile in turn)."""
    from backends.run.local_pool import EvalPool

    monkeypatch.setenv("KF_COMPILE_OVERLAP", "1")
    assert judge(session, "../../sycl/good.cpp").verdict is Verdict.CORRECT
    assert judge(session, "float4_tail.cpp").verdict is Verdict.UNWRITTEN
    crash = KERNELS / "sycl_crash"
    options = EvalOptions(seeds=1, check_extra_sizes=False, time=False, profile=False)
    with EvalPool("sycl", [0]) as pool:
        r = pool.evaluate_sync(EvalRequest(load_unit(str(crash / "scale.cpp")), load_unit(str(crash / "scale_bf16.cpp")),
                                           "sycl", 0, options))
    if r.verdict is Verdict.CORRECT:
        pytest.skip("this SYCL runtime compiles bfloat16 code (the crash is fixed)")
    assert r.verdict is Verdict.COMPILE_ERROR and "while compiling the candidate" in r.message, r.message
