"""The spec syntax of issue 9: start values, fixed sizes, ranges checked against the type.
Pure parsing (no device): every problem at its line and column."""

from __future__ import annotations

from backends.kernel.scanner import find_kernel
from backends.kernel.spec import check_contract
from backends.kernel.values import value_range

import pytest

HIST = """\
// @kf in  data: uint8_t[n]{range}
// @kf out hist: unsigned[256]{start}
// @kf n = 1 << 20
// @kf grid cdiv(n, 256)
// @kf block 256
{extra}extern "C" __global__ void histogram(const unsigned char* data, unsigned int* hist, int n) {{
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) atomicAdd(&hist[data[i]], 1u);
}}
"""


def kernel(range_="", start=" start 0", extra=""):
    return find_kernel(HIST.format(range=range_, start=start, extra=extra), "h.cu", None)


def errors(k):
    return [(d.line, d.column, d.message) for d in k.spec_errors if d.severity == "error"]


def test_start_value_is_read():
    k = kernel()
    assert errors(k) == [] and k.spec.buffer("hist").start == "0" and k.spec.buffer("data").start is None


def test_start_on_an_input_is_an_error_at_its_column():
    k = kernel(range_=" start 1")
    (line, col, msg), = errors(k)
    assert line == 0 and col == HIST.splitlines()[0].index("[n]") + 4 and "`start` is for `out` buffers" in msg


def test_range_on_an_output_points_to_start():
    k = kernel(start=" range 0..4")
    assert any("did you mean `start VALUE`" in m for _, _, m in errors(k))


def test_start_value_must_fit_the_type():
    assert any("does not fit u32" in m for _, _, m in errors(kernel(start=" start -1")))


@pytest.mark.parametrize("text,fragment", [(" range 5..1", "range 5..1 is empty"),
                                            (" range 0..300", "does not fit u8"),
                                            (" range 0..n", "does not fit u8")])
def test_bad_ranges_are_errors_at_their_column(text, fragment):
    (line, col, msg), = errors(kernel(range_=text))
    assert line == 0 and col == HIST.splitlines()[0].index("[n]") + 4 and fragment in msg


def test_fixed_names_a_variable():
    assert kernel(extra="// @kf fixed n\n").spec.fixed == ["n"]
    (line, col, msg), = errors(kernel(extra="// @kf fixed m\n"))
    assert line == 5 and col == 13 and "'m' is not a variable" in msg


def test_changing_a_start_value_breaks_the_contract():
    ref, cand = kernel(), kernel(start=" start 1")
    assert any("start value" in p for p in check_contract(ref, cand))


def test_default_ranges_by_type():
    assert value_range("u8", None, None) == (0, 256)
    assert value_range("i16", None, None) == (-32768, 32768)
    assert value_range("i32", None, None) == (-64, 64) and value_range("u32", None, None) == (0, 64)
    assert value_range("f32", None, None) == (-1.0, 1.0)
    assert value_range("i32", 5, 10) == (5, 10)
