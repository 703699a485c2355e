"""Reading, drafting and comparing kernel specs (`// @kf ...` lines, docs/spec.md).

Spec lines are typed by people in an editor, so every problem becomes a Diagnostic at
the exact line and column of the offending token, with a message that says what to
write instead; parsing goes on after an error so one typo does not hide the rest.
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from typing import Sequence

from backends.kernel import dtypes
from backends.kernel.text import match_bracket, split_top
from backends.kernel.expressions import ExprError, holds, names, resolve, evaluate
from backends.kernel.values import RangeError, start_value, value_range
from backends.model import (BufferSpec, Check, Diagnostic, KernelSource, Language, Launch, Param,
                    Position, Range, Reference, Require, Spec, Tunable, Variable)

__all__ = ["parse_spec", "draft_spec", "check_contract", "KEYWORDS"]

_IDENT = re.compile(r"[A-Za-z_]\w*")
_VARIABLE = re.compile(r"([A-Za-z_]\w*)\s*=(?!=)\s*")
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"

_LAUNCH = {"cuda": ("grid", "block"), "sycl": ("global", "local")}
_OTHER = {"cuda": "sycl", "sycl": "cuda"}
KEYWORDS = ("in", "out", "inout", "grid", "block", "global", "local", "shared", "check",
            "fixed", "tol", "tune", "bytes", "flops", "begin", "end", "require", "flags", "reference",
            "values")
VALUES = ("special", "finite", "ordinary")  # `@kf values ...`: the special input set (backends/judge/inputs.py)
_PLACEHOLDER_HINT = {"grid": "the grid in blocks, e.g. `cdiv(n, 256)`", "block": "the block in threads, e.g. `256`",
                     "global": "the global size in work-items, e.g. `roundup(n, 256)`",
                     "local": "the work-group size, e.g. `256`", "shared": "the dynamic shared memory in bytes"}


def _placeholder_hint(what: str) -> str:
    if what.startswith("range of"):
        return "the bound its values stay below, e.g. `range 0..V` for indices into a table of V rows"
    if what.startswith("variable"):
        return "its value"
    return _PLACEHOLDER_HINT.get(what.strip("`"), "its value")


_TYPE_HINT = ("float, double, half, bfloat16, int, unsigned, int64_t, uint8_t, float4, half2, uint4... "
              "or f32, f64, f16, bf16, i32, u32, i64, u8")
_TYPE_TEXT = re.compile(r"(?:const\s+|unsigned\s+|signed\s+|long\s+|short\s+)*[A-Za-z_][\w]*(?:::[A-Za-z_]\w*)*"
                        r"(?:\s*<[\w\s:,<>]*>)?(?:\s*\*)*")


@dataclass
class _Entry:
    line: int
    col: int  # column of text[0] in the file
    text: str


class _Parser:
    def __init__(self, path: str, params: list[Param], language: Language,
                 template_params: Sequence[str] = (), range_launch: bool = False):
        self.path, self.params, self.language = path, params, language
        self.range_launch = range_launch
        self.template_params = set(template_params)
        self.by_name = {p.name: p for p in params if p.name}
        self.diags: list[Diagnostic] = []
        self.buffers: dict[str, BufferSpec] = {}
        self.variables: dict[str, Variable] = {}
        self.tunables: dict[str, Tunable] = {}
        self.checks: list[Check] = []
        self.requires: list[tuple[_Entry, int, Require]] = []  # with the expression's column
        self.nulls: dict[str, int] = {}  # pointer parameters passed as null -> line
        self.fixed: dict[str, tuple[_Entry, int]] = {}
        self.ranges: list[tuple[_Entry, int, str, str | None, str | None]] = []
        self.launch: dict[str, tuple[list[str], int]] = {}  # keyword -> (exprs, line)
        self.shared: tuple[str, int] | None = None
        self.rtol: float | None = None
        self.atol: float | None = None
        self.bytes: str | None = None
        self.flops: str | None = None
        self.values: str | None = None
        self.reference: Reference | None = None
        self.seen: dict[str, int] = {}  # single-occurrence keywords -> line
        self.placeholder = False
        self.types: dict[str, str] = {}  # `T = float`: type template parameters bound to types
        self.typed_buffers: list[tuple[_Entry, int, str, str, str, str | None]] = []  # buffers of type `T*`
        self.type_lines: dict[str, int] = {}
        self.flags: list[str] = []  # `flags ...` lines, in order
        # (entry, offset, expr, what) for the name checks after every line is read
        self.exprs: list[tuple[_Entry, int, str, str]] = []

    def error(self, e: _Entry, offset: int, message: str, severity: str = "error") -> None:
        self.diags.append(Diagnostic(self.path, e.line, e.col + max(0, offset), severity,  # type: ignore[arg-type]
                                     message))

    def expr(self, e: _Entry, offset: int, text: str, what: str) -> str | None:
        """Check an expression's syntax now and its names later; None when unusable."""
        lead = len(text) - len(text.lstrip())
        text, offset = text.strip(), offset + lead
        if not text:
            self.error(e, offset, f"{what}: expected an expression")
            return None
        if text == "?":  # a draft's placeholder: kf could not tell the value from the code
            self.placeholder = True
            self.error(e, offset, f"{what} is a placeholder (`kf spec` could not tell it from the code; a "
                                  f"`// kf:` note above says why): write {_placeholder_hint(what)}")
            return None
        try:
            names(text)
        except ExprError as err:
            self.error(e, offset, f"{what}: {err}")
            return None
        self.exprs.append((e, offset, text, what))
        return text

    def once(self, e: _Entry, key: str) -> bool:
        if key in self.seen:
            self.error(e, 0, f"duplicate `{key}` line (first at line {self.seen[key] + 1})")
            return False
        self.seen[key] = e.line
        return True

    # -- one line ------------------------------------------------------------

    def entry(self, e: _Entry) -> None:
        t = e.text
        if not t:
            self.error(e, 0, "empty `@kf` line", "warning")
            return
        vm = _VARIABLE.match(t)
        if vm:
            return self.variable(e, vm)
        word_m = _IDENT.match(t)
        word = word_m.group() if word_m else t.split()[0]
        rest_off = len(word)
        rest_off += len(t[rest_off:]) - len(t[rest_off:].lstrip())
        rest = t[rest_off:]
        if word in ("in", "out", "inout"):
            self.buffer(e, word, rest_off, rest)
        elif word in ("grid", "block", "global", "local"):
            self.launch_line(e, word, rest_off, rest)
        elif word in ("shared", "bytes", "flops"):
            if self.once(e, word):
                x = self.expr(e, rest_off, rest, f"`{word}`")
                if word == "shared" and x:
                    self.shared = (x, e.line)
                elif word == "bytes":
                    self.bytes = x
                elif word == "flops":
                    self.flops = x
        elif word == "check":
            self.check(e, rest_off, rest)
        elif word == "tol":
            self.tol(e, rest_off, rest)
        elif word == "tune":
            self.tune(e, rest_off, rest)
        elif word == "fixed":
            self.fixed_line(e, rest_off, rest)
        elif word == "values":
            self.values_line(e, rest_off, rest)
        elif word == "require":
            self.require(e, rest_off, rest)
        elif word == "flags":
            self.flags_line(e, rest_off, rest)
        elif word == "reference":
            if self.once(e, word):
                self.reference_line(e, rest_off, rest)
        elif word in ("begin", "end") and not rest:
            pass  # region markers, handled by the source scanner
        else:
            a, b = _LAUNCH[self.language]
            self.error(e, 0, f"unknown spec line `{word}`: expected `NAME = EXPR` or one of "
                             f"in, out, inout, {a}, {b}, shared, check, fixed, require, tol, tune, bytes, flops, flags, reference, values")

    def flags_line(self, e: _Entry, off: int, rest: str) -> None:
        """`flags -DENABLE_BF16 -I../include -std=c++17`: compiler flags for the file."""
        try:
            words = shlex.split(rest)
        except ValueError as err:
            return self.error(e, off, f"`flags`: {err} (quote flags as in a shell)")
        if not words:
            return self.error(e, off, "expected `flags -DNAME -IDIR -std=c++17 ...` (compiler flags for this file)")
        for w in words:
            if not w.startswith("-"):
                col = off + max(0, rest.find(w))
                self.error(e, col, f"`flags`: `{w}` is not a flag (flags start with `-`: -DNAME, -IDIR, -std=c++17)")
                return
        self.flags.extend(words)

    def type_binding(self, e: _Entry, name: str, off: int, value: str) -> None:
        """`T = float`: a type template parameter bound to a type."""
        if name in self.types:
            return self.error(e, 0, f"duplicate binding of '{name}' (first at line {self.type_lines[name] + 1})")
        self.types[name] = " ".join(value.split())
        self.type_lines[name] = e.line

    def variable(self, e: _Entry, m: re.Match) -> None:
        name = m.group(1)
        value = e.text[m.end():].strip()
        if name in self.template_params and value and _TYPE_TEXT.fullmatch(value) and not value.isdigit() \
                and (dtypes.canonical(value) is not None or not _number_like(value)):
            return self.type_binding(e, name, m.end(), value)
        p = self.by_name.get(name)
        if e.text[m.end():].strip() in ("null", "nullptr", "NULL"):
            return self.null(e, name, p, m.end())
        if p is not None and p.is_pointer:
            self.error(e, 0, f"'{name}' is a pointer parameter: describe it with "
                             f"`@kf in {name}: {p.base_type}[LEN]` (or out/inout)")
            return
        if name in self.variables:
            self.error(e, 0, f"duplicate variable '{name}' (first at line "
                             f"{self.variables[name].line + 1})")
            return
        x = self.expr(e, m.end(), e.text[m.end():], f"variable '{name}'")
        self.variables[name] = Variable(name, x or "0", e.line)

    def null(self, e: _Entry, name: str, p: Param | None, off: int) -> None:
        """`@kf bias = null`: the kernel gets a null pointer for `bias` (its `bias != NULL` path)."""
        if p is None or not p.is_pointer:
            what = "not a parameter of the kernel" if p is None else f"`{p.type}`, not a pointer"
            return self.error(e, off, f"`null` is for pointer parameters: '{name}' is {what}")
        if name in self.nulls or name in self.buffers:
            first = self.nulls.get(name, self.buffers[name].line if name in self.buffers else e.line)
            return self.error(e, 0, f"'{name}' is described twice (first at line {first + 1})")
        self.nulls[name] = e.line

    def require(self, e: _Entry, off: int, rest: str) -> None:
        """`require C % 4 == 0`: a condition every problem size must meet."""
        lead = len(rest) - len(rest.lstrip())
        text = rest.strip()
        if not text:
            return self.error(e, off, "expected `require CONDITION`, e.g. `require C % 4 == 0` or `require n >= 32`")
        try:
            names(text, condition=True)
        except ExprError as err:
            return self.error(e, off + lead, f"`require`: {err}")
        self.requires.append((e, off + lead, Require(text, e.line)))

    def buffer(self, e: _Entry, role: str, off: int, rest: str) -> None:
        usage = f"expected `{role} NAME: TYPE[LEN]`"
        m = re.match(r"([A-Za-z_]\w*)\s*(:?)\s*", rest)
        if not m:
            return self.error(e, off, usage)
        name = m.group(1)
        if not m.group(2):
            return self.error(e, off + m.end(1), f"{usage}: missing ':' after '{name}'")
        t0 = off + m.end()
        body = rest[m.end():]
        lb = body.find("[")
        if lb < 0:
            return self.error(e, t0, f"buffer '{name}' needs a length: `{role} {name}: "
                                     f"{body.strip() or 'float'}[n]`")
        type_text = body[:lb].strip()
        rb = match_bracket(body, lb)
        if rb < 0:
            return self.error(e, t0 + lb, f"buffer '{name}': '[' without a matching ']'")
        inside = body[lb + 1:rb - 1]
        if inside.strip() == "?":
            self.error(e, t0 + lb + 1 + inside.index("?"),
                       f"length of '{name}' is a placeholder (`kf spec` could not tell how many "
                       f"elements the kernel uses): write it as an expression of the sizes, e.g. `[n]`")
            length = None
        else:
            length = self.expr(e, t0 + lb + 1, inside, f"length of '{name}'")
        low = high = start = None
        tail = body[rb:]
        toff = t0 + rb
        rest_tail = tail
        while rest_tail.strip():
            skip = len(rest_tail) - len(rest_tail.lstrip())
            toff += skip
            rest_tail = rest_tail.lstrip()
            rm = re.match(r"range\s+(.+?)\s*\.\.\s*(.+?)\s*(?=\bstart\s|$)", rest_tail)
            sm = re.match(r"start\s+(.+?)\s*(?=\brange\s|$)", rest_tail)
            if rm:
                low = self.expr(e, toff + rm.start(1), rm.group(1), f"range of '{name}'")
                high = self.expr(e, toff + rm.start(2), rm.group(2), f"range of '{name}'")
                if role == "out":
                    self.error(e, toff, f"`range` sets the generated values of inputs; '{name}' is "
                                        "`out` (its values are the kernel's): did you mean `start VALUE`?")
                self.ranges.append((e, toff, name, low, high))
                used = rm.end()
            elif sm:
                start = self.expr(e, toff + sm.start(1), sm.group(1), f"start value of '{name}'")
                if role != "out":
                    self.error(e, toff, f"`start` is for `out` buffers: '{name}' is `{role}` (its "
                                        "values are generated, or set with `range LOW..HIGH`)")
                used = sm.end()
            else:
                self.error(e, toff, f"unexpected `{rest_tail.strip()}` after the buffer: "
                                    "only `range LOW..HIGH` (inputs) or `start VALUE` (outputs) may follow")
                break
            toff += used
            rest_tail = rest_tail[used:]
        dtype = dtypes.canonical(type_text) if type_text else None
        if not type_text:
            self.error(e, t0, f"buffer '{name}' needs an element type: `{name}: float[...]`")
        elif dtype is None:
            self.error(e, t0, f"unknown element type '{type_text}': use {_TYPE_HINT}")
        p = self.by_name.get(name)
        if p is None:
            listed = ", ".join(self.by_name) or "none"
            self.error(e, off, f"'{name}' is not a parameter of the kernel (parameters: {listed})")
        elif not p.is_pointer:
            self.error(e, off, f"'{name}' is not a pointer: give it a value with "
                               f"`@kf {name} = ...`")
        else:
            pdt = dtypes.canonical(p.base_type)
            if pdt is None and p.base_type in self.template_params:
                self.typed_buffers.append((e, t0, name, p.base_type, type_text, dtype))
            elif pdt is None:
                pass  # a typedef or macro (`floatX`, `double RESTRICT`): checked against the type the
                # compiler sees under the project's flags when it compiles (backends/judge/harness.py)
            elif dtype is not None and pdt is not None and not dtypes.same_memory(dtype, pdt):
                self.error(e, t0, f"buffer '{name}' is {type_text} ({dtype}) but the parameter "
                                  f"is {p.type} ({pdt})")
            if role != "in" and p.is_const:
                self.error(e, 0, f"'{name}' is `{p.type}` (read-only): it cannot be `{role}`; "
                                 "make it `in` or drop the const")
        if name in self.buffers:
            return self.error(e, off, f"duplicate buffer '{name}' (first at line "
                                      f"{self.buffers[name].line + 1})")
        if name in self.nulls:
            return self.error(e, off, f"'{name}' is described twice (first at line {self.nulls[name] + 1}, `= null`)")
        self.buffers[name] = BufferSpec(name, role, dtype or type_text, length or "0",  # type: ignore[arg-type]
                                        low, high, e.line, start)

    def launch_line(self, e: _Entry, word: str, off: int, rest: str) -> None:
        a, b = _LAUNCH[self.language]
        if word not in (a, b):
            right = a if word in ("grid", "global") else b
            unit = {"grid": "in blocks", "block": "in threads",
                    "global": "in work-items", "local": "in work-items"}[right]
            return self.error(e, 0, f"`{word}` is for {_OTHER[self.language].upper()} kernels: "
                                    f"this is a {self.language.upper()} kernel, use "
                                    f"`{right}` ({unit})")
        if not self.once(e, word):
            return
        parts = split_top(rest)
        if len(parts) > 3:
            extra = parts[3][1]
            return self.error(e, off + parts[3][0] + len(extra) - len(extra.lstrip()),
                              f"`{word}` takes 1 to 3 dimensions")
        self.placeholder = False
        exprs = [self.expr(e, off + o, p, f"`{word}`") for o, p in parts]
        if all(x is not None for x in exprs):
            self.launch[word] = ([x for x in exprs if x], e.line)
        elif self.placeholder:  # reported once, at the placeholder: not also as a missing line
            self.launch[word] = ([x or "1" for x in exprs], e.line)

    def check(self, e: _Entry, off: int, rest: str) -> None:
        assignments: dict[str, str] = {}
        if not rest.strip():
            return self.error(e, off, "expected `check NAME = EXPR[, NAME = EXPR ...]`")
        for o, part in split_top(rest):
            lead = len(part) - len(part.lstrip())
            m = _VARIABLE.match(part.lstrip())
            if not m:
                return self.error(e, off + o + lead, f"expected `NAME = EXPR` in `check`, "
                                                     f"not `{part.strip()}`")
            name = m.group(1)
            x = self.expr(e, off + o + lead + m.end(), part.lstrip()[m.end():],
                          f"check value of '{name}'")
            if name in assignments:
                self.error(e, off + o + lead, f"'{name}' is set twice on this line")
            if x:
                assignments[name] = x
                self.exprs.append((e, off + o + lead, name, "check"))
        same = next((c for c in self.checks if c.assignments == assignments), None)
        if same is not None:
            return self.error(e, 0, f"the same check as line {same.line + 1}", "warning")
        self.checks.append(Check(assignments, e.line))

    def fixed_line(self, e: _Entry, off: int, rest: str) -> None:
        """`fixed NAME[, NAME]`: sizes kf must not vary (the kernel only works at that value)."""
        parts = split_top(rest) if rest.strip() else []
        if not parts:
            return self.error(e, off, "expected `fixed NAME[, NAME ...]`: variables kf keeps at "
                                      "their value (no derived sizes)")
        for o, part in parts:
            col = off + o + len(part) - len(part.lstrip())
            if not _IDENT.fullmatch(part.strip()):
                self.error(e, col, f"`fixed` takes variable names, not `{part.strip()}`")
            elif part.strip() in self.fixed:
                self.error(e, col, f"'{part.strip()}' is already fixed", "warning")
            else:
                self.fixed[part.strip()] = (e, col)

    def values_line(self, e: _Entry, off: int, rest: str) -> None:
        """`values special|finite|ordinary`: which special input values kf may feed the kernel."""
        if not self.once(e, "values"):
            return
        word = rest.strip()
        if word not in VALUES:
            return self.error(e, off, "expected `values special` (the default: wide magnitudes, zeros, subnormals, "
                                      "NaN and Inf), `values finite` (no NaN or Inf) or `values ordinary` (none)")
        self.values = word

    def reference_line(self, e: _Entry, off: int, rest: str) -> None:
        """`reference ref.py:func [precision=float64|float32|native]` or `reference task.py` (a
        KernelBench module). The Python file is read, never run, here (the editor parses specs)."""
        from backends.kernel.pyref import check_reference

        parts = rest.split()
        usage = "expected `reference FILE.py:FUNCTION` or `reference FILE.py` (a module with `Model` and `get_inputs`)"
        if not parts:
            return self.error(e, off, usage)
        target, precision = parts[0], "float64"
        col = off + len(rest) - len(rest.lstrip())
        for word in parts[1:]:
            wcol = off + rest.find(word)
            key, eq, value = word.partition("=")
            if key != "precision" or not eq:
                return self.error(e, wcol, f"unexpected `{word}` after the reference: only "
                                           "`precision=float64|float32|native` may follow")
            if value not in ("float64", "float32", "native"):
                return self.error(e, wcol + len(key) + 1, f"precision must be float64 (the default), float32 or "
                                                          f"native (the buffers' own types), not `{value}`")
            precision = value
        path, sep, function = target.rpartition(":")
        if not sep or not function.isidentifier():
            path, function = target, ""
        if not path.endswith(".py"):
            return self.error(e, col, f"the reference must be a Python file (`.py`), not `{path}`: {usage}")
        problem = check_reference(self.path, path, function or None)
        if problem is not None:
            self.error(e, col + (len(path) + 1 if problem[0] == "function" else 0), problem[1])
        self.reference = Reference(path, function or None, e.line, precision)

    def tol(self, e: _Entry, off: int, rest: str) -> None:
        if not self.once(e, "tol"):
            return
        usage = "expected `tol R` or `tol rtol=R atol=A`"
        if re.fullmatch(_NUMBER, rest.strip()):
            self.rtol = self.atol = self.number(e, off, rest.strip(), "tol")
            return
        items = list(re.finditer(r"([A-Za-z_]\w*)\s*=\s*(\S+?)(?:[\s,]+|$)", rest))
        covered = "".join(m.group() for m in items).replace(" ", "").replace(",", "")
        if not items or covered != rest.replace(" ", "").replace(",", ""):
            return self.error(e, off, usage)
        for m in items:
            key = m.group(1)
            if key not in ("rtol", "atol"):
                self.error(e, off + m.start(), f"unknown tolerance '{key}': {usage}")
                continue
            value = self.number(e, off + m.start(2), m.group(2), key)
            setattr(self, key, value)

    def number(self, e: _Entry, off: int, text: str, what: str) -> float | None:
        if not re.fullmatch(_NUMBER, text):
            self.error(e, off, f"{what} must be a number, not `{text}`")
            return None
        v = float(text)
        if v < 0:
            self.error(e, off, f"{what} must not be negative")
            return None
        return v

    def tune(self, e: _Entry, off: int, rest: str) -> None:
        m = _VARIABLE.match(rest)
        if not m:
            return self.error(e, off, "expected `tune NAME = V1, V2, ...`")
        name = m.group(1)
        if name in self.tunables:
            return self.error(e, off, f"duplicate tunable '{name}' (first at line "
                                      f"{self.tunables[name].line + 1})")
        if name in self.by_name:
            return self.error(e, off, f"'{name}' is a kernel parameter: tunables are "
                                      "compile-time constants (a #define, a constexpr or a "
                                      "template parameter)")
        values: list[int | float | str] = []
        for o, part in split_top(rest[m.end():]):
            col = off + m.end() + o + len(part) - len(part.lstrip())
            if not part.strip():
                self.error(e, col, f"tunable '{name}': empty value")
                continue
            v: int | float | str
            try:
                v = evaluate(part, {})
            except ExprError:
                if not _TYPE_TEXT.fullmatch(part.strip()):
                    self.error(e, col, f"tunable '{name}': values must be numbers or types, "
                                       f"not `{part.strip()}`")
                    continue
                v = " ".join(part.split())
            if values and isinstance(v, str) != isinstance(values[0], str):
                kind = "types" if isinstance(values[0], str) else "numbers"
                self.error(e, col, f"tunable '{name}': values must be {kind}, not `{part.strip()}` "
                                   "(a tunable takes numbers, or types: `tune T = float, half`)")
                continue
            if v in values:
                self.error(e, col, f"tunable '{name}': {v} is listed twice", "warning")
                continue
            values.append(v)
        if not values and rest[m.end():].strip() == "":
            self.error(e, off + m.end(), f"tunable '{name}' needs at least one value")
        if values:
            self.tunables[name] = Tunable(name, values, e.line)

    # -- the whole spec --------------------------------------------------------

    def _tunables_under(self, text: str, seen: frozenset[str] = frozenset()) -> set[str]:
        """The tunables an expression depends on, through the variables it names."""
        out: set[str] = set()
        for n in names(text):
            if n in self.tunables:
                out.add(n)
            elif n in self.variables and n not in seen:
                try:
                    out |= self._tunables_under(self.variables[n].expr, seen | {n})
                except ExprError:
                    pass
        return out

    def finish(self, entries: list[_Entry]) -> Spec:
        first = entries[0]
        for name in set(self.variables) & set(self.tunables):
            v = self.variables[name]
            self.diags.append(Diagnostic(self.path, v.line, 0, "error",
                                         f"'{name}' is both a variable and a tunable"))
        known = set(self.variables) | set(self.tunables) | {
            p.name for p in self.params if not p.is_pointer}
        for e, off, text, what in self.exprs:
            if what == "check":
                if text not in self.variables:
                    self.error(e, off, f"check sets '{text}', which is not a variable "
                                       f"(variables: {', '.join(self.variables) or 'none'})")
                continue
            for n in sorted(names(text)):
                if n in known:
                    continue
                col = off + (m.start() if (m := re.search(rf"\b{n}\b", text)) else 0)
                p = self.by_name.get(n)
                if p is not None and p.is_pointer:
                    self.error(e, col, f"{what}: '{n}' is a buffer, not a number")
                else:
                    hint = (f": list a #define or constexpr as `@kf tune {n} = VALUE`"
                            if n.isupper() else "")
                    self.error(e, col, f"{what}: unknown name '{n}' (not a variable, "
                                       f"tunable or parameter){hint}")
        for e, off, r in self.requires:
            for n in sorted(names(r.expr, condition=True)):
                if n not in known:
                    col = off + (m.start() if (m := re.search(rf"\b{n}\b", r.expr)) else 0)
                    self.error(e, col, f"`require`: unknown name '{n}' (not a variable, tunable or parameter)")
        for e, off, text, what in self.exprs:  # lengths are the contract: no tunable may move them
            if not what.startswith("length of"):
                continue
            moved = self._tunables_under(text)
            if moved:
                self.error(e, off, f"{what} depends on the tunable{'s' if len(moved) > 1 else ''} "
                                   f"{', '.join(sorted(moved))}: buffer lengths are the contract every variant "
                                   "keeps, so they cannot change with a tunable; write the length from the "
                                   "problem's sizes (e.g. `rows * cols`)")
        for name, value in list(self.types.items()):  # `N = n`: a value after all, not a type
            if value in self.variables or (value in self.by_name and not self.by_name[value].is_pointer):
                del self.types[name]
                self.variables.setdefault(name, Variable(name, value, self.type_lines[name]))
        self.check_types()
        for n, (e, col) in self.fixed.items():
            if n not in self.variables:
                self.error(e, col, f"`fixed {n}`: '{n}' is not a variable (variables: "
                                   f"{', '.join(self.variables) or 'none'})")
        self.cycles()
        for i, p in enumerate(self.params):
            if not p.name:
                self.error(first, 0, f"parameter {i + 1} (`{p.type}`) has no name: name it "
                                     "so the spec can describe it")
            elif p.is_pointer and p.name not in self.buffers and p.name not in self.nulls:
                role = "in" if p.is_const else "out"
                self.error(first, 0, f"parameter '{p.name}' has no buffer: add "
                                     f"`// @kf {role} {p.name}: {p.base_type}[LEN]`")
            elif not p.is_pointer and p.name not in self.variables:
                self.error(first, 0, f"parameter '{p.name}' has no value: add "
                                     f"`// @kf {p.name} = ...`")
        a, b = _LAUNCH[self.language]
        launch = None
        if a in self.launch and b in self.launch:
            grid, gline = self.launch[a]
            block, _ = self.launch[b]
            if self.language == "sycl" and len(grid) != len(block):
                self.diags.append(Diagnostic(self.path, gline, 0, "error",
                                             f"`global` has {len(grid)} dimension(s) but "
                                             f"`local` has {len(block)}"))
            shared = self.shared[0] if self.shared else "0"
            launch = Launch(grid, block, shared, gline)
        elif self.range_launch and a in self.launch:
            # a SYCL `range` launch: the work-group size is kf's to choose (`local` may set it)
            grid, gline = self.launch[a]
            launch = Launch(grid, [], self.shared[0] if self.shared else "0", gline)
        elif a in self.launch or b in self.launch:
            have, missing = (a, b) if a in self.launch else (b, a)
            self.diags.append(Diagnostic(self.path, self.launch[have][1], 0, "error",
                                         f"`{have}` needs a `{missing}` line: add "
                                         f"`// @kf {missing} ...`"))
        elif self.range_launch:
            self.error(first, 0, f"no launch shape: add `// @kf {a} ...` (the range the kernel is "
                                 "launched over)")
        elif not any(d.message.startswith(f"`{w}`") for d in self.diags for w in _LAUNCH[_OTHER[self.language]]):
            self.error(first, 0, f"no launch shape: add `// @kf {a} ...` and `// @kf {b} ...`")
        last = entries[-1]
        spec = Spec(
            buffers=[self.buffers[p.name] for p in self.params if p.name in self.buffers]
            + [bf for n, bf in self.buffers.items() if n not in {p.name for p in self.params}],
            variables=list(self.variables.values()), launch=launch,
            tunables=list(self.tunables.values()), checks=self.checks,
            rtol=self.rtol, atol=self.atol, bytes=self.bytes, flops=self.flops,
            range=Range(Position(first.line, 0), Position(last.line, last.col + len(last.text))),
            fixed=[n for n in self.fixed if n in self.variables],
            values=self.values,
            requires=[r for _, _, r in self.requires],
            nulls=[p.name for p in self.params if p.name in self.nulls],
            types=dict(self.types), flags=list(self.flags),
            reference=self.reference,
        )
        if not any(d.severity == "error" for d in self.diags):
            self.try_values(spec)
        return spec

    def check_types(self) -> None:
        """Buffers typed by a template parameter (`T* x`) agree with its binding; a type
        that decides a buffer's element type is the contract, so it cannot be tuned."""
        for name in self.types:
            if name in self.tunables:
                self.error(_Entry(self.type_lines[name], 0, ""), 0,
                           f"'{name}' is both bound (`{name} = ...`) and tuned (`tune {name} = ...`)")
        for e, col, buf, tparam, type_text, dtype in self.typed_buffers:
            t = self.tunables.get(tparam)
            if t is not None and any(isinstance(v, str) for v in t.values):
                self.error(e, col, f"buffer '{buf}' has element type {tparam}, which is tuned: buffers are the "
                                   f"contract every variant keeps; bind it with `@kf {tparam} = {type_text}` instead")
                continue
            bound = self.types.get(tparam)
            if bound is None:
                continue
            bdt = dtypes.canonical(bound)
            if bdt is not None and dtype is not None and not dtypes.same_memory(bdt, dtype):
                self.error(e, col, f"buffer '{buf}' is {type_text} ({dtype}) but {tparam} is bound to "
                                   f"{bound} ({bdt}) at line {self.type_lines[tparam] + 1}")

    def cycles(self) -> None:
        deps = {}
        for v in self.variables.values():
            try:
                deps[v.name] = names(v.expr) & set(self.variables)
            except ExprError:
                deps[v.name] = set()
        reported: set[str] = set()
        for start in deps:
            path, seen = [start], {start}
            # walk every path from `start`; report a cycle that returns to it
            stack = [(start, iter(sorted(deps[start])))]
            while stack:
                node, it = stack[-1]
                nxt = next(it, None)
                if nxt is None:
                    stack.pop()
                    path.pop()
                    continue
                if nxt == start and start not in reported:
                    cycle = path + [start]
                    reported.update(cycle)
                    v = self.variables[start]
                    self.diags.append(Diagnostic(self.path, v.line, 0, "error",
                                                 "variables depend on each other: "
                                                 + " -> ".join(cycle)))
                elif nxt not in seen:
                    seen.add(nxt)
                    path.append(nxt)
                    stack.append((nxt, iter(sorted(deps[nxt]))))

    def try_values(self, spec: Spec) -> None:
        """Evaluate everything once with the default sizes and first tunable values, so a
        `7 / 2` or a fractional length is reported while the user is typing it."""
        try:
            env = resolve(spec)
        except ExprError as err:
            v = next((v for v in spec.variables if v.name == err.variable), None)
            self.diags.append(Diagnostic(self.path, v.line if v else spec.range.start.line, 0,  # type: ignore[union-attr]
                                         "error", str(err)))
            return
        items: list[tuple[int, str, str, bool]] = [
            (b.line, f"length of '{b.name}'", b.length, True) for b in spec.buffers]
        if spec.launch:
            for x in spec.launch.grid + spec.launch.block + [spec.launch.shared]:
                items.append((spec.launch.line, "launch", x, True))
        for what, x in (("`bytes`", spec.bytes), ("`flops`", spec.flops)):
            if x:
                items.append((spec.range.start.line, what, x, False))
        for line, what, x, whole in items:
            try:
                value = evaluate(x, env)
            except ExprError as err:
                self.diags.append(Diagnostic(self.path, line, 0, "error",
                                             f"{what}: {err} (with the default sizes)"))
                continue
            if whole and (not isinstance(value, int) or value < 0):
                self.diags.append(Diagnostic(self.path, line, 0, "error",
                                             f"{what} is {value} with the default sizes: "
                                             "it must be a whole number >= 0"))
        for e, col, name, low, high in self.ranges:
            b = spec.buffer(name)
            if b is None or low is None or high is None or dtypes.canonical(b.dtype) is None:
                continue
            try:
                value_range(b.dtype, evaluate(low, env), evaluate(high, env))
            except ExprError as err:
                self.error(e, col, f"range of '{name}': {err} (with the default sizes)")
            except RangeError as err:
                self.error(e, col, f"'{name}': {err}")
        for b in spec.buffers:
            if b.start is None or dtypes.canonical(b.dtype) is None:
                continue
            try:
                start_value(b.dtype, evaluate(b.start, env))
            except ExprError as err:
                self.diags.append(Diagnostic(self.path, b.line, 0, "error",
                                             f"start value of '{b.name}': {err}"))
            except RangeError as err:
                self.diags.append(Diagnostic(self.path, b.line, 0, "error", f"'{b.name}': {err}"))
        self.check_requires(spec, env)
        if self.language == "sycl" and spec.launch and len(spec.launch.grid) == len(spec.launch.block) \
                and not self.range_launch:  # a range launch is rounded up to whole work-groups by kf
            try:
                g = [evaluate(x, env) for x in spec.launch.grid]
                loc = [evaluate(x, env) for x in spec.launch.block]
            except ExprError:
                return
            for d, (gv, lv) in enumerate(zip(g, loc)):
                if isinstance(gv, int) and isinstance(lv, int) and lv > 0 and gv % lv:
                    self.diags.append(Diagnostic(
                        self.path, spec.launch.line, 0, "error",
                        f"`global` is {gv} work-items in dimension {d}, not a multiple of the work-group "
                        f"size `local` {lv}: write `roundup(..., {spec.launch.block[d]})` and guard the "
                        "extra work-items in the kernel"))


    def check_requires(self, spec: Spec, env: dict) -> None:
        """The spec's own sizes (the default and every `check` line) must meet its `require`
        lines: an error at the line whose sizes break one, naming the values."""
        if not self.requires:
            return
        sizes: list[tuple[int, str, dict]] = [(-1, "the default sizes", env)]
        for c in spec.checks:
            try:
                sizes.append((c.line, "this check's sizes", resolve(spec, c.assignments)))
            except ExprError:
                continue  # reported by the harness, with the check's line
        for line, what, values in sizes:
            for e, col, r in self.requires:
                try:
                    ok = holds(r.expr, values)
                except ExprError as err:
                    if line < 0:
                        self.error(e, col, f"`require {r.expr}`: {err} (with the default sizes)")
                    continue
                if ok:
                    continue
                shown = ", ".join(f"{n} = {values[n]}" for n in sorted(names(r.expr, condition=True)) if n in values)
                if line < 0:
                    self.error(e, col, f"{what} break `require {r.expr}` ({shown}): change the sizes or the condition")
                else:
                    self.diags.append(Diagnostic(self.path, line, 0, "error",
                                                 f"{what} break `require {r.expr}` (line {r.line + 1}; {shown})"))


