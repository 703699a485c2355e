"""Lifting a SYCL lambda or nd_item function kernel into a free-function kernel, the one
form the SYCL run-time compiler builds (backends/sycl, /work/shared/notes/sycl-on-cpu.md).

The compile unit is the user's own file, so helpers, structs, constants, macros and
includes come along as the user wrote them, and `#line` directives keep every diagnostic
on the user's lines. Three things change, none of them in the user's file:
- host functions the kernel does not need (`main`, the function holding the lambda, host
  helpers) are blanked out (their lines stay, empty), so host-only code and headers cannot
  break the compile and no other kernel of the file is built;
- each `#include` is guarded with `__has_include`: a header the compiler cannot find
  (dpct's, a project header outside the include path) is left out with a warning naming
  it, which matters only when the kernel needs it;
- the lifted kernel is appended: a free-function kernel whose parameters are what the
  lambda captures (a USM pointer or an accessor -> a pointer, a scalar -> a value), whose
  work-item comes from `sycl::ext::oneapi::this_work_item::get_nd_item<N>()`, and whose
  body is the lambda's body, verbatim, under a `#line` to its place in the user's file.
  An nd_item function gets a small kernel that calls it with the item.

A `range` launch becomes an nd_range: kf rounds the global size up to whole work-groups
and the extra work-items return before the body, so the kernel sees exactly the user's
range (its `id`/`item` included). What the lifted kernel needs per problem size beyond
the captures (the range, accessor extents, local memory sizes) are hidden arguments
appended after the captures, each a spec expression the harness evaluates.
"""

from __future__ import annotations

import re
from typing import Sequence

import msgspec

from backends.kernel import dtypes, syntax
from backends.kernel.expressions import ExprError, names, resolve, evaluate
from backends.kernel.sycl_forms import (SyclKernelForm, Variable, declarations_of, find_sycl_forms,
                                        function_params, lookup, range_extents, top_functions)
from backends.kernel.text import Lines, mask
from backends.model import Diagnostic, KernelSource, Spec

__all__ = ["HiddenArg", "Plan", "Lifted", "LiftError", "LIFTED_FORMS", "plan", "lift",
           "lifted_name", "find_form"]

LIFTED_FORMS = ("lambda", "nd_item_function")
_EXP = "sycl::ext::oneapi::experimental"
_THIS_ITEM = "sycl::ext::oneapi::this_work_item::get_nd_item"

_C_TYPES = {"f16": "sycl::half", "f32": "float", "f64": "double", "i8": "signed char",
            "u8": "unsigned char", "i16": "short", "u16": "unsigned short", "i32": "int",
            "u32": "unsigned int", "i64": "long long", "u64": "unsigned long long"}


class HiddenArg(msgspec.Struct, frozen=True):
    """A `size_t` argument the lifted kernel takes after the captures: its value at a
    problem size is the spec expression `expr`; `cap` is the most the compiled kernel has
    room for (local memory sized at compile time), None for no limit."""

    name: str
    expr: str
    cap: int | None = None
    what: str = ""  # for messages: "the range's dimension 0", "local accessor 's'"


class Plan(msgspec.Struct, frozen=True):
    """How the harness launches a lifted kernel."""

    dims: int
    range_launch: bool  # a `range` launch: kf picks the work-group and rounds the global size up
    hidden: list[HiddenArg] = []
    types: dict[str, str] = {}  # template type parameters -> the C++ types they are compiled with


class Lifted(msgspec.Struct, frozen=True):
    source: str  # the whole compile unit
    entry: str  # the lifted kernel's name expression ("ns::kf_lifted_vadd", "kf_lifted_run_1<double>")
    plan: Plan


class LiftError(Exception):
    """The kernel cannot be lifted: diagnostics at the user's lines say why and what to write."""

    def __init__(self, diagnostics: list[Diagnostic]):
        super().__init__(diagnostics[0].message if diagnostics else "cannot lift the kernel")
        self.diagnostics = diagnostics


def lifted_name(kernel_name: str) -> str:
    """The C++ name of the lifted kernel: `main#2` -> `kf_lifted_main_2`."""
    return "kf_lifted_" + re.sub(r"\W", "_", kernel_name)


