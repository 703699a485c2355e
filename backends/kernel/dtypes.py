"""Element types: the spec's names, C/C++ spellings, numpy dtypes, poison values, tolerances.

Canonical names: f16 bf16 f32 f64 i8 u8 i16 u16 i32 u32 i64 u64, and vector types as the
scalar and a lane count, `f32x4` (CUDA `float4`, `sycl::float4`, `sycl::vec<float, 4>`),
`f16x2` (`half2`), `u32x4` (`uint4`)...: a buffer `x: float4[n]` holds n float4, that is 4n
floats, generated and compared lane by lane. bfloat16 data is held in numpy through
ml_dtypes' `bfloat16` (the dtype JAX and TensorFlow use).
"""

from __future__ import annotations

import re

import numpy as np

def _bfloat16() -> np.dtype:
    try:
        import ml_dtypes

        return np.dtype(ml_dtypes.bfloat16)
    except ImportError:  # pragma: no cover - a dependency; without it bf16 buffers are refused
        return np.dtype(np.uint16)


# canonical name -> numpy dtype
NUMPY: dict[str, np.dtype] = {
    "f16": np.dtype(np.float16),
    "bf16": _bfloat16(),
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
    "half": "f16", "__half": "f16", "sycl::half": "f16", "_Float16": "f16", "sycl::detail::half_impl::half": "f16",
    "bfloat16": "bf16", "__nv_bfloat16": "bf16", "nv_bfloat16": "bf16", "__bf16": "bf16",
    "sycl::ext::oneapi::bfloat16": "bf16", "sycl::ext::oneapi::experimental::bfloat16": "bf16",
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

# CUDA vector types: prefix -> scalar (float4, uint4, half2...; 1 to 4 lanes)
_CUDA_VECTOR = {"char": "i8", "uchar": "u8", "short": "i16", "ushort": "u16", "int": "i32", "uint": "u32",
                "long": "i64", "ulong": "u64", "longlong": "i64", "ulonglong": "u64", "float": "f32", "double": "f64"}
_VECTOR = re.compile(r"^(?:sycl::|cl::sycl::)?(char|uchar|short|ushort|int|uint|long|ulong|longlong|ulonglong|float|"
                     r"double|half)([1-4]|8|16)$")
_SPECIAL_VECTOR = {"half2": "f16x2", "__half2": "f16x2", "__nv_bfloat162": "bf16x2", "nv_bfloat162": "bf16x2",
                   "sycl::half2": "f16x2"}
_SYCL_VEC = re.compile(r"^(?:sycl::|cl::sycl::)?vec\s*<\s*(.+?)\s*,\s*(\d+)\s*>$")
_CANONICAL_VECTOR = re.compile(r"^(bf16|f16|f32|f64|i8|u8|i16|u16|i32|u32|i64|u64)x(\d+)$")

_QUALIFIERS = re.compile(r"\b(const|volatile|__restrict__|__restrict|restrict|struct)\b")


def canonical(type_text: str) -> str | None:
    """'const float' -> 'f32', 'unsigned int' -> 'u32', 'f16' -> 'f16', 'float4' -> 'f32x4',
    'sycl::vec<float, 4>' -> 'f32x4'; None if unknown."""
    t = _QUALIFIERS.sub(" ", type_text).replace("*", " ").replace("&", " ")
    t = " ".join(t.split())
    t = re.sub(r"^::", "", t)
    found = _SHORT.get(t) or _C_NAMES.get(t) or _SPECIAL_VECTOR.get(t)
    if found:
        return found
    if _CANONICAL_VECTOR.match(t):
        return t
    m = _VECTOR.match(t)
    if m:
        scalar = "f16" if m.group(1) == "half" else _CUDA_VECTOR[m.group(1)]
        if m.group(1) == "half" and not t.startswith(("sycl::", "cl::")):
            return None  # CUDA has half2 only (above)
        lanes = int(m.group(2))
        return scalar if lanes == 1 else f"{scalar}x{lanes}"
    m = _SYCL_VEC.match(t)
    if m:
        scalar = canonical(m.group(1))
        lanes = int(m.group(2))
        if scalar and "x" not in scalar and lanes in (1, 2, 3, 4, 8, 16):
            return scalar if lanes == 1 else f"{scalar}x{lanes}"
    return None


def scalar(name: str) -> str:
    """The lane type of a vector type ('f32x4' -> 'f32'); a scalar type itself."""
    m = _CANONICAL_VECTOR.match(name)
    return m.group(1) if m else name


def lanes(name: str) -> int:
    """Scalars per element: 4 for 'f32x4', 1 for 'f32'. (A 3-lane sycl::vec is stored as 4.)"""
    m = _CANONICAL_VECTOR.match(name)
    return int(m.group(2)) if m else 1


def same_memory(a: str, b: str) -> bool:
    """Two element types that describe the same kind of data: equal, or one a vector of the
    other's scalar (`float4*` read as floats)."""
    return a == b or scalar(a) == scalar(b)


def numpy_dtype(name: str) -> np.dtype:
    """The numpy dtype of one scalar (a vector type's lanes are held as that scalar)."""
    return NUMPY[scalar(name)]


def is_float(name: str) -> bool:
    return scalar(name) in ("f16", "bf16", "f32", "f64")


def itemsize(name: str) -> int:
    """Bytes per element (a vector type's whole width: 16 for float4; CUDA's 12 for float3)."""
    return NUMPY[scalar(name)].itemsize * lanes(name)


def scalars_per_element(name: str) -> int:
    return lanes(name)


def poison_pattern(name: str) -> bytes:
    """Bytes written over outputs before every run: NaN for floats (a pattern no correct
    kernel produces where the reference does not), a recognisable odd value for integers."""
    name = scalar(name)
    if name == "f16":
        return np.array([np.nan], dtype=np.float16).view(np.uint16).tobytes()
    if name == "bf16":
        return np.array([0x7FDA], dtype=np.uint16).tobytes()  # a quiet bfloat16 NaN with a payload
    if name == "f32":
        return np.array([0x7FC0DEAD], dtype=np.uint32).tobytes()  # a quiet NaN with a payload
    if name == "f64":
        return np.array([0x7FF8DEADBEEFDEAD], dtype=np.uint64).tobytes()
    size = itemsize(name)
    return (b"\xa5" * size)


def default_tolerance(name: str) -> tuple[float, float]:
    """(rtol, atol) by dtype: KernelBench's fp32 1e-4, fp16 1e-2; bfloat16 (8 bits of
    mantissa: one rounding is up to 2^-8 relative) 1.6e-2 as PyTorch's; integers exact."""
    name = scalar(name)
    if name == "f16":
        return 1e-2, 1e-2
    if name == "bf16":
        return 1.6e-2, 1.6e-2
    if name == "f32":
        return 1e-4, 1e-4
    if name == "f64":
        return 1e-9, 1e-9
    return 0.0, 0.0