def _number_like(text: str) -> bool:
    """True for a value that reads as a number expression of no names (`256`, `1 << 8`)."""
    try:
        return not names(text)
    except ExprError:
        return False


def _entries(lines: list[tuple[int, str]]) -> list[_Entry]:
    out = []
    for line, raw in lines:
        i = raw.find("@kf")
        col = 0 if i < 0 else i + 3
        body = raw[col:]
        close = body.find("*/")
        if close >= 0:
            body = body[:close]
        lead = len(body) - len(body.lstrip())
        if not body.strip():
            col, lead = max(i, 0), 0  # point at the marker of an empty entry
        out.append(_Entry(line, col + lead, body.strip()))
    return out


def parse_spec(lines: list[tuple[int, str]], path: str, params: list[Param],
               language: Language, template_params: Sequence[str] = (), range_launch: bool = False
               ) -> tuple[Spec | None, list[Diagnostic]]:
    """Read spec lines into a Spec, with diagnostics for everything wrong.

    `lines` are (0-based line number, the whole source line), e.g.
    (3, "// @kf in x: float[n]"): the entry starts after the first `@kf` and ends at the
    line end or at a `*/`. Passing the whole line gives diagnostics their real column. A
    line without `@kf` is read whole as one entry. Returns (None, []) for no lines,
    otherwise a best-effort Spec even when there are errors. `template_params` names the
    kernel's template parameters, so a `T*` parameter accepts any buffer type.
    `range_launch`: a SYCL kernel launched over a `range`, for which `global` alone is a
    launch shape (kf picks the work-group; a `local` line may set it).
    """
    entries = _entries(lines)
    if not entries:
        return None, []
    p = _Parser(path, params, language, template_params, range_launch)
    for e in entries:
        p.entry(e)
    spec = p.finish(entries)
    p.diags.sort(key=lambda d: (d.line, d.column))
    return spec, p.diags