def find_form(text: str, kernel: KernelSource) -> SyclKernelForm | None:
    """The lambda / nd_item function `kernel` describes, read again from `text`."""
    lines = Lines(text)
    at = lines.offset(kernel.name_range.start)
    forms = [f for f in find_sycl_forms(text, path=kernel.file) if f.name == kernel.name and f.form == kernel.form]
    return min(forms, key=lambda f: abs(f.name_span[0] - at), default=None)


# ---------------------------------------------------------------------------
# The plan: dimensions, range launch, hidden arguments
# ---------------------------------------------------------------------------


def _err(path: str, lines: Lines, offset: int, message: str) -> Diagnostic:
    p = lines.pos(offset)
    return Diagnostic(path, p.line, p.column, "error", message)


def _spec_expr(cxx: str) -> str | None:
    """A C++ size expression as a spec expression (`n / 2` -> `n // 2`), or None."""
    text = re.sub(r"(?<=\d)[uUlL]+\b", "", cxx.strip())
    text = re.sub(r"(?<![/])/(?![/])", "//", text)
    try:
        names(text)
    except ExprError:
        return None
    return text


class _Env:
    """The spec's sizes, for caps: the default and every `check` line."""

    def __init__(self, spec: Spec):
        self.spec = spec
        self.envs = []
        for overrides in [{}] + [c.assignments for c in spec.checks]:
            try:
                self.envs.append(resolve(spec, overrides))
            except ExprError:
                pass

    def known(self) -> set[str]:
        return {v.name for v in self.spec.variables} | {t.name for t in self.spec.tunables}

    def cap(self, expr: str) -> int | None:
        vals = []
        for env in self.envs:
            try:
                v = evaluate(expr, env)
            except ExprError:
                return None
            vals.append(int(v))
        return max(vals) if vals else None


def _local_locals(text: str, form: SyclKernelForm, v: Variable) -> set[str]:
    """Names in a local accessor's extents that are runtime values of the host function
    (not macros, globals or local constants that come along as constants)."""
    t = syntax.parse_code(text)
    consts = {c.name for c in form.variables if c.kind == "constant"}
    out = set()
    node = t.root.descendant_for_byte_range(t.byte(v.decl[0]), t.byte(v.decl[0]) + 1)
    for ext in v.extents:
        for n in re.findall(r"[A-Za-z_]\w*", ext):
            if n in consts or node is None:
                continue
            d = lookup(t, node, n)
            if d is not None and not ("constexpr" in d.qualifiers):
                out.add(n)
    return out


