"""Reading, drafting and comparing kernel specs (`// @kf ...` lines, docs/spec.md).

Spec lines are typed by people in an editor, so every problem becomes a Diagnostic at
the exact line and column of the offending token, with a message that says what to
write instead; parsing goes on after an error so one typo does not hide the rest.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from backends.kernel import dtypes
from backends.kernel.text import match_bracket, split_top
from backends.kernel.expressions import ExprError, names, resolve, evaluate
from backends.kernel.values import RangeError, start_value, value_range
from backends.model import (BufferSpec, Check, Diagnostic, KernelSource, Language, Launch, Param,
                    Position, Range, Spec, Tunable, Variable)

__all__ = ["parse_spec", "draft_spec", "check_contract", "KEYWORDS"]

_IDENT = re.compile(r"[A-Za-z_]\w*")
_VARIABLE = re.compile(r"([A-Za-z_]\w*)\s*=(?!=)\s*")
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"

_LAUNCH = {"cuda": ("grid", "block"), "sycl": ("global", "local")}
_OTHER = {"cuda": "sycl", "sycl": "cuda"}
KEYWORDS = ("in", "out", "inout", "grid", "block", "global", "local", "shared", "check",
            "fixed", "tol", "tune", "bytes", "flops", "begin", "end", "values")
VALUES = ("special", "finite", "ordinary")  # `@kf values ...`: the special input set (backends/judge/inputs.py)
_TYPE_HINT = "float, double, half, int, unsigned, int64_t, uint8_t... or f32, f64, f16, i32, u32, i64, u8"


@dataclass
class _Entry:
    line: int
    col: int  # column of text[0] in the file
    text: str


class _Parser:
    def __init__(self, path: str, params: list[Param], language: Language,
                 template_params: Sequence[str] = ()):
        self.path, self.params, self.language = path, params, language
        self.template_params = set(template_params)
        self.by_name = {p.name: p for p in params if p.name}
        self.diags: list[Diagnostic] = []
        self.buffers: dict[str, BufferSpec] = {}
        self.variables: dict[str, Variable] = {}
        self.tunables: dict[str, Tunable] = {}
        self.checks: list[Check] = []
        self.fixed: dict[str, tuple[_Entry, int]] = {}
        self.ranges: list[tuple[_Entry, int, str, str | None, str | None]] = []
        self.launch: dict[str, tuple[list[str], int]] = {}  # keyword -> (exprs, line)
        self.shared: tuple[str, int] | None = None
        self.rtol: float | None = None
        self.atol: float | None = None
        self.bytes: str | None = None
        self.flops: str | None = None
        self.values: str | None = None
        self.seen: dict[str, int] = {}  # single-occurrence keywords -> line
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
        elif word in ("begin", "end") and not rest:
            pass  # region markers, handled by the source scanner
        else:
            a, b = _LAUNCH[self.language]
            self.error(e, 0, f"unknown spec line `{word}`: expected `NAME = EXPR` or one of "
                             f"in, out, inout, {a}, {b}, shared, check, fixed, tol, tune, bytes, flops, values")

    def variable(self, e: _Entry, m: re.Match) -> None:
        name = m.group(1)
        p = self.by_name.get(name)
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
                pass  # `T*`: the spec's type says what T is instantiated with
            elif pdt is None and _IDENT.fullmatch(p.base_type):
                self.error(e, t0, f"cannot check that '{p.base_type}' is {type_text}: make "
                                  "sure it is", "warning")
            elif pdt is None:
                self.error(e, off, f"parameter '{name}' has element type '{p.base_type}', "
                                   f"which kf cannot generate data for (use {_TYPE_HINT})")
            elif dtype is not None and dtype != pdt:
                self.error(e, t0, f"buffer '{name}' is {type_text} ({dtype}) but the parameter "
                                  f"is {p.type} ({pdt})")
            if role != "in" and p.is_const:
                self.error(e, 0, f"'{name}' is `{p.type}` (read-only): it cannot be `{role}`; "
                                 "make it `in` or drop the const")
        if name in self.buffers:
            return self.error(e, off, f"duplicate buffer '{name}' (first at line "
                                      f"{self.buffers[name].line + 1})")
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
        exprs = [self.expr(e, off + o, p, f"`{word}`") for o, p in parts]
        if all(x is not None for x in exprs):
            self.launch[word] = ([x for x in exprs if x], e.line)

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
        values: list[int | float] = []
        for o, part in split_top(rest[m.end():]):
            col = off + m.end() + o + len(part) - len(part.lstrip())
            if not part.strip():
                self.error(e, col, f"tunable '{name}': empty value")
                continue
            try:
                v = evaluate(part, {})
            except ExprError:
                self.error(e, col, f"tunable '{name}': values must be numbers, "
                                   f"not `{part.strip()}`")
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
        for e, off, text, what in self.exprs:  # lengths are the contract: no tunable may move them
            if not what.startswith("length of"):
                continue
            moved = self._tunables_under(text)
            if moved:
                self.error(e, off, f"{what} depends on the tunable{'s' if len(moved) > 1 else ''} "
                                   f"{', '.join(sorted(moved))}: buffer lengths are the contract every variant "
                                   "keeps, so they cannot change with a tunable; write the length from the "
                                   "problem's sizes (e.g. `rows * cols`)")
        for n, (e, col) in self.fixed.items():
            if n not in self.variables:
                self.error(e, col, f"`fixed {n}`: '{n}' is not a variable (variables: "
                                   f"{', '.join(self.variables) or 'none'})")
        self.cycles()
        for i, p in enumerate(self.params):
            if not p.name:
                self.error(first, 0, f"parameter {i + 1} (`{p.type}`) has no name: name it "
                                     "so the spec can describe it")
            elif p.is_pointer and p.name not in self.buffers:
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
        elif a in self.launch or b in self.launch:
            have, missing = (a, b) if a in self.launch else (b, a)
            self.diags.append(Diagnostic(self.path, self.launch[have][1], 0, "error",
                                         f"`{have}` needs a `{missing}` line: add "
                                         f"`// @kf {missing} ...`"))
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
        )
        if not any(d.severity == "error" for d in self.diags):
            self.try_values(spec)
        return spec

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
        if self.language == "sycl" and spec.launch and len(spec.launch.grid) == len(spec.launch.block):
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
               language: Language, template_params: Sequence[str] = ()
               ) -> tuple[Spec | None, list[Diagnostic]]:
    """Read spec lines into a Spec, with diagnostics for everything wrong.

    `lines` are (0-based line number, the whole source line), e.g.
    (3, "// @kf in x: float[n]"): the entry starts after the first `@kf` and ends at the
    line end or at a `*/`. Passing the whole line gives diagnostics their real column. A
    line without `@kf` is read whole as one entry. Returns (None, []) for no lines,
    otherwise a best-effort Spec even when there are errors. `template_params` names the
    kernel's template parameters, so a `T*` parameter accepts any buffer type.
    """
    entries = _entries(lines)
    if not entries:
        return None, []
    p = _Parser(path, params, language, template_params)
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


def draft_spec(kernel: KernelSource, comment: str = "//", text: str | None = None) -> str:
    """A spec for `kf spec` and the editor's quick fix. With the file's `text`, drafted from
    the kernel's body so that it runs (backends/kernel/draft.py); without it, inferred from
    the signature alone (sizes guessed from parameter names), for the user to correct."""
    if text is not None:
        from backends.kernel.draft import draft_spec_for

        try:
            return draft_spec_for(text, kernel, comment)
        except Exception:  # a draft is a convenience: fall back to the signature's
            pass
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