# ---------------------------------------------------------------------------
# Drafts
# ---------------------------------------------------------------------------

_SIZE_NAMES = re.compile(r"^(n|num|numel|nelem|nelems|n_?elements|size|len|length|count|total|"
                         r"elements|n_?items|items|nx)$", re.I)
_ROW_NAMES = ("M", "rows", "nrows", "num_rows", "height", "h", "ny", "H")
_COL_NAMES = ("N", "cols", "ncols", "num_cols", "width", "w", "nx", "W")
_DEPTH_NAMES = ("K", "depth", "nz", "D")
_BLOCK_NAMES = re.compile(r"^(BLOCK|BLOCK_SIZE|BLOCKSIZE|BS|TPB|THREADS|NTHREADS|BLOCK_DIM|"
                          r"WG|WG_SIZE|WGSIZE|TILE|THREADS_PER_BLOCK)$", re.I)


def draft_spec(kernel: KernelSource, comment: str = "//", text: str | None = None,
               path: str | None = None, files: list[tuple[str, str]] | None = None,
               include_dirs: list[str] | None = None) -> str:
    """The one drafter of `kf spec`, the editor's "Add spec" and MCP `draft_spec`.

    With the file's `text`: read from the host code that launches the kernel where there is
    one (backends/kernel/host_draft.py: the file, the files it includes, and `files`), else
    from the kernel's body (backends/kernel/draft.py). A draft always parses: what kf could
    not tell is a placeholder the parser rejects with a message saying what to write. Without
    `text`, inferred from the signature alone (sizes guessed from parameter names)."""
    if text is not None:
        from backends.kernel.draft import analyse, render
        from backends.kernel.host_draft import host_draft

        for attempt in ("host", "body"):
            try:
                if attempt == "host":
                    entries = host_draft(text, kernel, path or kernel.file, files, include_dirs)
                    if entries is None:
                        continue
                else:
                    entries = analyse(text, kernel).entries
            except Exception:  # a draft is a convenience: the next way of drafting
                if os.environ.get("KF_DEBUG_DRAFT"):
                    raise
                continue
            draft = render(_named(entries, kernel), comment)
            if _parses(draft, kernel):
                return draft
    ints = [p for p in kernel.params if not p.is_pointer
            and (dtypes.canonical(p.base_type) or "f").startswith(("i", "u"))]
    floats = [p for p in kernel.params if not p.is_pointer and p not in ints]
    int_names = [p.name for p in ints]
    rows = next((n for n in _ROW_NAMES if n in int_names), None)
    cols = next((n for n in _COL_NAMES if n in int_names), None)
    depth = next((n for n in _DEPTH_NAMES if n in int_names), None)
    two_d = rows is not None and cols is not None
    entries: list[str] = []
    values: dict[str, str] = {}
    size = None
    for p in ints:
        if two_d and p.name in (rows, cols, depth):
            values[p.name] = "1024"
        elif size is None and (_SIZE_NAMES.match(p.name) or not two_d and
                               not re.search(r"stride|step|inc|offset|ld|pitch|seed", p.name, re.I)):
            size = p.name
            values[p.name] = "1 << 20"
        elif re.search(r"offset|seed", p.name, re.I):
            values[p.name] = "0"
        elif two_d and re.search(r"^ld[a-z]?$|pitch|stride", p.name, re.I):
            values[p.name] = cols  # type: ignore[assignment]  # a row pitch
        else:
            values[p.name] = "1"
    extra_vars: list[str] = []
    if size is None and not two_d:
        size = "n" if "n" not in {p.name for p in kernel.params} else "n_elements"
        extra_vars.append(f"{size} = 1 << 20")
    pointers = [p for p in kernel.params if p.is_pointer]
    lengths: list[str] = []
    if two_d and depth and len(pointers) == 3:
        lengths = [f"{rows}*{depth}", f"{depth}*{cols}", f"{rows}*{cols}"]
    else:
        lengths = [f"{rows}*{cols}" if two_d else size] * len(pointers)  # type: ignore[list-item]
    for p, length in zip(pointers, lengths):
        role = "in" if p.is_const else "out"
        entries.append(f"{role:<3} {p.name}: {p.base_type}[{length}]")
    for p in kernel.params:
        if p.is_pointer:
            continue
        if p in floats:
            first_float = floats.index(p) == 0
            entries.append(f"{p.name} = {'1.5' if first_float else '0.5'}")
        else:
            entries.append(f"{p.name} = {values[p.name]}")
    entries += extra_vars
    block_t = next((t for t in kernel.template_params if _BLOCK_NAMES.match(t)), None)
    tb = block_t or ("16" if two_d else "256")
    if kernel.language == "cuda":
        if two_d:
            entries += [f"grid cdiv({cols}, {tb}), cdiv({rows}, {tb})", f"block {tb}, {tb}"]
        else:
            entries += [f"grid cdiv({size}, {tb})", f"block {tb}"]
    else:
        if two_d:
            entries += [f"global roundup({rows}, {tb}), roundup({cols}, {tb})",
                        f"local {tb}, {tb}"]
        else:
            entries += [f"global roundup({size}, {tb})", f"local {tb}"]
    if block_t:
        entries.append(f"tune {block_t} = " + ("8, 16, 32" if two_d else "64, 128, 256, 512"))
    if two_d:
        checks = [f"{rows} = 33", f"{cols} = 65"] + ([f"{depth} = 17"] if depth else [])
        entries.append("check " + ", ".join(checks))
    else:
        entries += [f"check {size} = 1000", f"check {size} = 4097"]
    if comment.startswith("/*"):
        return "/*\n" + "".join(f" * @kf {x}\n" for x in entries) + " */\n"
    return "".join(f"{comment} @kf {x}\n" for x in entries)