def plan(text: str, kernel: KernelSource, path: str | None = None,
         form: SyclKernelForm | None = None) -> Plan:
    """The launch plan of a lifted kernel; raises LiftError for what cannot be lifted."""
    path = path or kernel.file
    lines = Lines(text)
    form = form or find_form(text, kernel)
    if form is None:
        raise LiftError([Diagnostic(path, kernel.name_range.start.line, kernel.name_range.start.column,
                                    "error", f"kernel '{kernel.name}' is no longer where it was: find it again")])
    if form.problems:
        raise LiftError([_err(path, lines, off, msg) for off, msg in form.problems])
    spec = kernel.spec
    launch = spec.launch if spec is not None else None
    dims = form.dims or (len(launch.grid) if launch is not None else 0) or 1
    range_launch = form.range_launch
    if range_launch is None:
        range_launch = not (launch is not None and launch.block)
    hidden: list[HiddenArg] = []
    diags: list[Diagnostic] = []
    at = form.name_span[0]
    if range_launch:
        if launch is None:
            raise LiftError([_err(path, lines, at, f"kernel '{kernel.name}' has no `global` line: add "
                                                   "`// @kf global ...` (the range it is launched over)")])
        if len(launch.grid) != dims:
            raise LiftError([Diagnostic(path, launch.line, 0, "error",
                                        f"`global` has {len(launch.grid)} dimension(s) but the kernel's "
                                        f"range is {dims}-dimensional")])
        hidden += [HiddenArg(f"kf_range{d}", launch.grid[d], None, f"the range's dimension {d}")
                   for d in range(dims)]
        if form.offset:  # parallel_for(range, offset, ...): ids start at the offset
            env0 = _Env(spec) if spec is not None else None
            for d, off in enumerate(form.offset[:dims]):
                se = _spec_expr(off)
                if se is None or env0 is None or names(se) - env0.known():
                    raise LiftError([_err(path, lines, at, f"the offset `{off}` of the launch is not a spec "
                                                           "expression: add the variables it uses to the spec")])
                hidden.append(HiddenArg(f"kf_offset{d}", se, None, f"the offset's dimension {d}"))
    elif launch is not None and len(launch.grid) != dims:
        raise LiftError([Diagnostic(path, launch.line, 0, "error",
                                    f"`global` has {len(launch.grid)} dimension(s) but the kernel's "
                                    f"nd_range is {dims}-dimensional")])
    env = _Env(spec) if spec is not None else None
    variables = list(form.variables) if form.form == "lambda" else [v for _, v in form.local_args.values()]
    for v in variables:
        if v.kind == "accessor":
            if v.dims == 1:
                b = spec.buffer(v.name) if spec is not None else None
                hidden.append(HiddenArg(f"{v.name}__kf_e0", b.length if b is not None else "0", None,
                                        f"accessor '{v.name}'"))
                continue
            if len(v.extents) != v.dims:
                diags.append(_err(path, lines, v.uses, f"accessor '{v.name}' is {v.dims}-dimensional and kf "
                                                       "cannot read its buffer's range: declare the buffer "
                                                       "with `sycl::range<N>(...)` sizes"))
                continue
            for d, ext in enumerate(v.extents):
                se = _spec_expr(ext)
                unknown = (names(se) - env.known()) if se is not None and env is not None else {ext}
                if se is None or unknown:
                    diags.append(_err(path, lines, v.uses,
                                      f"accessor '{v.name}' is {v.dims}-dimensional: kf needs its buffer's "
                                      f"extent {d} `{ext}` as a spec expression"
                                      + (f"; add `// @kf {sorted(unknown)[0]} = ...`" if se is not None else "")))
                    continue
                hidden.append(HiddenArg(f"{v.name}__kf_e{d}", se, None, f"accessor '{v.name}'"))
        elif v.kind == "local":
            runtime = _local_locals(text, form, v)
            if not runtime:
                continue  # sized at compile time: no argument
            for d, ext in enumerate(v.extents):
                se = _spec_expr(_substitute(text, form, v, ext, env.known() if env is not None else set()))
                unknown = (names(se) - env.known()) if se is not None and env is not None else {ext}
                cap = env.cap(se) if se is not None and env is not None and not unknown else None
                if se is None or unknown or cap is None or cap <= 0:
                    diags.append(_err(path, lines, v.uses,
                                      f"local accessor '{v.name}' has {_plural(v.dims)} `{ext}`, which kf "
                                      "cannot size at compile time (the run-time compiler has no dynamic "
                                      "local memory): size it with a macro or constant, or make "
                                      f"{', '.join(sorted(unknown or {ext}))} a spec variable"))
                    continue
                hidden.append(HiddenArg(f"{v.name}__kf_e{d}", se, cap, f"local accessor '{v.name}'"))
    if diags:
        raise LiftError(diags)
    return Plan(dims=dims, range_launch=bool(range_launch), hidden=hidden, types=_infer_types(form, spec))


def _plural(dims: int) -> str:
    return "a size" if dims == 1 else "extents"


