"""Asking the compiler: the kernel's symbol and its parameters' types, as it compiled them.

Typedefs and macros decide a kernel's types under the project's flags (`floatX` is
`__nv_bfloat16` under `-DENABLE_BF16`, `float` otherwise), and a template instance's
mangled name depends on how the compiler spells its arguments. kf does not guess either:
it appends small probe kernels to the compile unit and reads their names back.

- `kf_entry_probe` takes the kernel's address (`&saxpy<256>`); in the PTX the address is a
  `mov.u64 %rd, SYMBOL;`: the exact symbol to load (nvcc path; NVRTC's lowered names do
  the same job there);
- `kf_type_probe_I` takes a pointer to the type of parameter I of that very kernel
  (`decltype(&entry)` taken apart by a small template), so its mangled name encodes the
  parameter's type as the compiler resolved it: `_Z15kf_type_probe_0P13__nv_bfloat16`.
"""

from __future__ import annotations

import re

__all__ = ["probe_source", "entry_from_ptx", "types_from_symbols", "demangle_type", "TYPE_PROBE"]

TYPE_PROBE = "kf_type_probe_"

_HELPERS = """
template <int KfI, class... KfA> struct kf_probe_at;
template <class KfH, class... KfT> struct kf_probe_at<0, KfH, KfT...> { typedef KfH type; };
template <int KfI, class KfH, class... KfT> struct kf_probe_at<KfI, KfH, KfT...> {
  typedef typename kf_probe_at<KfI - 1, KfT...>::type type; };
template <int KfI, class KfF> struct kf_probe_param;
template <int KfI, class... KfA> struct kf_probe_param<KfI, void (*)(KfA...)> {
  typedef typename kf_probe_at<KfI, KfA...>::type type; };
"""


def probe_source(entry: str, nparams: int, *, entry_probe: bool, type_probes: bool) -> str:
    """Text to append to a compile unit (after the user's file)."""
    parts = ['\n#line 1 "<kf-probe>"\n']
    if entry_probe:
        parts.append(f'extern "C" __global__ void kf_entry_probe(void** kf_p) {{ *kf_p = (void*)&{entry}; }}\n')
    if type_probes and nparams:
        parts.append(_HELPERS)
        for i in range(nparams):
            parts.append(f"__global__ void {TYPE_PROBE}{i}(kf_probe_param<{i}, decltype(&{entry})>::type*) {{}}\n")
    return "".join(parts)


def type_probe_names(nparams: int) -> list[str]:
    return [f"{TYPE_PROBE}{i}" for i in range(nparams)]


_MOV = re.compile(r"mov\.u64\s+%rd\d+,\s*([A-Za-z_$][\w$.]*)\s*;")


def entry_from_ptx(ptx: str) -> str | None:
    """The symbol whose address kf_entry_probe takes."""
    i = ptx.find(".entry kf_entry_probe(")
    if i < 0:
        return None
    m = _MOV.search(ptx, i)
    return m.group(1) if m else None


_PROBE_SYMBOL = re.compile(rf"_Z(\d+){TYPE_PROBE}(\d+)(\w+)")


def types_from_symbols(symbols: list[str]) -> dict[int, tuple[str, int, bool]]:
    """{parameter index: (base type, pointer depth, const pointee)} from the probes' mangled
    names (each probe takes a pointer to the parameter's type: one level is the probe's)."""
    out: dict[int, tuple[str, int, bool]] = {}
    for s in symbols:
        m = _PROBE_SYMBOL.fullmatch(s.strip())
        if not m or int(m.group(1)) != len(TYPE_PROBE) + len(m.group(2)):
            continue
        parsed = demangle_type(m.group(3))
        if parsed is None:
            continue
        base, depth, const = parsed
        if depth < 1:
            continue
        out[int(m.group(2))] = (base, depth - 1, const)
    return out


_BUILTIN = {
    "v": "void", "b": "bool", "c": "char", "a": "signed char", "h": "unsigned char", "s": "short",
    "t": "unsigned short", "i": "int", "j": "unsigned int", "l": "long", "m": "unsigned long",
    "x": "long long", "y": "unsigned long long", "n": "__int128", "o": "unsigned __int128",
    "f": "float", "d": "double", "e": "long double", "w": "wchar_t", "Dh": "_Float16", "DF16_": "_Float16",
    "Ds": "char16_t", "Di": "char32_t", "Du": "char8_t", "DF16b": "__bf16",
}


def _source_name(s: str, i: int) -> tuple[str, int] | None:
    m = re.match(r"\d+", s[i:])
    if not m:
        return None
    n = int(m.group())
    j = i + len(m.group())
    if j + n > len(s):
        return None
    return s[j:j + n], j + n


def demangle_type(s: str) -> tuple[str, int, bool] | None:
    """An Itanium-mangled type (the whole string) -> (base type, pointer depth, const pointee),
    for the types kernel parameters use: builtins, classes, nested names (`N3c104HalfE`),
    with pointers and cv-qualifiers. None for anything else (templates, functions)."""
    i, depth, const = 0, 0, False
    while i < len(s) and s[i] in "PrVK":
        if s[i] == "P":
            depth += 1
            const = False
        elif s[i] == "K":
            const = True
        i += 1
    rest = s[i:]
    for code in sorted(_BUILTIN, key=len, reverse=True):
        if rest == code:
            return _BUILTIN[code], depth, const
    if rest.startswith("N") and rest.endswith("E"):
        parts, j = [], 1
        body = rest[:-1]
        while j < len(body) and body[j] in "rVK":
            j += 1
        if body.startswith("St", j):
            parts.append("std")
            j += 2
        while j < len(body):
            got = _source_name(body, j)
            if got is None:
                return None
            parts.append(got[0])
            j = got[1]
        return ("::".join(parts), depth, const) if parts else None
    if rest.startswith("St"):
        got = _source_name(rest, 2)
        return ("std::" + got[0], depth, const) if got and got[1] == len(rest) else None
    got = _source_name(rest, 0)
    if got and got[1] == len(rest):
        return got[0], depth, const
    return None