def _named(entries: list[str], kernel: KernelSource) -> list[str]:
    """An unnamed parameter gets a note saying to name it, never a `@kf  = 1.5` line."""
    out = [e for e in entries if not re.match(r"(?:in|out|inout)?\s*:|\s*=", e)]
    for i, p in enumerate(kernel.params):
        if not p.name:
            out.insert(0, f"// kf: parameter {i + 1} (`{p.type}`) has no name: name it so the spec can describe it")
    return out


def _parses(draft: str, kernel: KernelSource) -> bool:
    """A draft may hold placeholders (the parser says what to write there) and nothing else wrong."""
    lines = [(i, ln) for i, ln in enumerate(draft.splitlines()) if "@kf" in ln]
    extra = {"range_launch": True} if getattr(kernel, "range_launch", False) else {}  # SYCL `range`: no local
    _, diags = parse_spec(lines, kernel.file, kernel.params, kernel.language, kernel.template_params, **extra)
    bad = [d for d in diags if d.severity == "error" and "placeholder" not in d.message
           and "has no name" not in d.message and "unknown element type" not in d.message
           and "cannot generate data for" not in d.message]  # the parameter's own type: said at the line
    if bad and os.environ.get("KF_DEBUG_DRAFT"):
        raise AssertionError("a draft that does not parse: " + "; ".join(d.format() for d in bad) + "\n" + draft)
    return not bad