def _substitute(text: str, form: SyclKernelForm, v: Variable, ext: str, known: set[str],
                depth: int = 0) -> str:
    """`lws` -> `len` where the host declared `sycl::range<1> lws(len)`: a local accessor's
    extent written through host variables, down to names the spec can give."""
    if depth > 4:
        return ext
    t = syntax.parse_code(text)
    node = t.root.descendant_for_byte_range(t.byte(v.decl[0]), t.byte(v.decl[0]) + 1)
    out = ext
    for n in set(re.findall(r"[A-Za-z_]\w*", ext)) - known:
        d = lookup(t, node, n) if node is not None else None
        if d is None or d.init is None:
            continue
        if re.search(r"\brange\b", d.type_text) or (d.type_text.strip() == "auto" and
                                                      re.match(r"[\w:\s]*range\b", t.text_of(d.init))):
            if d.init.type in ("argument_list", "initializer_list", "parameter_list"):
                inner = [" ".join(t.text_of(a).split()) for a in d.init.named_children]
            else:
                inner = range_extents(t, d.init, d.node)
            if inner and len(inner) == 1 and inner[0] != n:
                out = re.sub(rf"\b{re.escape(n)}\b", f"({inner[0]})", out)
    return out if out == ext else _substitute(text, form, v, out, known, depth + 1)


# ---------------------------------------------------------------------------
# The compile unit
# ---------------------------------------------------------------------------


def _blank(text: str, a: int, b: int) -> str:
    return text[:a] + re.sub(r"[^\r\n]", " ", text[a:b]) + text[b:]


def _needed(code: str, t, roots: list[str], functions: dict[str, list]) -> set[str]:
    """Names of the file's functions reachable from `roots` (texts, comments and strings
    blanked) through function bodies (`code`: the file so blanked)."""
    need: set[str] = set()
    todo = [w for r in roots for w in re.findall(r"[A-Za-z_]\w*", r)]
    while todo:
        w = todo.pop()
        if w in need or w not in functions:
            continue
        need.add(w)
        for fn in functions[w]:
            a, b = t.span(fn)
            todo.extend(re.findall(r"[A-Za-z_]\w*", code[a:b]))
    return need


def _adapted(text: str, form: SyclKernelForm, path: str, prelude: str,
             before: Sequence[tuple[int, str]] = ()) -> str:
    """The user's file as the lifted kernel's compile unit: host functions it does not need
    blanked, includes guarded, tunable `#define`s after the includes; `#line` directives keep
    the user's line numbers."""
    t = syntax.parse_code(text)
    code = mask(text)
    functions = top_functions(t)
    kernel_text = code[form.body[0]:form.body[1]] if form.form == "lambda" else code[form.start:form.end]
    roots = [kernel_text] + [v.type + " " + v.elem for v in form.variables] + \
            [code[a:b] for a, b in form.usings] + [code[v.decl[0]:v.decl[1]] for v in form.variables
                                                   if v.kind in ("constant", "local")]
    for _, v in form.local_args.values():
        roots.append(code[v.decl[0]:v.decl[1]])
    # everything at namespace scope that is not a function keeps what it names, and so does
    # a function the parser could not read (it is kept whole)
    spans = sorted({t.span(f) for fs in functions.values() for f in fs if not f.has_error})
    rest, last = [], 0
    for a, b in spans:
        rest.append(code[last:a])
        last = max(last, b)
    rest.append(code[last:])
    roots.append("".join(rest))
    keep = _needed(code, t, roots, functions)
    out = text
    spans = []
    for name, fs in functions.items():
        if name in keep:
            continue
        for f in fs:
            if f.has_error:
                continue
            node = f.parent if f.parent is not None and f.parent.type == "template_declaration" else f
            spans.append(t.span(node))
    for a, b in sorted(spans, reverse=True):
        out = _blank(out, a, b)
    # includes, guarded; the tunables' #defines after the last one
    lines = out.split("\n")
    esc = path.replace("\\", "/").replace('"', '\\"')
    # SYCL 1.2.1 code names `cl::sycl`, which sycl/sycl.hpp no longer declares
    res: list[str] = ["#include <sycl/sycl.hpp>", "namespace cl { namespace sycl = ::sycl; }",
                      f'#line 1 "{esc}"']
    if lines and lines[0].startswith("\ufeff"):
        lines[0] = lines[0][1:]  # a byte-order mark is no C++
    last_include = max((i for i, ln in enumerate(lines) if re.match(r"\s*#\s*include\b", ln)), default=-1)
    for i, ln in enumerate(lines):
        m = re.match(r'\s*#\s*include\s*([<"][^>"]+[>"])', ln)
        if m and not ln.rstrip().endswith("\\"):
            header = m.group(1)
            early = "".join(d for j, d in before if j == i)
            if early:
                res.append(early.rstrip("\n"))
            alt = ""
            if header in ("<CL/sycl.hpp>",):
                alt = "#include <sycl/sycl.hpp>\nnamespace cl { namespace sycl = ::sycl; }\n"
            res.append(f"#if __has_include({header})")
            res.append(ln.rstrip("\r"))
            res.append("#else")
            res.append(alt + f'#line {i + 1} "{esc}"\n#warning "kf: {header[1:-1]} was not found: left '
                       f'out of the lifted kernel\'s compile unit (add its directory with `@kf flags -I...` '
                       'if the kernel needs it)"')
            res.append("#endif")
            if i == last_include and prelude:
                res.append(prelude.rstrip("\n"))
            res.append(f'#line {i + 2} "{esc}"')
            continue
        res.append(ln)
    body = "\n".join(res)
    if last_include < 0 and prelude:
        body = prelude + body
    return body


