"""Issue 9, point 6: every spec-level problem is one line `kf: FILE:LINE:COL: message`,
exit 2, in the kernel language's words; failing results carry their evidence. Real
`kf` subprocesses on the SYCL CPU runtime."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from backends.judge.verify import compare_output
from test_cli import ROOT, kf, one_line_error

SAXPY = (ROOT / "examples" / "sycl" / "saxpy.cpp").read_text()


def variant(tmp_path, name, old, new):
    assert old in SAXPY
    path = tmp_path / name
    path.write_text(SAXPY.replace(old, new))
    return path


def line_of(path, fragment):
    return next(i + 1 for i, ln in enumerate(path.read_text().splitlines()) if fragment in ln)


def test_size_that_does_not_fit_in_memory_is_bad_input(tmp_path):
    # a 64-bit size parameter, so that memory is what stops 2^40 (an `int n` cannot hold it at all:
    # that is said first, test below)
    text = SAXPY.replace("@kf n = 1 << 22", "@kf n = 1 << 40").replace("float a, int n)", "float a, long n)")
    assert "long n)" in text
    p = tmp_path / "big.cpp"
    p.write_text(text)
    line = one_line_error(kf("bench", str(p), "--seeds", "1"))
    assert line.startswith(f"kf: {p}:") and "GiB" in line and "smaller size" in line
    assert "internal" not in line


def test_size_its_int_parameter_cannot_hold_is_bad_input_before_memory(tmp_path):
    p = variant(tmp_path, "big.cpp", "@kf n = 1 << 22", "@kf n = 1 << 40")
    line = one_line_error(kf("bench", str(p), "--seeds", "1"))
    assert line.startswith(f"kf: {p}:") and "`int n`" in line and "wrapped" in line, line


def test_empty_range_is_bad_input_at_its_column(tmp_path):
    p = variant(tmp_path, "range.cpp", "@kf in  x: float[n]", "@kf in  x: float[n] range 5..1")
    line = one_line_error(kf("bench", str(p), "--seeds", "1"))
    n = line_of(p, "range 5..1")
    col = p.read_text().splitlines()[n - 1].index("range") + 1
    assert line.startswith(f"kf: {p}:{n}:{col}: ") and "range 5..1 is empty" in line


def test_range_outside_the_type_is_bad_input(tmp_path):
    hist = (ROOT / "examples" / "sycl" / "histogram.cpp").read_text()
    p = tmp_path / "h.cpp"
    p.write_text(hist.replace("@kf in  data: uint8_t[n]", "@kf in  data: uint8_t[n] range 0..300"))
    line = one_line_error(kf("bench", str(p), "--seeds", "1"))
    assert "does not fit u8" in line and f":{line_of(p, 'range 0..300')}:" in line


def test_sycl_launch_shape_error_in_sycl_words_at_the_launch_line(tmp_path):
    p = variant(tmp_path, "shape.cpp", "@kf global roundup(n, WG_SIZE)", "@kf global n")
    line = one_line_error(kf("bench", str(p), "--seeds", "1", "--time-budget", "0.1"))
    assert line.startswith(f"kf: {p}:{line_of(p, '@kf global n')}:")
    assert "work-items" in line and "work-group" in line and "grid" not in line and "block" not in line


def test_unknown_tunable_is_one_line_exit_2():
    line = one_line_error(kf("bench", "examples/sycl/saxpy.cpp", "--tune", "NOPE=3"))
    assert "examples/sycl/saxpy.cpp:" in line and "NOPE" in line and "WG_SIZE" in line


def test_reference_that_does_not_compile_prints_its_diagnostic_once(tmp_path):
    p = variant(tmp_path, "noc.cpp", "out[i] = a * x[i] + y[i];", "out[i] = a * x[i] + zz;")
    proc = kf("bench", str(p), "--seeds", "1")
    line = one_line_error(proc)
    assert f"{p}:{line_of(p, '+ zz;')}:" in line and "zz" in line
    assert (proc.stdout + proc.stderr).count("undeclared identifier") == 1


def test_original_problem_from_kf_bench_alone(tmp_path):
    p = variant(tmp_path, "acc.cpp", "if (i < n) out[i] = a * x[i] + y[i];", "if (i < n) out[i] += a * x[i] + y[i];")
    line = one_line_error(kf("bench", str(p), "--seeds", "1", "--time-budget", "0.1"))
    assert f":{line_of(p, '@kf out out')}:" in line and "reads `out` before writing it" in line


def test_a_hang_carries_size_seed_and_wall_time(tmp_path):
    proc = kf("bench", "examples/sycl/saxpy.cpp", "--candidate", "tests/kernels/sycl/hang.cpp", "--json",
              "--seeds", "1", "--timeout", "5", "--time-budget", "0.1")
    assert proc.returncode == 1, proc.stderr
    result = json.loads(proc.stdout)
    assert result["verdict"] == "timeout"
    failing = result["checks"][-1]
    assert failing["ok"] is False and failing["sizes"]["n"] == 1 << 22 and failing["seed"] == 0
    assert result["wall_seconds"] >= 5


def test_out_of_bounds_carries_size_and_seed():
    proc = kf("bench", "examples/sycl/saxpy.cpp", "--candidate", "tests/kernels/sycl/oob_write.cpp", "--json",
              "--seeds", "1", "--time-budget", "0.1")
    result = json.loads(proc.stdout)
    assert result["verdict"] == "out_of_bounds"
    failing = result["checks"][-1]
    assert failing["ok"] is False and "n" in failing["sizes"] and failing["seed"] == 0
    assert "out of bounds" in failing["message"] and result["wall_seconds"] > 0


def test_nan_where_the_reference_has_numbers_is_counted():
    want = np.array([1.0, 2.0, 3.0, 4.0], dtype=np.float32)
    got = np.array([1.0, np.nan, np.inf, 4.5], dtype=np.float32)
    check = compare_output("out", "f32", want, got, 1e-4, 1e-4)
    assert not check.ok and check.mismatch_count == 3 and check.nonfinite_count == 2
    assert check.max_abs_err == pytest.approx(0.5) and math.isfinite(check.max_abs_err)
    assert "2 NaN/Inf" in check.message


def test_a_buffer_length_that_moves_with_a_tunable_is_bad_input(tmp_path):
    """Lengths are the contract every variant keeps: a length written with a tunable (a
    launch rounded up to the work-group) gave the reference and a variant different buffers,
    and ended in an internal error or a false out_of_bounds (seen by a new user)."""
    p = variant(tmp_path, "lenwg.cpp", "@kf in  x: float[n]", "@kf in  x: float[roundup(n, WG_SIZE)]")
    line = one_line_error(kf("bench", str(p), "--seeds", "1"))
    assert line.startswith(f"kf: {p}:{line_of(p, 'roundup(n, WG_SIZE)]')}:")
    assert "depends on the tunable WG_SIZE" in line and "contract" in line


def test_an_original_that_leaves_part_of_an_output_unwritten_says_so(tmp_path):
    """Below the error threshold, unwritten elements are still said aloud: they are not
    compared, so any candidate value passes there."""
    p = variant(tmp_path, "half.cpp", "@kf global roundup(n, WG_SIZE)", "@kf global roundup(cdiv(n, 2), WG_SIZE)")
    proc = kf("bench", str(p), "--seeds", "1", "--time-budget", "0.05", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    message = json.loads(proc.stdout)["message"]
    assert "unwritten" in message and "not compared" in message, message


def test_an_interval_wholly_below_one_is_called_slower():
    from io import StringIO

    from rich.console import Console

    from backends.model import EvalResult, Verdict
    from kf_lsp.core.tables import render_result

    out = StringIO()
    r = EvalResult(Verdict.CORRECT, "correct", speedup=0.85, speedup_low=0.78, speedup_high=0.94, significant=False)
    render_result(Console(file=out, width=200), "t", r)
    assert "significantly slower" in out.getvalue() and "not significant" not in out.getvalue()


def test_every_spec_error_is_its_own_line(tmp_path):
    """Two mistakes in one spec: both said (was: the first, then "(and 1 more)")."""
    p = variant(tmp_path, "two.cpp", "@kf n = 1 << 22", "@kf n = 1 << 22\n// @kf frobnicate 3\n// @kf wibble 4")
    proc = kf("bench", str(p), "--seeds", "1")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 2 and all(ln.startswith(f"kf: {p}:") for ln in lines), proc.stderr
    assert "`frobnicate`" in lines[0] and "`wibble`" in lines[1] and "more)" not in proc.stderr
