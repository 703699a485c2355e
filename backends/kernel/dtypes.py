"""Element types: the spec's names, C/C++ spellings, numpy dtypes, poison values, tolerances."""

from __future__ import annotations

import re

import numpy as np

# canonical name -> numpy dtype
NUMPY: dict[str, np.dtype] = {
    "f16": np.dtype(np.float16),
    "f32": np.dtype(np.float32),
    "f64": np.dtype(np.float64),
    "i8": np.dtype(np.int8),
    "u8": np.dtype(np.uint8),
    "i16": np.dtype(np.int16),
    "u16": np.dtype(np.uint16),
    "i32": np.dtype(np.int32),
    "u32": np.dtype(np.uint32),
    "i64": np.dtype(np.int64),
    "u64": np.dtype(np.uint64),
}

_C_NAMES: dict[str, str] = {
    "half": "f16", "__half": "f16", "sycl::half": "f16", "_Float16": "f16",
    "float": "f32", "double": "f64",
    "char": "i8", "signed char": "i8", "int8_t": "i8", "std::int8_t": "i8",
    "unsigned char": "u8", "uint8_t": "u8", "std::uint8_t": "u8", "uchar": "u8",
    "short": "i16", "short int": "i16", "signed short": "i16", "int16_t": "i16", "std::int16_t": "i16",
    "unsigned short": "u16", "unsigned short int": "u16", "uint16_t": "u16", "std::uint16_t": "u16",
    "int": "i32", "signed": "i32", "signed int": "i32", "int32_t": "i32", "std::int32_t": "i32",
    "unsigned": "u32", "unsigned int": "u32", "uint32_t": "u32", "std::uint32_t": "u32", "uint": "u32",
    "long long": "i64", "long long int": "i64", "long": "i64", "long int": "i64", "int64_t": "i64",
    "std::int64_t": "i64", "ptrdiff_t": "i64", "std::ptrdiff_t": "i64",
    "unsigned long long": "u64", "unsigned long long int": "u64", "unsigned long": "u64",
    "unsigned long int": "u64", "uint64_t": "u64", "std::uint64_t": "u64", "size_t": "u64",
    "std::size_t": "u64",
}
_SHORT = {name: name for name in NUMPY}

_QUALIFIERS = re.compile(r"\b(const|volatile|__restrict__|__restrict|restrict|struct)\b")


def canonical(type_text: str) -> str | None:
    """'const float' -> 'f32', 'unsigned int' -> 'u32', 'f16' -> 'f16'; None if unknown."""
    t = _QUALIFIERS.sub(" ", type_text).replace("*", " ").replace("&", " ")
    t = " ".join(t.split())
    return _SHORT.get(t) or _C_NAMES.get(t)


def numpy_dtype(name: str) -> np.dtype:
    return NUMPY[name]


def is_float(name: str) -> bool:
    return name.startswith("f")


def itemsize(name: str) -> int:
    return NUMPY[name].itemsize


def poison_pattern(name: str) -> bytes:
    """Bytes written over outputs before every run: NaN for floats (a pattern no correct
    kernel produces where the reference does not), a recognisable odd value for integers."""
    if name == "f16":
        return np.array([np.nan], dtype=np.float16).view(np.uint16).tobytes()
    if name == "f32":
        return np.array([0x7FC0DEAD], dtype=np.uint32).tobytes()  # a quiet NaN with a payload
    if name == "f64":
        return np.array([0x7FF8DEADBEEFDEAD], dtype=np.uint64).tobytes()
    size = itemsize(name)
    return (b"\xa5" * size)


def default_tolerance(name: str) -> tuple[float, float]:
    """(rtol, atol) by dtype: KernelBench's fp32 1e-4, fp16 1e-2; integers exact."""
    if name == "f16":
        return 1e-2, 1e-2
    if name == "f32":
        return 1e-4, 1e-4
    if name == "f64":
        return 1e-9, 1e-9
    return 0.0, 0.0