_SUPPORT = r"""
namespace kf_lift {
// A buffer or local accessor as a pointer and a range, for a kernel lifted from a lambda.
template <typename T, int D, sycl::access::address_space AS = sycl::access::address_space::global_space>
struct accessor {
  T *p;
  sycl::range<D> r;
  accessor(T *p, sycl::range<D> r) : p(p), r(r) {}
  size_t linear(sycl::id<D> i) const {
    size_t k = i[0];
    for (int d = 1; d < D; ++d) k = k * r[d] + i[d];
    return k;
  }
  T &operator[](sycl::id<D> i) const { return p[linear(i)]; }
  template <bool O> T &operator[](sycl::item<D, O> i) const { return p[linear(i.get_id())]; }
  template <int E = D, typename std::enable_if<E == 1, int>::type = 0>
  T &operator[](size_t i) const { return p[i]; }
  template <int E = D, typename std::enable_if<(E > 1), int>::type = 0>
  accessor<T, D - 1, AS> operator[](size_t i) const {
    sycl::range<D - 1> s = sub();
    return accessor<T, D - 1, AS>(p + i * s.size(), s);
  }
  template <int E = D, typename std::enable_if<(E > 1), int>::type = 0>
  sycl::range<D - 1> sub() const {
    if constexpr (D == 2) return sycl::range<1>(r[1]);
    else return sycl::range<2>(r[1], r[2]);
  }
  sycl::range<D> get_range() const { return r; }
  size_t size() const { return r.size(); }
  size_t get_count() const { return r.size(); }
  size_t byte_size() const { return r.size() * sizeof(T); }
  size_t get_size() const { return byte_size(); }
  T *get_pointer() const { return p; }
  template <sycl::access::decorated Dec = sycl::access::decorated::legacy>
  sycl::multi_ptr<T, AS, Dec> get_multi_ptr() const {
    return sycl::address_space_cast<AS, Dec>(p);
  }
  T *begin() const { return p; }
  T *end() const { return p + r.size(); }
};
}  // namespace kf_lift
"""


def _c_type(dtype: str) -> str:
    return _C_TYPES.get(dtype, "")


def _template_binding(form: SyclKernelForm, kernel: KernelSource, used: set[str],
                      types: dict[str, str], tunables: dict) -> tuple[str, list[str]] | None:
    """The template header the lifted kernel keeps (the enclosing function's parameters it
    uses) and their arguments; None when it needs none."""
    keep = [(k, n, d) for k, n, d in form.template_params if n in used]
    if not keep:
        return None
    header = "template <" + ", ".join(f"{k} {n}" for k, n, _ in keep) + ">"
    args = []
    for k, n, d in keep:
        if n in types:
            args.append(types[n])
        elif n in tunables:
            v = tunables[n]
            args.append(str(int(v)) if isinstance(v, (int, float)) and float(v).is_integer() else str(v))
        elif d is not None:
            args.append(d)
        else:
            return header, [f"<{n}?>"]
    return header, args


