"""What values generated inputs take, by element type (docs/spec.md, "Input values").

Inputs must exercise the kernel: an 8- or 16-bit integer input takes its type's whole
range by default (a 256-bin histogram of `uint8_t` sees every bin); wider integers take
[-64, 64) (unsigned [0, 64)), small enough to be safe as indices and sums; floats take
[-1, 1). A `range LOW..HIGH` (HIGH exclusive) overrides the default and must fit the
type. One function decides, for the parser (errors at the user's line) and for the
harness (the values it generates), so they never disagree.
"""

from __future__ import annotations

import numpy as np

from backends.kernel import dtypes

__all__ = ["RangeError", "value_range", "default_range_text"]

FLOAT_DEFAULT = (-1.0, 1.0)
WIDE_INT_DEFAULT = (-64, 64)


class RangeError(ValueError):
    """A `range` that is empty or does not fit the element type."""


def value_range(dtype: str, low: int | float | None, high: int | float | None) -> tuple[int | float, int | float]:
    """[low, high) for generated values of `dtype`; `low`/`high` None take the default."""
    if dtypes.is_float(dtype):
        lo = FLOAT_DEFAULT[0] if low is None else float(low)
        hi = FLOAT_DEFAULT[1] if high is None else float(high)
        if not hi > lo:
            raise RangeError(f"range {_fmt(lo)}..{_fmt(hi)} is empty: write `range LOW..HIGH` with LOW < HIGH "
                             "(HIGH is excluded)")
        return lo, hi
    info = np.iinfo(dtypes.numpy_dtype(dtype))
    if info.bits <= 16:
        dlo, dhi = int(info.min), int(info.max) + 1
    else:
        dlo, dhi = (0 if info.min == 0 else WIDE_INT_DEFAULT[0]), WIDE_INT_DEFAULT[1]
    for what, v in (("LOW", low), ("HIGH", high)):
        if v is not None and (isinstance(v, float) and not float(v).is_integer()):
            raise RangeError(f"range {what} {v} of an integer buffer must be a whole number")
    lo = dlo if low is None else int(low)
    hi = dhi if high is None else int(high)
    if not hi > lo:
        raise RangeError(f"range {lo}..{hi} is empty: write `range LOW..HIGH` with LOW < HIGH (HIGH is excluded)")
    if lo < int(info.min) or hi > int(info.max) + 1:
        raise RangeError(f"range {lo}..{hi} does not fit {dtype} (its values are {int(info.min)}..{int(info.max) + 1}, "
                         "HIGH excluded)")
    return lo, hi


def start_value(dtype: str, value: int | float) -> int | float:
    """Check that a `start` value is representable in `dtype`."""
    if dtypes.is_float(dtype):
        return float(value)
    info = np.iinfo(dtypes.numpy_dtype(dtype))
    if isinstance(value, float) and not value.is_integer():
        raise RangeError(f"start value {value} of an integer buffer must be a whole number")
    v = int(value)
    if not int(info.min) <= v <= int(info.max):
        raise RangeError(f"start value {v} does not fit {dtype} ({int(info.min)}..{int(info.max)})")
    return v


def default_range_text(dtype: str) -> str:
    lo, hi = value_range(dtype, None, None)
    return f"{_fmt(lo)}..{_fmt(hi)}"


def _fmt(v: int | float) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)