# ---------------------------------------------------------------------------
# Contracts
# ---------------------------------------------------------------------------


def _type_key(p: Param) -> tuple[str, bool, bool]:
    return (dtypes.canonical(p.base_type) or " ".join(p.base_type.split()), p.is_pointer,
            p.is_const if p.is_pointer else False)


def _norm(x: str | None) -> str:
    return "".join((x or "").split())


def check_contract(reference: KernelSource, candidate: KernelSource) -> list[str]:
    """What a candidate changed that a variant may not: the kernel's name, parameters,
    buffers, and the values given to scalar parameters. [] when the contract holds."""
    problems: list[str] = []
    if candidate.name != reference.name:
        problems.append(f"kernel name changed: '{reference.name}' -> '{candidate.name}'")
    if candidate.language != reference.language:
        problems.append(f"language changed: {reference.language} -> {candidate.language}")
    rp, cp = reference.params, candidate.params
    if len(rp) != len(cp):
        problems.append(f"parameter count changed: {len(rp)} -> {len(cp)} "
                        f"({', '.join(p.name for p in rp)} -> {', '.join(p.name for p in cp)})")
    for i, (a, b) in enumerate(zip(rp, cp)):
        if a.name != b.name:
            problems.append(f"parameter {i + 1} renamed: '{a.name}' -> '{b.name}'")
        if _type_key(a) != _type_key(b):
            problems.append(f"parameter {i + 1} '{a.name}' changed type: `{a.type}` -> `{b.type}`")
    rs, cs = reference.spec, candidate.spec
    if rs is None or cs is None:
        return problems
    for rb in rs.buffers:
        cb = cs.buffer(rb.name)
        if cb is None:
            continue  # omitted: the reference's entry applies
        for field, label in (("role", "role"), ("dtype", "type"), ("length", "length"),
                             ("low", "range"), ("high", "range"), ("start", "start value")):
            x, y = getattr(rb, field), getattr(cb, field)
            if _norm(x) != _norm(y):
                problems.append(f"buffer '{rb.name}' changed {label}: `{x}` -> `{y}`")
                break
    for cb in cs.buffers:
        if rs.buffer(cb.name) is None:
            problems.append(f"buffer '{cb.name}' is new: the reference has no such buffer")
    if sorted(rs.nulls) != sorted(cs.nulls):
        problems.append(f"null pointer arguments changed: {', '.join(rs.nulls) or 'none'} -> {', '.join(cs.nulls) or 'none'}")
    # variables that decide parameter values or buffer sizes are part of the contract
    ref_vars = {v.name: v.expr for v in rs.variables}
    scalar = {p.name for p in rp if not p.is_pointer}
    fixed: set[str] = set()
    todo = list(scalar) + [n for b in rs.buffers for x in (b.length, b.low, b.high) if x
                           for n in _safe_names(x)]
    while todo:
        n = todo.pop()
        if n in fixed or n not in ref_vars:
            continue
        fixed.add(n)
        todo.extend(_safe_names(ref_vars[n]))
    for v in cs.variables:
        if v.name in fixed and _norm(v.expr) != _norm(ref_vars[v.name]):
            problems.append(f"variable '{v.name}' changed: `{ref_vars[v.name]}` -> `{v.expr}` "
                            "(it sets a parameter or a buffer size)")
    return problems


def _safe_names(x: str) -> set[str]:
    try:
        return names(x)
    except ExprError:
        return set()