def _infer_types(form: SyclKernelForm, spec: Spec | None) -> dict[str, str]:
    """Type template parameters read from the spec: `T = double` lines (spec.types), else
    the type of a buffer whose pointer is `T*` (`@kf in A: double[n]` with `T* A`)."""
    out = dict(getattr(spec, "types", {}) or {}) if spec is not None else {}
    if spec is None:
        return out
    names_ = {n for k, n, _ in form.template_params if k in ("typename", "class")}
    for v in form.variables:
        if v.kind in ("pointer", "accessor") and v.elem in names_ and v.elem not in out:
            b = spec.buffer(v.name)
            if b is not None and _c_type(b.dtype):
                out[v.elem] = _c_type(b.dtype)
    return out


def lift(text: str, kernel: KernelSource, path: str, entry: str | None = None, prelude: str = "",
         tunables: dict | None = None, before: Sequence[tuple[int, str]] = ()) -> Lifted:
    """The compile unit of a lambda / nd_item function kernel (see the module's docstring).
    `entry` is the bound name expression for an nd_item function template (`k<float>`);
    `prelude` holds the tunables' `#define`s, `before` those that go above an include
    (Bound.before). Raises LiftError."""
    form = find_form(text, kernel)
    p = plan(text, kernel, path, form)
    assert form is not None
    lines = Lines(text)
    esc = path.replace("\\", "/").replace('"', '\\"')
    spec = kernel.spec
    types = _infer_types(form, spec)
    name = lifted_name(kernel.name)
    stmt_line = lines.pos(form.name_span[0]).line + 1
    body_a, body_b = form.body
    body_line = lines.pos(body_a).line
    line_start = lines.starts[body_line]
    need_support = False
    params: list[str] = []
    prologue: list[str] = []
    diags: list[Diagnostic] = []
    d = p.dims
    item_expr = f"{_THIS_ITEM}<{d}>()"
    hidden = {h.name: h for h in p.hidden}
    if p.range_launch:
        prologue.append(f"  sycl::nd_item<{d}> kf_nd = {item_expr};")
        cond = " || ".join(f"kf_nd.get_global_id({i}) >= kf_range{i}" for i in range(d))
        prologue.append(f"  if ({cond}) return;")
        rng = f"sycl::range<{d}>(" + ", ".join(f"kf_range{i}" for i in range(d)) + ")"
        if form.offset:
            off = f"sycl::id<{d}>(" + ", ".join(f"kf_offset{i}" for i in range(d)) + ")"
            gid = f"(kf_nd.get_global_id() + {off})"
            item_value = {"id": gid}.get(form.item_kind, f"sycl::detail::Builder::createItem<{d}, true>({rng}, {gid}, {off})")
        else:
            item_value = {"id": "kf_nd.get_global_id()",
                          "nd_item": "kf_nd"}.get(form.item_kind, f"sycl::detail::Builder::createItem<{d}, false>({rng}, kf_nd.get_global_id())")
    else:
        item_value = item_expr
    if form.form == "lambda":
        item_decl = form.item_type or "auto"
        if item_decl.rstrip().endswith("&"):
            prologue.append(f"  auto kf_item_value = {item_value};")
            item_value = "kf_item_value"
        used = set(re.findall(r"[A-Za-z_]\w*", text[body_a:body_b]))
        for v in form.variables:
            used |= set(re.findall(r"[A-Za-z_]\w*", v.type + " " + v.elem))
            if v.kind == "constant":
                used |= set(re.findall(r"[A-Za-z_]\w*", text[v.decl[0]:v.decl[1]]))
        for a, b in form.usings:
            prologue.append(f'#line {lines.pos(a).line + 1} "{esc}"')
            prologue.append(_line_text(text, lines, a, b))
        # constants first: local memory sizes and the rest may use them
        for v in sorted(form.variables, key=lambda v: v.kind != "constant"):
            vline = lines.pos(v.decl[0]).line + 1
            if v.kind == "pointer":
                ty = v.type
                if not ty:
                    b = spec.buffer(v.name) if spec is not None else None
                    ty = (f"{'const ' if b is not None and b.role == 'in' else ''}{_c_type(b.dtype)}*"
                          if b is not None and _c_type(b.dtype) else "")
                if not ty:
                    diags.append(_err(path, lines, v.uses, v.note or f"kf cannot tell the type of '{v.name}'"))
                    continue
                params.append(f"{ty} {v.name}")
            elif v.kind == "scalar":
                if not v.type:
                    diags.append(_err(path, lines, v.uses, v.note or f"kf cannot tell the type of '{v.name}'"))
                    continue
                params.append(f"{v.type} {v.name}")
            elif v.kind == "accessor":
                need_support = True
                elem = v.elem
                if not elem:
                    b = spec.buffer(v.name) if spec is not None else None
                    elem = _c_type(b.dtype) if b is not None else ""
                if not elem:
                    diags.append(_err(path, lines, v.uses, f"kf cannot tell the element type of accessor "
                                                           f"'{v.name}': describe it in the spec "
                                                           f"(`// @kf in {v.name}: float[N]`)"))
                    continue
                cv = f"const {elem}" if v.const else elem
                params.append(f"{cv}* {v.name}__kf")
                ext = ", ".join(f"{v.name}__kf_e{i}" for i in range(v.dims))
                prologue.append(f"  kf_lift::accessor<{cv}, {v.dims}> {v.name}({v.name}__kf, "
                                f"sycl::range<{v.dims}>({ext}));")
            elif v.kind == "local":
                need_support = True
                prologue += _local_lines(text, form, v, hidden, vline, esc)
            elif v.kind == "constant":
                a, b = v.decl
                prologue.append(f'#line {vline} "{esc}"')
                prologue.append(_line_text(text, lines, a, b))
        if form.item_name:
            prologue.append(f'#line {stmt_line} "{esc}"')
            prologue.append(f"  {item_decl if not item_decl.rstrip().endswith('&') else item_decl} "
                            f"{form.item_name} = {item_value};")
        body = re.sub(r"[^\t\r\n]", " ", text[line_start:body_a]) + text[body_a:body_b]
        call = [f'#line {body_line + 1} "{esc}"', body]
        tb = _template_binding(form, kernel, used, types, tunables or {})
        entry_args = ""
        header = ""
        if tb is not None:
            header, args = tb
            missing = [a for a in args if a.startswith("<") and a.endswith("?>")]
            if missing:
                n = missing[0][1:-2]
                diags.append(_err(path, lines, form.name_span[0],
                                  f"the kernel is inside the template '{form.function}' and uses its "
                                  f"parameter '{n}': bind it with `// @kf {n} = ...` (the type or value to "
                                  "compile it with, e.g. `float`)"))
            entry_args = "<" + ", ".join(args) + ">"
    else:
        # nd_item function: a kernel that calls it with the work-item
        t = syntax.parse_code(text)
        fnode = t.root.descendant_for_byte_range(t.byte(form.name_span[0]), t.byte(form.name_span[1]))
        fdef = syntax.enclosing(fnode, "function_definition")
        pnodes = function_params(fdef) if fdef is not None else []
        call_args = []
        for i, pn in enumerate(pnodes):
            if i == form.item_index:
                call_args.append("kf_item")
                continue
            if i in form.local_args:
                site, v = form.local_args[i]
                need_support = True
                prologue += _local_lines(text, form, v, hidden, lines.pos(v.decl[0]).line + 1, esc)
                call_args.append(site)
                continue
            ptext = t.text_of(pn)
            if pn.type == "optional_parameter_declaration":
                dv = pn.child_by_field_name("default_value")
                if dv is not None:
                    ptext = t.data[pn.start_byte:dv.start_byte].decode("utf-8", "replace").rstrip().rstrip("=").rstrip()
            pname = next((dd.name for dd in _param_decls(t, pn)), "")
            if not pname:
                diags.append(_err(path, lines, t.span(pn)[0], f"parameter {i + 1} of '{kernel.name}' has no "
                                                              "name: name it so the spec can describe it"))
                continue
            params.append(" ".join(ptext.split()))
            call_args.append(pname)
        if form.item_kind in ("", "nd_item") and not p.range_launch:
            prologue.append(f"  sycl::nd_item<{d}> kf_item = {item_expr};")
        else:
            prologue.append(f"  auto kf_item = {item_value};")
        fname = kernel.name
        header = ""
        entry_args = ""
        if form.template_params:
            header = "template " + form.template
            targs = ", ".join(n + ("..." if "..." in k else "") for k, n, _ in form.template_params)
            fname = f"{kernel.name}<{targs}>"
            if entry and "<" in entry:
                entry_args = entry[entry.index("<"):]
        call = [f'#line {stmt_line} "{esc}"', f"  {fname}({', '.join(call_args)});"]
    if diags:
        raise LiftError(diags)
    for h in p.hidden:
        if not any(pp.endswith(" " + h.name) for pp in params):
            params.append(f"size_t {h.name}")
    props = f"SYCL_EXT_ONEAPI_FUNCTION_PROPERTY(({_EXP}::nd_range_kernel<{d}>))"
    for extra in form.properties:
        props += f"\nSYCL_EXT_ONEAPI_FUNCTION_PROPERTY(({extra}))"
    ns_open = "".join(f"namespace {n} {{ " for n in form.namespaces if n)
    ns_close = "}" * len([n for n in form.namespaces if n])
    code = [
        "",
        f"// ---- kf: kernel '{kernel.name}' ({form.form.replace('_', ' ')}) lifted into a free-function kernel ----",
        f'#line {stmt_line} "{esc}"',  # whatever goes wrong in kf's code is told at the kernel
        "#include <sycl/sycl.hpp>",
        _SUPPORT if need_support else "",
        f'#line {stmt_line} "{esc}"',
        ns_open + (header + " " if header else "") + props,
        f"void {name}({', '.join(params)}) {{",
        *_scoped(form, params, prologue + call),
        "}",
        ns_close,
        "",
    ]
    source = _adapted(text, form, path, prelude, before) + "\n" + "\n".join(c for c in code if c is not None)
    qual = "::".join([n for n in form.namespaces if n] + [name])
    return Lifted(source=source, entry=qual + entry_args, plan=p)


def _scoped(form: SyclKernelForm, params: list[str], body: list[str]) -> list[str]:
    """The kernel's body, for a lambda in a member function inside a local class derived
    from that class, so the body finds the class's static members and types unqualified
    as it did in place."""
    if not form.scope_class or form.form != "lambda":
        return body
    names = [re.search(r"([A-Za-z_]\w*)\s*$", p).group(1) for p in params]
    return [f"  struct kf_scope : ::{form.scope_class} {{",
            f"    static void kf_run({', '.join(params)}) {{",
            *body,
            "    }",
            "  };",
            f"  kf_scope::kf_run({', '.join(names)});"]


def _param_decls(t, pn):
    return declarations_of(t, pn)


def _line_text(text: str, lines: Lines, a: int, b: int) -> str:
    """Text from the start of a's line through b, with what precedes `a` on its line blanked
    (so columns stay the user's)."""
    ls = lines.starts[lines.pos(a).line]
    return re.sub(r"[^\t\r\n]", " ", text[ls:a]) + text[a:b]


def _local_lines(text: str, form: SyclKernelForm, v: Variable, hidden: dict, vline: int, esc: str) -> list[str]:
    """Work-group local memory for a local accessor: a `work_group_static` array (sized at
    compile time, to the largest size the spec uses where the size is a run-time value)
    seen through an accessor of the size the host asked for."""
    names_ = [f"{v.name}__kf_e{d}" for d in range(v.dims)]
    if all(n in hidden for n in names_):
        cap = 1
        for n in names_:
            cap *= hidden[n].cap or 1
        size = str(cap)
        rng = ", ".join(names_)
    else:
        size = " * ".join(f"({e})" for e in v.extents)
        rng = ", ".join(f"({e})" for e in v.extents)
    elem = v.elem
    return [
        f'#line {vline} "{esc}"',
        f"  static {_EXP}::work_group_static<{elem}[{size}]> {v.name}__kf_local;",
        f"  kf_lift::accessor<{elem}, {v.dims}, sycl::access::address_space::local_space> "
        f"{v.name}(({elem} *)&{v.name}__kf_local, sycl::range<{v.dims}>({rng}));",
    ]
