"""Reading the host code around a kernel: where it is launched, with which values, on what memory.

A person writing a spec reads the code that allocates the buffers and launches the kernel
first; this module does the same for `kf spec`. On the tree-sitter syntax tree of the file
(and the files it includes) it finds the kernel's launch sites (`k<<<grid, block, smem>>>`,
`cudaLaunchKernel`, a launch through a function pointer, SYCL `parallel_for` over a `range`
or `nd_range`) and follows simple host dataflow back from them: declarations and the
assignments that reach the launch, constants and `#define`s, sizes read from the command
line with a default (`argc > 1 ? atoi(argv[1]) : 1024`), function parameters through the
function's first caller, single-`return` helpers (`ceil_div`), function-like macros, `dim3` /
`sycl::range` values, arrays indexed by a loop's first value, and the allocations behind
pointer arguments (`cudaMalloc`, `malloc`, `new[]`, `std::vector`, `malloc_device` and
friends, `sycl::buffer` and its accessors, `thrust::device_vector`), offsets included.

Why a parser and not the hand-written scanner: host code is C++ as people write it (lambdas
stored in variables, templates deduced from arguments, `dim3 b(BLOCK);` that the language
itself reads as a function declaration, launches through function pointers, `#if` inside an
argument list). The scanner only needs a kernel's signature; following values across scopes,
calls and declarations needs a syntax tree, and tree-sitter (the CUDA grammar, a superset of
C++, already kf's dependency) gives one that tolerates broken code, with no compiler or
include paths needed (libclang would need both to give a tree at all).

Every value is a spec expression over *leaves*: named program constants (`int B = 8;`,
`#define N 1024`, `constexpr int TILE = 32`), or the reason it could not be followed.
Nothing is guessed here: a value kf cannot follow is `Val(None, why)`, and the drafter turns
it into a `[?]` or a documented choice.
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from backends.kernel import syntax
from backends.kernel.run_line import RunLine, run_line
from backends.kernel.preprocess import active_text, expand_launch_macros, launch_macros, macros_of
from backends.kernel.simplify import negate

__all__ = ["Val", "Leaf", "Site", "Host", "type_size"]

# element sizes of the types host code takes `sizeof` of (vector types included)
_SIZES = {
    "char": 1, "signed char": 1, "unsigned char": 1, "bool": 1, "int8_t": 1, "uint8_t": 1, "char4": 4, "uchar4": 4,
    "short": 2, "unsigned short": 2, "int16_t": 2, "uint16_t": 2, "half": 2, "__half": 2, "sycl::half": 2,
    "__nv_bfloat16": 2, "nv_bfloat16": 2, "bfloat16": 2, "sycl::ext::oneapi::bfloat16": 2, "_Float16": 2,
    "half2": 4, "__half2": 4, "__nv_bfloat162": 4,
    "int": 4, "unsigned": 4, "unsigned int": 4, "float": 4, "int32_t": 4, "uint32_t": 4, "uint": 4,
    "long": 8, "unsigned long": 8, "long long": 8, "unsigned long long": 8, "int64_t": 8, "uint64_t": 8,
    "size_t": 8, "std::size_t": 8, "double": 8, "ptrdiff_t": 8, "long int": 8, "long long int": 8,
    "float2": 8, "int2": 8, "uint2": 8, "double2": 16, "float4": 16, "int4": 16, "uint4": 16, "double4": 32,
    "cl_int": 4, "cl_uint": 4, "cl_float": 4, "cl_double": 8, "cl_long": 8, "cl_ulong": 8, "cl_short": 2,
    "cl_ushort": 2, "cl_char": 1, "cl_uchar": 1, "cl_half": 2,
    "float3": 12, "int3": 12,
}
_VEC = re.compile(r"^(?:sycl::)?(?:vec\s*<\s*([\w:\s]+?)\s*,\s*(\d+)\s*>|(char|uchar|short|ushort|int|uint|long|ulong|"
                  r"float|double|half)(\d+))$")
_CEIL = re.compile(r"^(?:ceil_?div|cdiv|div_?up|divup|i_?div_?up|DIV_?UP|CEIL_?DIV|DIVUP|ceildiv|div_round_up|"
                   r"DIV_ROUND_UP|round_up_div|CeilDiv|ceilDiv|DivUp|iDivUp)$", re.I)
_ARGV = re.compile(r"\b(?:argv|optarg)\b")
_PARSE_FNS = re.compile(r"^(?:std::)?(?:atoi|atol|atoll|atof|stoi|stol|stoll|stoul|stoull|stof|stod|strtol|strtoul|"
                        r"strtoll|strtoull|strtod|strtof)$")
_MIN_MAX = {"min": "min", "max": "max", "std::min": "min", "std::max": "max", "fmin": "min", "fmax": "max",
            "fminf": "min", "fmaxf": "max", "sycl::min": "min", "sycl::max": "max", "MIN": "min", "MAX": "max",
            "umin": "min", "umax": "max"}


GUESS = "1024"  # a size kf cannot read from the program (its command line, the device): chosen by the drafter
_INT_TYPE = re.compile(r"\b(int|unsigned|long|short|size_t|int32_t|int64_t|uint32_t|uint64_t|ptrdiff_t|auto|uint|"
                       r"index_t|IndexType|std::size_t)\b")


def type_size(type_text: str, typedefs: dict[str, str] | None = None) -> int | None:
    """Bytes of a C/C++/CUDA/SYCL type as `sizeof` gives them (None: unknown)."""
    t = " ".join(re.sub(r"\b(const|volatile|struct|typename)\b", " ", type_text).split())
    for _ in range(8):
        if t in _SIZES:
            return _SIZES[t]
        if t.endswith("*"):
            return 8
        m = _VEC.match(t)
        if m:
            base, n = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
            base = {"uchar": "unsigned char", "ushort": "unsigned short", "uint": "unsigned int",
                    "ulong": "unsigned long"}.get(base.strip(), base.strip())
            size = type_size(base, typedefs)
            return size * (4 if n == "3" else int(n)) if size else None
        short = t.split("::")[-1] if t.startswith(("std::", "sycl::", "::", "cl::")) else None
        if short and short in _SIZES:
            return _SIZES[short]
        if typedefs and t in typedefs and typedefs[t] != t:
            t = " ".join(typedefs[t].split())
            continue
        return None
    return None


@dataclass(frozen=True)
class Val:
    """A host value: a spec expression over leaves (`B * T`), or None with the reason."""

    expr: str | None
    why: str = ""
    is_float: bool = False
    parts: tuple["Val", ...] | None = None  # dim3 / sycl::range / an initializer list
    array: tuple[object, ...] | None = None  # the element nodes of an array's initializer (with its Host file)

    @property
    def known(self) -> bool:
        return self.expr is not None

    def part(self, i: int) -> "Val":
        if self.parts is not None:
            return self.parts[i] if i < len(self.parts) else Val("1")
        return self if i == 0 else Val("1")


# queries of the device's limits: a launch size computed from one differs from device to device
_DEVICE_QUERY = re.compile(
    r"get_info\s*<\s*[\w:]*info::device::\w+\s*>\s*\(\s*\)|\bget_max_sub_group_size\s*\(\s*\)"
    r"|\bcudaGetDeviceProperties\w*|\bcudaDeviceGetAttribute\b|\bcudaOccupancy\w+|\bcuDeviceGetAttribute\b"
    r"|\.\s*(?:maxThreadsPerBlock|warpSize|multiProcessorCount|maxThreadsDim|sharedMemPerBlock\w*|"
    r"maxThreadsPerMultiProcessor|regsPerBlock)\b")
_DEVICE_OUT = re.compile(r"\b(?:cudaDeviceGetAttribute|cudaGetDeviceProperties\w*|cudaOccupancy\w+|"
                         r"cuDeviceGetAttribute)\s*\([^;]*")


def _base(path: str) -> str:
    return os.path.basename(path)


def _unknown(why: str) -> Val:
    return Val(None, why)


@dataclass
class Leaf:
    """A named program constant a value depends on: a spec variable of the draft."""

    name: str  # unique among leaves
    value: str  # a constant spec expression
    origin: str  # where it comes from, for the draft's comments
    file: str
    line: int  # 0-based
    compile_time: bool = False  # a #define / constexpr / template argument: kernel code may use it by name
    guessed: bool = False  # read from the command line with no default: kf chose the value
    is_float: bool = False
    source_name: str = ""  # the name in the program
    given_by: str = ""  # read from the command line, its value from how the project runs it (run_line.py)


@dataclass
class Site:
    """One launch of the kernel."""

    file: str
    line: int  # 0-based
    kind: str  # "cuda" | "nd_range" | "range"
    grid: list[Val]  # CUDA: blocks (x first); SYCL: global work-items (dimension 0 first)
    block: list[Val]  # CUDA: threads; SYCL: local work-items ([] for a `range` launch)
    shared: Val | None  # dynamic shared memory in bytes (CUDA's third launch argument)
    args: list[object]  # the argument nodes, one per kernel parameter (CUDA and nd_item functions)
    template_args: list[str]  # `k<32, float><<<...>>>`
    node: object = None  # the launch's call node
    host: "Host | None" = None
    lambda_node: object = None  # SYCL: the kernel lambda
    local_memory: list[tuple[str, Val]] = field(default_factory=list)  # SYCL local accessors: (name, bytes)


@dataclass
class _File:
    path: str
    tree: syntax.Tree


@dataclass
class _Decl:
    """A declaration of a name: the node holding its value, and where it is."""

    name: str
    file: _File
    node: object  # the declarator / parameter / preproc_def node
    value: object | None  # the initializer node (None: none)
    kind: str  # "var", "param", "define", "macro", "loop", "array", "ctor"
    type_text: str = ""
    scope: object = None  # the node whose subtree sees it
    compile_time: bool = False


class Host:
    """The host code of one file and the files it includes, read for one kernel's draft."""

    def __init__(self, path: str, text: str, extra: list[tuple[str, str]] | None = None,
                 include_dirs: list[str] | None = None,
                 workspace: Callable[[], list[tuple[str, str]]] | None = None):
        raw: list[tuple[str, str]] = [(path, text)]
        seen = {os.path.abspath(path)}
        for p, t in extra or []:
            if os.path.abspath(p) not in seen:
                seen.add(os.path.abspath(p))
                raw.append((p, t))
        self._include_dirs = list(include_dirs or [])
        self._includes(path, text, seen, self._include_dirs, 0, raw)
        self._raw, self._seen = raw, seen
        # the project's other files (where a wrapper's callers may be), read only when a
        # parameter of a function has no caller in these files
        self._workspace = workspace
        macros = macros_of(raw)
        # `#if` branches the file's own macros rule out are blanked (offsets kept), so a call
        # split by `#if PREBUILD_KERNEL ... #endif` still parses as one call; uses of macros
        # that launch a kernel are written out on their line (`in_macro` says where)
        self.in_macro: dict[tuple[str, int], list[tuple[str, str, int]]] = {}
        self._launching = launch_macros(raw)
        self.files: list[_File] = [_File(p, syntax.parse(self._readable(p, t, macros))) for p, t in raw]
        self.leaves: dict[tuple[str, int], Leaf] = {}  # (file, byte) of the declaration -> leaf
        self._leaf_names: dict[str, tuple[str, int]] = {}
        self._visiting: set[tuple[int, str]] = set()
        self._synthetic: list[tuple[_File, object]] = []  # parsed macro bodies and inlined returns, and where used
        self.defines = self._defines()
        self.typedefs = self._typedefs()

    # -- files ------------------------------------------------------------------------------

    def _includes(self, path: str, text: str, seen: set[str], dirs: list[str], depth: int,
                  out: list[tuple[str, str]]) -> None:
        """`#include "x.h"` files next to the file (or in the include dirs), not system headers."""
        if depth > 3:
            return
        here = os.path.dirname(os.path.abspath(path))
        for m in re.finditer(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"', text, re.M):
            for d in [here] + [os.path.join(here, x) if not os.path.isabs(x) else x for x in dirs]:
                cand = os.path.abspath(os.path.join(d, m.group(1)))
                if cand in seen or not os.path.isfile(cand):
                    continue
                try:
                    if os.path.getsize(cand) > 2_000_000:
                        continue
                    with open(cand, encoding="utf-8", errors="replace") as f:
                        t = f.read()
                except OSError:
                    continue
                seen.add(cand)
                out.append((cand, t))
                self._includes(cand, t, seen, dirs, depth + 1, out)
                break

    def _load_workspace(self) -> bool:
        """Add the project's other files (and the headers they include) once; True when any was new."""
        loader, self._workspace = self._workspace, None
        if loader is None:
            return False
        start = len(self._raw)
        for p, t in loader():
            if os.path.abspath(p) in self._seen:
                continue
            self._seen.add(os.path.abspath(p))
            self._raw.append((p, t))
            self._includes(p, t, self._seen, self._include_dirs, 1, self._raw)
        if len(self._raw) == start:
            return False
        macros = macros_of(self._raw)
        self._launching = launch_macros(self._raw)
        self.files += [_File(p, syntax.parse(self._readable(p, t, macros))) for p, t in self._raw[start:]]
        self._call_index = self._function_index = None
        return True

    def _readable(self, path: str, text: str, macros) -> str:
        """The text tree-sitter reads: `#if` branches decided, launching macros written out."""
        text, where = expand_launch_macros(active_text(text, macros, path), self._launching)
        for line, names in where.items():
            self.in_macro[(path, line)] = [(n, self._launching[n][2], self._launching[n][3]) for n in names]
        return text

    def _file_of(self, node) -> _File:
        root = node.tree.root_node if hasattr(node, "tree") else node
        if not hasattr(node, "tree"):
            while root.parent is not None:
                root = root.parent
        for f in self.files:
            if f.tree.root == root:
                return f
        for f, _ in self._synthetic:
            if f.tree.root == root:
                return f
        return self.files[0]

    def _calls_by_name(self) -> dict[str, list]:
        """Every call expression of the files, by called name (built once)."""
        index = getattr(self, "_call_index", None)
        if index is None:
            index = {}
            for f in self.files:
                for n in syntax.walk(f.tree.root):
                    if n.type == "call_expression":
                        index.setdefault(self._callee(n)[0], []).append(n)
            self._call_index = index
        return index

    def text(self, node) -> str:
        return self._file_of(node).tree.text_of(node)

    def line(self, node) -> int:
        return node.start_point[0]

    # -- the preprocessor, as far as drafts need it ------------------------------------------

    def _defines(self) -> set[str]:
        """Macro names defined before use in the main file (for `#if defined(...)` of typedefs)."""
        out: set[str] = set()
        for f in self.files:
            for n in syntax.walk(f.tree.root):
                if n.type in ("preproc_def", "preproc_function_def"):
                    name = n.child_by_field_name("name")
                    if name is not None and self._active(n):
                        out.add(f.tree.text_of(name))
        return out

    def _active(self, node) -> bool:
        """False when `node` sits in a branch of `#if`/`#ifdef` that the known defines rule out."""
        p, child = node.parent, node
        while p is not None:
            if p.type in ("preproc_ifdef", "preproc_if", "preproc_elif", "preproc_else", "preproc_elifdef"):
                alt = p.child_by_field_name("alternative")
                in_alt = alt is not None and child.id == alt.id
                if p.type == "preproc_else":
                    pass
                elif not in_alt:
                    truth = self._condition(p)
                    if truth is False:
                        return False
            child, p = p, p.parent
        return True

    def _condition(self, node) -> bool | None:
        tree = self._file_of(node).tree
        if node.type in ("preproc_ifdef",):
            name = node.child_by_field_name("name")
            if name is None:
                return None
            negate = tree.text_of(node).lstrip("# \t").startswith("ifndef")
            if negate and _is_include_guard(tree, node, tree.text_of(name)):
                return True  # `#ifndef X_H / #define X_H`: the header's body, as the compiler sees it once
            have = tree.text_of(name) in getattr(self, "defines", set())
            return (not have) if negate else have
        cond = node.child_by_field_name("condition")
        if cond is None:
            return None
        text = tree.text_of(cond)
        m = re.fullmatch(r"\s*(!?)\s*defined\s*\(?\s*(\w+)\s*\)?\s*", text)
        if m:
            have = m.group(2) in getattr(self, "defines", set())
            return (not have) if m.group(1) else have
        return None

    def _typedefs(self) -> dict[str, str]:
        """`typedef X name;`, `using name = X;` and `#define name TYPE` in active branches."""
        out: dict[str, str] = {}
        for f in self.files:
            for n in syntax.walk(f.tree.root):
                if n.type == "type_definition":
                    t = n.child_by_field_name("type")
                    for d in n.children_by_field_name("declarator"):
                        if t is not None and d.type in ("type_identifier", "primitive_type") and self._active(n):
                            out.setdefault(f.tree.text_of(d), f.tree.text_of(t))
                elif n.type == "alias_declaration":
                    name, t = n.child_by_field_name("name"), n.child_by_field_name("type")
                    if name is not None and t is not None and self._active(n):
                        out.setdefault(f.tree.text_of(name), f.tree.text_of(t))
        return out

    def resolve_type(self, type_text: str) -> str:
        """A type name through the typedefs and aliases in force (`floatX` -> `__nv_bfloat16`)."""
        t = " ".join(type_text.split())
        for _ in range(8):
            if t in self.typedefs and self.typedefs[t] != t:
                t = " ".join(self.typedefs[t].split())
            else:
                break
        return t

    def sizeof(self, type_text: str, at=None) -> int | None:
        """Bytes of a type; with `at`, a template parameter visible there is the caller's argument."""
        if at is not None:
            type_text = self.type_at(type_text, at)
        return type_size(self.resolve_type(type_text), self.typedefs)

    def type_at(self, type_text: str, at) -> str:
        """`T` (a template parameter of the function around `at`) as its first caller instantiates
        it (`run<float>(...)`); other types unchanged."""
        t = " ".join(re.sub(r"\b(const|volatile|typename)\b", " ", type_text).split()).rstrip("*& ")
        if not re.fullmatch(r"[A-Za-z_]\w*", t):
            return type_text
        arg = self.template_arg(t, at)
        return arg if arg is not None else type_text

    def template_arg(self, name: str, at, depth: int = 0) -> str | None:
        """The text a function template's parameter `name` (visible at `at`) is instantiated with:
        the template argument of the function's first call that gives one (`scan<T, N><<<...>>>`
        inside `runTest<int, 512>`: T -> int), through enclosing templates."""
        if depth > 6:
            return None
        d = self._declaration(name, at)
        if d is None or d.kind != "tparam":
            return None
        tdecl = d.scope
        fn = next((c for c in _named(tdecl) if c.type == "function_definition"), None) if tdecl is not None else None
        ps = tdecl.child_by_field_name("parameters") if tdecl is not None else None
        names = [self.text(_decl_name(p)) for p in (_named(ps) if ps is not None else []) if _decl_name(p) is not None]
        if fn is None or name not in names:
            return d.value is not None and self.text(d.value) or None
        index = names.index(name)
        fname = syntax.function_name(self._file_of(fn).tree, fn)
        for call in self._calls(fname or "", fn):
            _, targs = self._callee(call)
            arg = targs[index].strip() if index < len(targs) else self._deduced(name, fn, call)
            if arg:
                inner = self.template_arg(arg, call, depth + 1) if re.fullmatch(r"[A-Za-z_]\w*", arg) else None
                return inner or arg
        return self.text(d.value) if d.value is not None else None

    def _deduced(self, name: str, fn, call) -> str | None:
        """Template argument deduction, the simple way: a parameter written `std::array<T, N>` (or
        `T*`, `std::vector<T>&`) and the declared type of the call's argument there."""
        params = _find_child(fn.child_by_field_name("declarator"), "parameter_list")
        a = call.child_by_field_name("arguments")
        args = _named(a) if a is not None else []
        for p, arg in zip(_named(params) if params is not None else [], args):
            ptype = _type_text(self._file_of(p).tree, p)
            if not re.search(rf"\b{re.escape(name)}\b", ptype) or arg.type != "identifier":
                continue
            d = self._declaration(self.text(arg), arg)
            if d is None or not d.type_text:
                continue
            pat = _type_pattern(ptype, name)
            m = re.fullmatch(pat, _bare_type(d.type_text + ("*" if "*" in ptype and "*" not in d.type_text and
                                                            d.kind in ("array",) else "")))
            if m:
                return m.group("x").strip()
        return None

    # -- finding launches -------------------------------------------------------------------

    def launches(self, name: str, language: str, nd_item_function: bool = False) -> list[Site]:
        """Every launch of kernel `name` in document order (the main file first)."""
        sites: list[Site] = []
        for f in self.files:
            for n in syntax.walk(f.tree.root):
                if n.type != "call_expression":
                    continue
                callee_text = f.tree.text_of(n.child_by_field_name("function") or n)[:400]
                if name not in callee_text and "LaunchKernel" not in callee_text and \
                        not any(c.type == "kernel_call_syntax" for c in n.children):
                    continue  # not `name(...)`, `ptr<<<...>>>` nor cudaLaunchKernel: not a launch of it
                site = None
                if language == "cuda":
                    site = self._cuda_site(f, n, name)
                elif nd_item_function:
                    site = self._nd_item_site(f, n, name)
                if site is not None:
                    sites.append(site)
        return sites

    def _callee(self, call) -> tuple[str, list[str]]:
        """The called name (`ns::k` -> `k`) and its template arguments' texts."""
        fn = call.child_by_field_name("function")
        targs: list[str] = []
        tree = self._file_of(call).tree
        while fn is not None and fn.type in ("template_function", "qualified_identifier", "template_method",
                                             "field_expression", "parenthesized_expression", "pointer_expression"):
            if fn.type in ("template_function", "template_method"):
                a = fn.child_by_field_name("arguments")
                if a is not None:
                    targs = [tree.text_of(c) for c in _named(a)]
                fn = fn.child_by_field_name("name")
            elif fn.type == "qualified_identifier":
                fn = fn.child_by_field_name("name")
            elif fn.type == "field_expression":
                fn = fn.child_by_field_name("field")
            elif fn.type == "pointer_expression":
                fn = fn.child_by_field_name("argument")
            else:
                fn = _named(fn)[0] if _named(fn) else None
        return (tree.text_of(fn) if fn is not None else ""), targs

    def _cuda_site(self, f: _File, call, name: str) -> Site | None:
        callee, targs = self._callee(call)
        launch_syntax = next((c for c in call.children if c.type == "kernel_call_syntax"), None)
        args_node = call.child_by_field_name("arguments")
        args = list(_named(args_node)) if args_node is not None else []
        if launch_syntax is not None:
            if callee != name and not self._points_to(call, callee, name):
                return None
            conf = [c for c in _named(launch_syntax)]
            grid = self.vector(conf[0]) if conf else _unknown("no grid")
            block = self.vector(conf[1]) if len(conf) > 1 else _unknown("no block")
            shared = self.value(conf[2]) if len(conf) > 2 else None
            return Site(f.path, self.line(call), "cuda", _dims(grid), _dims(block), shared, args, targs, call, self)
        if callee in ("cudaLaunchKernel", "cudaLaunchCooperativeKernel") and args:
            k_callee = self._kernel_ref(args[0])
            if k_callee != name:
                return None
            grid = self.vector(args[1]) if len(args) > 1 else _unknown("no grid")
            block = self.vector(args[2]) if len(args) > 2 else _unknown("no block")
            shared = self.value(args[4]) if len(args) > 4 else None
            kargs = self._launch_kernel_args(args[3]) if len(args) > 3 else []
            return Site(f.path, self.line(call), "cuda", _dims(grid), _dims(block), shared, kargs, [], call, self)
        return None

    def _kernel_ref(self, node) -> str:
        t = self.text(node)
        t = re.sub(r"\(\s*(?:const\s+)?void\s*\*\s*\)", "", t)
        t = re.sub(r"reinterpret_cast\s*<[^>]*>\s*\(|\)", "", t).strip().lstrip("&").strip()
        t = re.sub(r"<.*>$", "", t)
        return t.split("::")[-1].strip()

    def _launch_kernel_args(self, node) -> list[object]:
        """`void* args[] = {&a, &b}` passed to cudaLaunchKernel: the pointed-to argument nodes."""
        d = self._declaration(self.text(node).strip(), node) if node.type == "identifier" else None
        if d is None or d.value is None or d.value.type != "initializer_list":
            return []
        out = []
        for c in _named(d.value):
            while c.type in ("cast_expression", "parenthesized_expression"):
                c = c.child_by_field_name("value") or (_named(c)[-1] if _named(c) else c)
            if c.type == "pointer_expression":
                c = c.child_by_field_name("argument")
            out.append(c)
        return out

    def _points_to(self, call, var: str, kernel: str) -> bool:
        """`kernel = &transposeNaive; ... kernel<<<...>>>`: is `kernel` among the functions the
        pointer `var` is given (its initializer or any assignment in its scope, a `switch` over
        kernels included)?"""
        d = self._declaration(var, call)
        if d is None or d.kind in ("define", "macro"):
            return False
        if d.value is not None and self._kernel_ref(d.value) == kernel:
            return True
        scope = d.scope or self._file_of(call).tree.root
        for n in syntax.walk(scope):
            if n.type != "assignment_expression":
                continue
            left, right = n.child_by_field_name("left"), n.child_by_field_name("right")
            if left is not None and right is not None and self.text(left).strip() == var \
                    and self._kernel_ref(right) == kernel:
                return True
        return False

    # -- SYCL ----------------------------------------------------------------------------------

    def parallel_for(self, node) -> Site | None:
        """The launch of a `parallel_for` call node: its range / nd_range and the kernel lambda."""
        args_node = node.child_by_field_name("arguments")
        if args_node is None:
            return None
        args = list(_named(args_node))
        if not args:
            return None
        f = self._file_of(node)
        lam = args[-1]
        if lam.type == "identifier":  # `auto step = [=](id<1> i) {...}; parallel_for(r, step)`
            d = self._declaration(self.text(lam), lam)
            lam = d.value if d is not None and d.value is not None else lam
        while lam.type == "parenthesized_expression" and _named(lam):  # `auto k = ([=](...) {...});`
            lam = _named(lam)[0]
        # (range, lambda), (kernel object, range, lambda), (range, offset id, lambda): the range
        rng = next((a for a in args[:-1] if re.search(r"\b(?:nd_)?range\b", self.text(a))
                    and not re.match(r"\s*(?:sycl::)?id\b", self.text(a))), None) if len(args) >= 2 else None
        if rng is None and len(args) >= 2:
            rng = args[0] if len(args) == 2 or not re.search(r"get_kernel", self.text(args[0])) else args[-2]
        if rng is None:
            return None
        kind, glob, loc = self._range_of(rng)
        _, targs = self._callee(node)
        return Site(f.path, self.line(node), kind, glob, loc, None, [], targs, node, self,
                    lam if lam.type == "lambda_expression" else None)

    def lambda_site(self, definition) -> Site | None:
        """The launch of a kernel lambda: the `parallel_for` call (of the main file) whose span meets
        the kernel's definition (a Range), the innermost one."""
        f = self.files[0]
        lines = f.tree.text.splitlines(keepends=True)
        start = sum(len(x) for x in lines[:definition.start.line]) + definition.start.column
        end = sum(len(x) for x in lines[:definition.end.line]) + definition.end.column
        best = None
        for n in self._calls_by_name().get("parallel_for", []):
            if self._file_of(n) is not f:
                continue
            a, b = f.tree.span(n)
            if a <= end and b >= start and (best is None or (best[1] - best[0]) > (b - a)):
                best = (a, b, n)
        return self.parallel_for(best[2]) if best is not None else None

    def _range_of(self, node) -> tuple[str, list[Val], list[Val]]:
        t = None
        if node.type == "identifier":
            d = self._declaration(self.text(node), node)
            if d is not None and d.kind == "ctor":
                t = re.sub(r"<.*", "", d.type_text).split("::")[-1].strip()
                if t == "range":  # `range<1> num_items{size};`
                    v = self._ctor(t, self._ctor_args(d.node), self.text(d.node), 0)
                    assigned = self._assignments(self.text(node), d, node, elements=True)
                    if assigned:  # `num_items[0] = ...` before the launch
                        v = (_unknown(f"`{self.text(node)}` (changed conditionally or in a loop before the launch)")
                             if any(a is None for a in assigned) else
                             self._elements_assigned(self.text(node), v, assigned, 0))
                    return "range", _dims(v), []
                node = d.node
        node = self._through_vars(node)
        t = t or self._ctor_name(node)
        if t == "nd_range":
            parts = self._ctor_args(node)
            if len(parts) >= 2:
                return "nd_range", _dims(self.vector(parts[0])), _dims(self.vector(parts[1]))
            return "nd_range", [_unknown(f"the nd_range `{self.text(node)}`")], []
        return "range", _dims(self.vector(node)), []

    def _through_vars(self, node):
        """An identifier naming a variable whose value is a constructor call: that call."""
        for _ in range(8):
            if node.type != "identifier":
                return node
            d = self._declaration(self.text(node), node)
            if d is None:
                return node
            if d.kind == "ctor":
                return d.node
            if d.value is None:
                return node
            node = d.value
        return node

    def _ctor_name(self, node) -> str:
        """`sycl::nd_range<1>(...)`, `nd_range{...}`, a declaration `sycl::range<2> r(a, b)` -> its class name."""
        if node.type in ("init_declarator", "declaration", "function_declarator"):
            decl = node if node.type == "declaration" else node.parent
            t = decl.child_by_field_name("type") if decl is not None else None
            return re.sub(r"<.*", "", self.text(t)).split("::")[-1].strip() if t is not None else ""
        if node.type == "call_expression":
            name, _ = self._callee(node)
            return name
        if node.type == "compound_literal_expression":
            t = node.child_by_field_name("type")
            return re.sub(r"<.*", "", self.text(t)).split("::")[-1].strip() if t is not None else ""
        return ""

    def _ctor_args(self, node) -> list:
        if node.type == "call_expression":
            a = node.child_by_field_name("arguments")
            return list(_named(a)) if a is not None else []
        if node.type == "compound_literal_expression":
            v = node.child_by_field_name("value")
            return list(_named(v)) if v is not None else []
        if node.type == "init_declarator":
            v = node.child_by_field_name("value")
            if v is not None:
                return list(_named(v)) if v.type in ("argument_list", "initializer_list") else [v]
        if node.type == "new_expression":  # `new buffer<float>(p, range(n))`
            a = node.child_by_field_name("arguments")
            return _named(a) if a is not None else []
        if node.type in ("declaration", "function_declarator"):
            d = node.child_by_field_name("declarator") if node.type == "declaration" else node
            if d is not None and d.type == "function_declarator":
                ps = d.child_by_field_name("parameters")
                return [c for c in _named(ps)] if ps is not None else []
        return []

    def function_params(self, name: str) -> list[tuple[str, str]]:
        """(name, type text) of each parameter of function `name`'s definition ([] if none found)."""
        fn = self._function(name)
        params = _find_child(fn.child_by_field_name("declarator"), "parameter_list") if fn is not None else None
        out = []
        for p in _named(params) if params is not None else []:
            n = _decl_name(p)
            t = p.child_by_field_name("type")
            out.append((self.text(n) if n is not None else "", self.text(p) if t is not None else ""))
        return out

    def _nd_item_site(self, f: _File, call, name: str) -> Site | None:
        """A call of nd_item function `name` inside a `parallel_for` lambda: the parallel_for's
        launch, with this call's arguments."""
        callee, targs = self._callee(call)
        if callee != name:
            return None
        p = call.parent
        while p is not None:
            if p.type == "call_expression" and self._callee(p)[0] in ("parallel_for", "parallel_for_work_group"):
                site = self.parallel_for(p)
                if site is None:
                    return None
                a = call.child_by_field_name("arguments")
                site.args = list(_named(a)) if a is not None else []
                site.template_args = targs
                return site
            p = p.parent
        return None

    # -- memory the host sets before a launch ----------------------------------------------------

    _ZEROING = ("memset", "cudaMemset", "cudaMemsetAsync", "hipMemset", "hipMemsetAsync", "fill")

    def zeroed_before(self, arg, launch) -> bool:
        """Whether the host sets the memory pointer argument `arg` points to to zero before
        `launch`, in the same function (`q.memset(out, 0, sizeof(int))`, `cudaMemset(d, 0, n)`,
        `q.fill(p, 0, n)`): the program's kernel then starts from zeros, as `start 0` says."""
        arg = _strip(_as_expr(arg))
        if arg is None or arg.type != "identifier":
            return False
        d = self._declaration(self.text(arg), arg)
        fn = syntax.enclosing(launch, "function_definition")
        if d is None or fn is None:
            return False
        calls = self._calls_by_name()
        for name in self._ZEROING:
            for c in calls.get(name, []):
                if self._file_of(c) is not self._file_of(launch) or c.start_byte >= launch.start_byte \
                        or getattr(syntax.enclosing(c, "function_definition"), "id", None) != fn.id:
                    continue
                a = c.child_by_field_name("arguments")
                args = list(_named(a)) if a is not None else []
                if len(args) < 2 or args[0].type != "identifier" or self.text(args[0]) != d.name:
                    continue
                if not re.fullmatch(r"\(?\s*(?:0+|0x0+|0?\.0*f?|0[uUlL]*|'\\0')\s*\)?", self.text(args[1]).strip()):
                    continue
                same = self._declaration(d.name, args[0])
                if same is not None and same.node.id == d.node.id:
                    return True
        return False

    # -- names ----------------------------------------------------------------------------------

    def _declaration(self, name: str, at) -> _Decl | None:
        """The declaration of `name` visible at node `at` (local scopes outward, then globals)."""
        f = self._file_of(at)
        node, child = at.parent, at
        while node is not None:
            t = node.type
            if t == "compound_statement" or t == "translation_unit" or t == "declaration_list" \
                    or t == "case_statement":
                found = None
                for c in node.children:
                    if c.start_byte >= child.start_byte and c.id != child.id and t != "translation_unit":
                        break
                    if c.id == child.id:
                        break
                    d = self._declares(f, c, name)
                    if d is not None:
                        found = d
                if found is not None:
                    return found
            elif t == "for_range_loop":  # `for (int b : block_sizes)`: its first element
                dn = _decl_name(node.child_by_field_name("declarator"))
                if dn is not None and f.tree.text_of(dn) == name:
                    return _Decl(name, f, node, node.child_by_field_name("right"), "range_loop",
                                 f.tree.text_of(node.child_by_field_name("type") or dn), node)
            elif t in ("for_statement", "for_range_loop"):
                init = node.child_by_field_name("initializer")
                if init is not None:
                    d = self._declares(f, init, name, kind="loop")
                    if d is not None:
                        return d
            elif t in ("function_definition", "lambda_expression"):
                decl = node.child_by_field_name("declarator")
                params = _find_child(decl, "parameter_list")
                if params is not None:
                    for i, p in enumerate(_named(params)):
                        pn = _decl_name(p)
                        if pn is not None and f.tree.text_of(pn) == name:
                            default = p.child_by_field_name("default_value")
                            return _Decl(name, f, p, default, "param", _type_text(f.tree, p), node)
            elif t == "template_declaration":
                ps = node.child_by_field_name("parameters")
                for p in (_named(ps) if ps is not None else []):
                    pn = _decl_name(p)
                    if pn is not None and f.tree.text_of(pn) == name:
                        return _Decl(name, f, p, p.child_by_field_name("default_value"), "tparam",
                                     _type_text(f.tree, p), node, compile_time=True)
            child, node = node, node.parent
        for g in self.files:  # globals of the included files (and #defines anywhere above)
            if g is f:
                continue
            for c in g.tree.root.children:
                d = self._declares(g, c, name)
                if d is not None:
                    return d
        return None

    def _declares(self, f: _File, node, name: str, kind: str = "var") -> _Decl | None:
        t = node.type
        if t in ("preproc_def", "preproc_function_def"):
            n = node.child_by_field_name("name")
            if n is not None and f.tree.text_of(n) == name and self._active(node):
                return _Decl(name, f, node, node.child_by_field_name("value"),
                             "define" if t == "preproc_def" else "macro", "", None, compile_time=True)
            return None
        if t in ("preproc_ifdef", "preproc_if", "preproc_else", "preproc_elif", "linkage_specification",
                 "namespace_definition", "declaration_list"):
            if t == "namespace_definition":
                node = node.child_by_field_name("body") or node
            found = None
            for c in node.children:
                d = self._declares(f, c, name, kind)
                if d is not None and self._active(c):
                    found = d
            return found
        if t == "template_declaration":
            return None
        if t == "expression_statement":  # `sycl::range<1> gws(n);` read as `sycl::range < 1 > gws(n)`
            e = _named(node)[0] if _named(node) else None
            more = []  # `range<2> a(N, M), b(N + 2, M + 2);`: `(range < 2 > a(N, M)), b(N + 2, M + 2)`
            while e is not None and e.type == "comma_expression":
                more.insert(0, e.child_by_field_name("right"))
                e = e.child_by_field_name("left")
            if e is not None and e.type == "binary_expression" and f.tree.text_of(e.child_by_field_name("operator")) == ">":
                right, left = e.child_by_field_name("right"), e.child_by_field_name("left")
                if right is not None and right.type in ("call_expression", "compound_literal_expression") and \
                        left is not None and left.type == "binary_expression" and \
                        f.tree.text_of(left.child_by_field_name("operator")) == "<":
                    type_text = f.tree.text_of(left.child_by_field_name("left")) + "<" + \
                        f.tree.text_of(left.child_by_field_name("right")) + ">"
                    for part in [right] + more:
                        if part is None or part.type not in ("call_expression", "compound_literal_expression"):
                            break  # not a declarator list after all
                        fn = part.child_by_field_name("function") or part.child_by_field_name("type")
                        if fn is not None and fn.type in ("identifier", "type_identifier") and f.tree.text_of(fn) == name:
                            return _Decl(name, f, part, None, "ctor", type_text, node.parent)
            return None
        if t != "declaration" and not (t == "field_declaration"):
            return None
        type_node = node.child_by_field_name("type")
        type_text = f.tree.text_of(type_node) if type_node is not None else ""
        quals = f.tree.text_of(node)[: max(0, (type_node.start_byte - node.start_byte) if type_node is not None else 0)]
        ct = bool(re.search(r"\bconstexpr\b", quals)) or (bool(re.search(r"\bconst\b", quals))
                                                          and node.parent is not None
                                                          and node.parent.type == "translation_unit")
        for d in node.children_by_field_name("declarator"):
            if d.type == "init_declarator":
                inner = d.child_by_field_name("declarator")
                nn = _decl_name(inner)
                if nn is not None and f.tree.text_of(nn) == name:
                    value = d.child_by_field_name("value")
                    is_array = inner is not None and inner.type == "array_declarator"
                    if value is not None and value.type in ("argument_list",) or \
                            (value is not None and value.type == "initializer_list" and not is_array
                             and _is_class_type(type_text)):
                        return _Decl(name, f, d, value, "ctor", type_text, node.parent, ct)
                    return _Decl(name, f, d, value, "array" if is_array else kind, type_text, node.parent, ct)
            elif d.type == "function_declarator" and _is_class_type(type_text):
                nn = d.child_by_field_name("declarator")
                if nn is not None and f.tree.text_of(nn) == name:  # `std::vector<float> v(n);`
                    return _Decl(name, f, d, None, "ctor", type_text, node.parent, ct)
            else:
                nn = _decl_name(d)
                if nn is not None and f.tree.text_of(nn) == name:
                    return _Decl(name, f, d, None, "array" if d.type == "array_declarator" else kind,
                                 type_text, node.parent, ct)
        return None

    def _assignments(self, name: str, decl: _Decl, at, elements: bool = False) -> list:
        """Values assigned to `name` after its declaration and before `at` by statements that
        always run before `at` (in a block enclosing `at`); a conditional or looped assignment
        makes the value unknown (`None` in the list), except under `if (argc ...)`.
        `elements`: `name[K] = V` counts too, as ("element", K, V, operator) (a `sycl::range`
        resized in place, `gws[0] = blocks * 256`, between two launches)."""
        out: list = []
        f = self._file_of(at)
        if decl.file is not f or decl.kind in ("define", "macro"):
            return out
        start = decl.node.end_byte
        scope = decl.scope or f.tree.root
        enclosing = set()
        p = at
        while p is not None:
            enclosing.add(p.id)
            p = p.parent
        for n in syntax.walk(scope, lambda x: x.start_byte < at.start_byte):
            if n.start_byte < start or n.start_byte >= at.start_byte or n.end_byte > at.start_byte:
                continue  # not before `at`, or holding it (`b = min(a, b)`: its `b` is the earlier value)
            if n.type == "assignment_expression":
                left = n.child_by_field_name("left")
                if elements and left is not None and left.type == "subscript_expression":
                    obj = left.child_by_field_name("argument")
                    if obj is not None and obj.type == "identifier" and f.tree.text_of(obj) == name:
                        verdict = self._guarded_by_branch(n, scope, enclosing)
                        if verdict == "skip":
                            continue
                        if verdict is None:
                            out.append(None)
                            continue
                        idx = left.child_by_field_name("indices") or left.child_by_field_name("index")
                        if idx is not None and idx.type == "subscript_argument_list":
                            idx = _named(idx)[0] if _named(idx) else None
                        op = f.tree.text_of(n.child_by_field_name("operator")) if n.child_by_field_name(
                            "operator") else "="
                        out.append(("element", idx, n.child_by_field_name("right"), op))
                    continue
                if left is not None and left.type == "field_expression":
                    obj = left.child_by_field_name("argument")
                    if obj is not None and obj.type == "identifier" and f.tree.text_of(obj) == name \
                            and self._guarded_by_branch(n, scope, enclosing) != "skip":
                        out.append(None)  # `nblocks.x = N / nthreads.x + 1`: one of its axes changed
                    continue
                if left is None or left.type != "identifier" or f.tree.text_of(left) != name:
                    continue
                op = f.tree.text_of(n.child_by_field_name("operator")) if n.child_by_field_name("operator") else "="
                if _ARGV.search(f.tree.text_of(n.child_by_field_name("right")) or ""):
                    if self._guarded_by_branch(n, scope, enclosing) is not True:
                        continue  # the command line's override: the program's default stands
                verdict = self._guarded_by_branch(n, scope, enclosing)
                if verdict == "skip":
                    continue
                if verdict is None:
                    out.append(None)
                    continue
                right = n.child_by_field_name("right")
                out.append(right if op == "=" else ("compound", op, right))
            elif n.type == "update_expression":
                arg = n.child_by_field_name("argument")
                if arg is not None and arg.type == "identifier" and f.tree.text_of(arg) == name:
                    out.append(None)
            elif n.type == "call_expression" and self._writes_through_argument(n, name):
                # `getNumBlocksAndThreads(..., numBlocks, numThreads)` sets them
                out.append(("call", self._callee(n)[0], None))
        return out

    def _writes_through_argument(self, call, name: str) -> bool:
        """Does `call` pass `name` to a non-const reference parameter (or `&name` to a non-const
        pointer parameter) of a function these files define? Then it may set it: an out-parameter."""
        a = call.child_by_field_name("arguments")
        args = list(_named(a)) if a is not None else []
        hits = []
        for i, x in enumerate(args):
            t = self.text(x).replace(" ", "")
            if t == name:
                hits.append((i, "&"))
            elif t == "&" + name:
                hits.append((i, "*"))
        if not hits:
            return False
        fn = self._function(self._callee(call)[0])
        if fn is None:
            return False
        params = _find_child(fn.child_by_field_name("declarator"), "parameter_list")
        ps = list(_named(params)) if params is not None else []
        for i, kind in hits:
            if i >= len(ps):
                continue
            p = ps[i]
            decl = p.child_by_field_name("declarator")
            ptext = self.text(p)
            const = bool(re.search(r"\bconst\b", ptext.split(kind)[0])) if kind in ptext else True
            if decl is not None and not const and (
                    (kind == "&" and decl.type == "reference_declarator")
                    or (kind == "*" and decl.type == "pointer_declarator")):
                return True
        return False

    def _guarded_by_branch(self, n, scope, enclosing: set) -> bool | str | None:
        """Does statement `n` run on the way to the launch? True (unconditionally, or in a branch the
        program's defaults take), "skip" (a branch they do not take, or one the command line
        selects), None (in a loop, or a branch kf cannot decide)."""
        tree = self._file_of(n).tree
        verdict: bool | str | None = True
        child, q = n, n.parent
        while q is not None and q.id != scope.id and q.id not in enclosing:
            if q.type == "if_statement":
                cond = q.child_by_field_name("condition")
                if cond is not None and re.search(r"\bargc\b|\bargv\b|\bcheckCmdLine", tree.text_of(cond)):
                    return "skip"
                c = self.condition(cond)
                alt = q.child_by_field_name("alternative")
                in_alt = alt is not None and child.id == alt.id
                if c is None:
                    verdict = None
                elif c == in_alt:
                    return "skip"
            elif q.type == "case_statement":
                if self.reached(n) is False:
                    return "skip"
            elif q.type in ("while_statement", "for_statement", "do_statement", "for_range_loop",
                            "lambda_expression", "conditional_expression"):
                verdict = None
            child, q = q, q.parent
        return verdict

    def preconditions(self, site: Site) -> list[str]:
        """What the program checks before the launch and refuses to run without: `if (COND) {...
        exit(1); }` (or return / abort / throw) and `assert(COND)` in the functions on the way to
        the launch, as spec conditions over leaves (`size_x == size_y`, `n % 4 == 0`)."""
        out: list[str] = []
        # the branches taken on the way to the launch (`else` of `if (length % block)`: a multiple)
        child, p = site.node, site.node.parent
        while p is not None and p.type not in ("function_definition", "translation_unit"):
            if p.type == "if_statement":
                text = self.cond_expr(p.child_by_field_name("condition"))
                alt = p.child_by_field_name("alternative")
                if text:
                    cond = negate(text) if alt is not None and child.id == alt.id else text
                    if names_of(cond) and cond not in out:
                        out.append(cond)
            child, p = p, p.parent
        node = site.node
        for _ in range(4):  # the launching function, then its first callers
            fn = node.parent
            while fn is not None and fn.type not in ("function_definition",):
                fn = fn.parent
            if fn is None:
                break
            for n in syntax.walk(fn):
                if n.start_byte >= node.start_byte:
                    break
                cond = None
                if n.type == "if_statement" and self._exits(n.child_by_field_name("consequence")):
                    c = n.child_by_field_name("condition")
                    text = self.cond_expr(c)
                    cond = negate(text) if text else None
                elif n.type == "call_expression" and self._callee(n)[0] == "assert":
                    a = n.child_by_field_name("arguments")
                    cond = self.cond_expr(_named(a)[0]) if a is not None and _named(a) else None
                if cond and names_of(cond) and cond not in out:
                    out.append(cond)
            name = syntax.function_name(self._file_of(fn).tree, fn)
            calls = self._calls(name or "", fn) if name and name != "main" else []
            if not calls:
                break
            node = calls[0]
        return out

    def _exits(self, stmt) -> bool:
        if stmt is None:
            return False
        text = self.text(stmt)
        return bool(re.search(r"\b(exit|abort|return|throw|std::exit|EXIT_FAILURE)\b", text)) and \
            not re.search(r"\b(for|while)\b", text)

    def cond_expr(self, node) -> str | None:
        """A host condition as a spec condition over leaves, or None."""
        if node is None:
            return None
        tree = self._file_of(node).tree
        t = node.type
        if t in ("parenthesized_expression", "condition_clause"):
            inner = _named(node)[-1] if _named(node) else None
            x = self.cond_expr(inner)
            return f"({x})" if x else None
        if t == "unary_expression" and tree.text_of(node.child_by_field_name("operator")) == "!":
            x = self.cond_expr(node.child_by_field_name("argument"))
            return f"not ({x})" if x else None
        if t == "binary_expression":
            op = tree.text_of(node.child_by_field_name("operator"))
            if op in ("&&", "||"):
                a = self.cond_expr(node.child_by_field_name("left"))
                b = self.cond_expr(node.child_by_field_name("right"))
                if a is None or b is None:
                    return None
                return f"{a} {'and' if op == '&&' else 'or'} {b}"
            if op in ("==", "!=", "<", "<=", ">", ">="):
                a = self._value(node.child_by_field_name("left"), 0)
                b = self._value(node.child_by_field_name("right"), 0)
                if not a.known or not b.known or a.is_float or b.is_float:
                    return None
                return f"{a.expr} {op} {b.expr}"
        if t in ("binary_expression", "identifier") and not self._value(node, 0).is_float:
            v = self._value(node, 0)  # `if (length % block)`: nonzero
            return f"{v.expr} != 0" if v.known and v.parts is None else None
        return None

    # -- values ---------------------------------------------------------------------------------

    def value(self, node) -> Val:
        """The value of a host expression node as a spec expression over leaves."""
        try:
            return self._value(node, 0)
        except RecursionError:
            return _unknown("too deep")

    def vector(self, node) -> Val:
        """A dim3 / sycl::range / integer as a Val with `parts` (x first for dim3, dimension 0 first for ranges)."""
        v = self.value(node)
        return v if v.parts is not None else Val(v.expr, v.why, v.is_float, (v,))

    def _value(self, node, depth: int) -> Val:
        if depth > 60:
            return _unknown("too deep")
        tree = self._file_of(node).tree
        t = node.type
        text = tree.text_of(node)
        if t == "number_literal":
            return _number(text)
        if t in ("true", "false"):
            return Val("1" if t == "true" else "0")
        if t == "char_literal":
            return _unknown(f"the character {text}")
        if t in ("parenthesized_expression",):
            inner = _named(node)[0] if _named(node) else None
            return self._value(inner, depth + 1) if inner is not None else _unknown(text)
        if t == "parameter_declaration" and node.child_by_field_name("declarator") is None:
            inner = node.child_by_field_name("type")  # `dim3 b(BLOCK);` parses as a function declaration
            return self._value(inner, depth + 1) if inner is not None else _unknown(text)
        if t == "parameter_declaration" and re.fullmatch(r"\s*[A-Za-z_]\w*\s*\*\s*[A-Za-z_]\w*\s*", text):
            expr = self._parse_expr(text, node)  # `range<1> g(a * b);` parses as a parameter `a *b`
            return self._value(expr, depth + 1) if expr is not None else _unknown(text)
        if t == "qualified_identifier":
            scope = text.rsplit("::", 1)[0].strip()
            member = self._static_member(scope, text.rsplit("::", 1)[1].strip(), node, depth)
            if member is not None:
                return member
            if re.fullmatch(r"(?:std|sycl|cl|::)?(?:::\w+)*", scope) or scope in ("std", "sycl", "cl"):
                return self._name(text.split("::")[-1], node, depth)
            return _unknown(f"`{_short(text)}`")
        if t == "assignment_expression":  # `N = M = 1024`: the value assigned
            return self._value(node.child_by_field_name("right"), depth + 1)
        if t in ("identifier", "type_identifier"):
            return self._name(text, node, depth)
        if t == "sizeof_expression":
            ty = node.child_by_field_name("type")
            if ty is not None:
                size = self.sizeof(tree.text_of(ty), node)
            else:
                v = node.child_by_field_name("value")
                size = self._sizeof_value(v) if v is not None else None
            return Val(str(size)) if size else _unknown(f"`{text}`")
        if t == "cast_expression":
            ty = node.child_by_field_name("type")
            v = self._value(node.child_by_field_name("value"), depth + 1)
            to_float = ty is not None and re.search(r"\b(float|double|half)\b", tree.text_of(ty)) is not None
            to_int = ty is not None and not to_float and "*" not in tree.text_of(ty)
            return Val(v.expr, v.why, (v.is_float or to_float) and not to_int, v.parts, v.array)
        if t == "unary_expression":
            op = tree.text_of(node.child_by_field_name("operator"))
            v = self._value(node.child_by_field_name("argument"), depth + 1)
            if not v.known:
                return v
            if op == "-":
                return Val(f"-({v.expr})", is_float=v.is_float)
            if op == "+":
                return v
            if op == "!":
                return self._truth_val(f"not ({v.expr})")
            n = self.number(v)
            if op == "~" and isinstance(n, int):  # a mask of constants: its value
                return Val(str(~n))
            return _unknown(f"`{text}`")
        if t == "binary_expression":
            return self._binary(node, depth)
        if t == "conditional_expression":
            c = self.condition(node.child_by_field_name("condition"), depth)
            if c is None:
                return _unknown(f"`{text}` (its condition is not known)")
            return self._value(node.child_by_field_name("consequence" if c else "alternative"), depth + 1)
        if t == "call_expression":
            return self._call(node, depth)
        if t in ("initializer_list", "argument_list"):
            parts = tuple(self._value(c, depth + 1) for c in _named(node))
            return Val(parts[0].expr if len(parts) == 1 else None, parts[0].why if len(parts) == 1 else "", parts=parts)
        if t == "compound_literal_expression":
            return self._ctor(self._ctor_name(node), self._ctor_args(node), text, depth)
        if t == "field_expression":
            return self._field(node, depth)
        if t == "subscript_expression":
            return self._subscript(node, depth)
        if t == "template_argument_list":
            return _unknown(text)
        return _unknown(f"`{_short(text)}`")

    def _truth_val(self, expr: str) -> Val:
        return Val(expr)

    def _binary(self, node, depth: int) -> Val:
        tree = self._file_of(node).tree
        op = tree.text_of(node.child_by_field_name("operator"))
        if op == "+":  # `n / d + (n % d > 0)` (or `!= 0`): the ceiling division
            left, right = node.child_by_field_name("left"), node.child_by_field_name("right")
            lt = re.sub(r"\s+", "", tree.text_of(left)).strip("()")
            rt = re.sub(r"\s+", "", tree.text_of(right)).strip("()")
            m = re.fullmatch(r"(.+)/(.+)", lt)
            if m and re.fullmatch(rf"\(?{re.escape(m.group(1))}\)?%\(?{re.escape(m.group(2))}\)?(?:>0|!=0)", rt):
                n, d = left.child_by_field_name("left"), left.child_by_field_name("right")
                while left.type == "parenthesized_expression" and _named(left):
                    left = _named(left)[0]
                    n, d = left.child_by_field_name("left"), left.child_by_field_name("right")
                if n is not None and d is not None:
                    a, b = self._value(n, depth + 1), self._value(d, depth + 1)
                    if a.known and b.known:
                        return Val(f"cdiv({a.expr}, {b.expr})")
        a = self._value(node.child_by_field_name("left"), depth + 1)
        if op in ("&&", "||", "==", "!=", "<", "<=", ">", ">="):
            c = self.condition(node, depth)
            return Val(None if c is None else ("1" if c else "0"), f"`{_short(tree.text_of(node))}`")
        b = self._value(node.child_by_field_name("right"), depth + 1)
        if (a.parts is not None and len(a.parts) > 1) or (b.parts is not None and len(b.parts) > 1):
            # `nblocks * nthreads` of two ranges (a dpct nd_range's global size): element by element
            n = max(len(a.parts or (a,)), len(b.parts or (b,)))
            one = Val("1" if op in ("*", "/") else "0")
            pa = tuple(a.parts or (a,)) + (one,) * (n - len(a.parts or (a,)))
            pb = tuple(b.parts or (b,)) + (one,) * (n - len(b.parts or (b,)))
            if a.parts is None or b.parts is None:  # a range and a number: the number for every axis
                pa = pa if a.parts is not None else (a,) * n
                pb = pb if b.parts is not None else (b,) * n
            parts = []
            for x, y in zip(pa, pb):
                if not x.known or not y.known or op not in ("*", "+", "-", "/"):
                    parts.append(x if not x.known else y if not y.known else _unknown(f"`{_short(tree.text_of(node))}`"))
                else:
                    py = "//" if op == "/" else op
                    parts.append(Val(f"({x.expr}) {py} ({y.expr})"))
            return Val(parts[0].expr, parts[0].why, parts=tuple(parts))
        if not a.known:
            return a
        if not b.known:
            return b
        is_float = a.is_float or b.is_float
        if op in ("&", "|", "^"):  # bit operations of constants: their value
            x, y = self.number(a), self.number(b)
            if isinstance(x, int) and isinstance(y, int):
                return Val(str({"&": x & y, "|": x | y, "^": x ^ y}[op]))
        py = {"/": "/" if is_float else "//", "%": "%", "*": "*", "+": "+", "-": "-", "<<": "<<", ">>": ">>",
              "&": None, "|": None, "^": None}.get(op)
        if py is None:
            return _unknown(f"`{_short(tree.text_of(node))}`")
        return Val(f"({a.expr}) {py} ({b.expr})", is_float=is_float)

    def condition(self, node, depth: int = 0) -> bool | None:
        """A host condition's truth with the program's defaults (`argc > 1` is false), or None."""
        if node is None:
            return None
        tree = self._file_of(node).tree
        if node.type in ("parenthesized_expression", "condition_clause"):
            inner = _named(node)[-1] if _named(node) else None
            return self.condition(inner, depth + 1)
        if node.type == "unary_expression" and tree.text_of(node.child_by_field_name("operator")) == "!":
            c = self.condition(node.child_by_field_name("argument"), depth + 1)
            return None if c is None else not c
        if node.type == "binary_expression":
            op = tree.text_of(node.child_by_field_name("operator"))
            if op in ("&&", "||"):
                a = self.condition(node.child_by_field_name("left"), depth + 1)
                b = self.condition(node.child_by_field_name("right"), depth + 1)
                if op == "&&":
                    return False if a is False or b is False else (True if a and b else None)
                return True if a is True or b is True else (False if a is False and b is False else None)
            if op in ("==", "!=", "<", "<=", ">", ">="):
                a = self._value(node.child_by_field_name("left"), depth + 1)
                b = self._value(node.child_by_field_name("right"), depth + 1)
                av, bv = self.number(a), self.number(b)
                if av is None or bv is None:
                    return None
                return {"==": av == bv, "!=": av != bv, "<": av < bv, "<=": av <= bv, ">": av > bv,
                        ">=": av >= bv}[op]
        v = self._value(node, depth + 1)
        n = self.number(v)
        return None if n is None else bool(n)

    def number(self, v: Val) -> int | float | None:
        """The numeric value of a Val with the leaves' values."""
        if not v.known:
            return None
        from backends.kernel.expressions import ExprError, evaluate

        env = {leaf.name: _num(leaf.value) for leaf in self.leaves.values()}
        try:
            return evaluate(v.expr, {k: x for k, x in env.items() if x is not None})
        except (ExprError, ZeroDivisionError, TypeError):
            return None

    def _sizeof_value(self, v) -> int | None:
        if v is None:
            return None
        tree = self._file_of(v).tree
        if v.type == "parenthesized_expression" and _named(v):
            v = _named(v)[0]
        if v.type in ("identifier", "type_identifier"):
            d = self._declaration(tree.text_of(v), v)
            if d is not None and d.type_text:
                return self.sizeof(d.type_text)
            if d is None or d.kind == "tparam":  # `sizeof(half)` parses as the value `(half)`: a type name
                return self.sizeof(tree.text_of(v), v)
        if v.type in ("subscript_expression", "pointer_expression"):
            inner = v.child_by_field_name("argument")
            if inner is not None and inner.type == "identifier":
                d = self._declaration(tree.text_of(inner), inner)
                if d is not None and d.type_text:
                    return self.sizeof(d.type_text)
        return None

    def _call(self, node, depth: int) -> Val:
        tree = self._file_of(node).tree
        name, targs = self._callee(node)
        fn = node.child_by_field_name("function")
        full = tree.text_of(fn) if fn is not None else name
        full = re.sub(r"<.*", "", full)
        args_node = node.child_by_field_name("arguments")
        args = list(_named(args_node)) if args_node is not None else []
        text = tree.text_of(node)
        if name in ("static_cast", "reinterpret_cast", "const_cast", "int", "size_t", "unsigned", "long",
                    "int64_t", "uint32_t", "uint64_t", "float", "double") and len(args) == 1:
            v = self._value(args[0], depth + 1)
            to_float = name in ("float", "double") or bool(targs and re.search(r"\b(float|double|half)\b", targs[0]))
            to_int = not to_float and (name not in ("static_cast", "reinterpret_cast", "const_cast") or bool(targs))
            return Val(v.expr, v.why, (v.is_float or to_float) and not to_int, v.parts, v.array)
        if _PARSE_FNS.match(full) or _PARSE_FNS.match(name):
            return _unknown(f"read from the command line (`{_short(text)}`)")
        if full in _MIN_MAX or name in ("min", "max"):
            vals = [self._value(a, depth + 1) for a in args]
            bad = next((v for v in vals if not v.known), None)
            if bad is not None:
                return bad
            f = _MIN_MAX.get(full, name)
            return Val(f"{f}({', '.join(v.expr for v in vals)})", is_float=any(v.is_float for v in vals))
        if name in ("ceil", "ceilf", "std::ceil") and len(args) == 1:
            inner = args[0]
            while inner.type in ("parenthesized_expression", "cast_expression"):
                inner = _named(inner)[-1]
            if inner.type == "binary_expression" and tree.text_of(inner.child_by_field_name("operator")) == "/":
                a = self._value(inner.child_by_field_name("left"), depth + 1)
                b = self._value(inner.child_by_field_name("right"), depth + 1)
                if a.known and b.known:
                    return Val(f"cdiv({a.expr}, {b.expr})")
            return _unknown(f"`{_short(text)}`")
        if _CEIL.match(name) and len(args) == 2:
            a, b = self._value(args[0], depth + 1), self._value(args[1], depth + 1)
            if not a.known:
                return a
            if not b.known:
                return b
            return Val(f"cdiv({a.expr}, {b.expr})")
        if name in ("dim3", "range", "id", "nd_range", "uint3", "make_uint3", "make_int3"):
            return self._ctor(name, args, text, depth)
        if fn is not None and fn.type == "field_expression":
            field_name = name
            obj = fn.child_by_field_name("argument")
            if field_name in ("size",) and obj is not None:
                return self._container_size(obj, depth)
            if field_name == "get_range" and obj is not None:  # a buffer's extents
                ext = self.accessor_extents(obj, any_dims=True)
                if ext:
                    return Val(None, f"`{_short(text)}`", parts=tuple(v for _, v in ext))
            if field_name in ("get_count", "get_size", "byte_size", "get_range") and obj is not None:
                return self._container_size(obj, depth, byte=field_name in ("get_size", "byte_size"))
            return _unknown(f"`{_short(text)}`")
        return self._inline(name, node, args, depth)

    def _ctor(self, name: str, args: list, text: str, depth: int) -> Val:
        if name == "nd_range":
            return _unknown(f"`{_short(text)}`")
        parts = tuple(self._value(a, depth + 1) for a in args)
        if len(parts) == 1 and parts[0].parts is not None:
            return parts[0]
        return Val(parts[0].expr if len(parts) == 1 else None, parts[0].why if parts else "", parts=parts or (Val("1"),))

    def _inline(self, name: str, call, args: list, depth: int) -> Val:
        """A function of one `return EXPR;` (or a function-like macro) with its arguments bound."""
        text = self.text(call)
        d = self._declaration(name, call)
        if d is not None and d.kind == "macro":
            params = d.node.child_by_field_name("parameters")
            pnames = [self.text(p) for p in _named(params)] if params is not None else []
            body = self.text(d.value) if d.value is not None else ""
            if len(pnames) != len(args) or not body:
                return _unknown(f"`{_short(text)}`")
            out = body
            for p, a in sorted(zip(pnames, args), key=lambda x: -len(x[0])):
                out = re.sub(rf"\b{re.escape(p)}\b", f"({self.text(a)})", out)
            expr = self._parse_expr(out, call)
            return self._value(expr, depth + 1) if expr is not None else _unknown(f"`{_short(text)}`")
        fn = self._function(name)
        if fn is None:
            return _unknown(f"the value of `{_short(text)}`")
        body = fn.child_by_field_name("body")
        stmts = [c for c in _named(body) if c.type != "comment"] if body is not None else []
        if len(stmts) != 1 or stmts[0].type != "return_statement" or not stmts[0].named_children:
            return _unknown(f"the value of `{_short(text)}`")
        params = _find_child(fn.child_by_field_name("declarator"), "parameter_list")
        pnames = [self.text(_decl_name(p)) for p in _named(params) if _decl_name(p) is not None] \
            if params is not None else []
        if len(pnames) != len(args):
            return _unknown(f"the value of `{_short(text)}`")
        ret = self.text(stmts[0].named_children[0])
        for p, a in sorted(zip(pnames, args), key=lambda x: -len(x[0])):
            ret = re.sub(rf"\b{re.escape(p)}\b", f"({self.text(a)})", ret)
        expr = self._parse_expr(ret, call)
        return self._value(expr, depth + 1) if expr is not None else _unknown(f"`{_short(text)}`")

    def _parse_expr(self, text: str, at):
        """An expression's text parsed where `at` is (a synthetic node in a tree of its own,
        whose names are resolved at `at`)."""
        t = syntax.parse(f"auto __kf_e = {text};")
        decl = _named(t.root)[0] if _named(t.root) else None
        init = decl.child_by_field_name("declarator") if decl is not None else None
        v = init.child_by_field_name("value") if init is not None else None
        if v is None:
            return None
        self._synthetic.append((_File(self._file_of(at).path, t), self._origin(at)))
        return v

    def _static_member(self, scope: str, member: str, at, depth: int) -> Val | None:
        """`x128::size`: a static constexpr member of a class (through typedefs), its template
        parameters bound to the type's template arguments; None when there is no such class."""
        t = self.resolve_type(scope)
        m = re.fullmatch(r"\s*([\w:]+?)\s*(?:<(.*)>)?\s*", t)
        if not m:
            return None
        cls, targs = m.group(1).split("::")[-1], [a.strip() for a in (m.group(2) or "").split(",") if a.strip()]
        for f in self.files:
            for n in syntax.walk(f.tree.root):
                if n.type not in ("struct_specifier", "class_specifier"):
                    continue
                name = n.child_by_field_name("name")
                body = n.child_by_field_name("body")
                if name is None or body is None or f.tree.text_of(name) != cls:
                    continue
                tparams: list[str] = []
                if n.parent is not None and n.parent.type == "template_declaration":
                    ps = n.parent.child_by_field_name("parameters")
                    tparams = [self.text(_decl_name(p)) for p in (_named(ps) if ps is not None else [])
                               if _decl_name(p) is not None]
                for fd in _named(body):
                    if fd.type != "field_declaration":
                        continue
                    decl = fd.child_by_field_name("declarator")
                    value = fd.child_by_field_name("default_value")
                    if decl is None or value is None or f.tree.text_of(decl) != member:
                        continue
                    expr = f.tree.text_of(value)
                    for p, a in zip(tparams, targs):
                        expr = re.sub(rf"\b{re.escape(p)}\b", a, expr)
                    node = self._parse_expr(expr, at)
                    return self._value(node, depth + 1) if node is not None else _unknown(f"`{scope}::{member}`")
        return None

    def _function(self, name: str):
        index = getattr(self, "_function_index", None)
        if index is None:
            index = {}
            for f in self.files:
                for n in syntax.walk(f.tree.root, lambda x: x.type not in ("function_definition",)):
                    if n.type == "function_definition":
                        index.setdefault(syntax.function_name(f.tree, n), n)
            self._function_index = index
        return index.get(name)

    def _container_size(self, obj, depth: int, byte: bool = False) -> Val:
        """`v.size()` (elements) or `b.byte_size()` of a vector, array or buffer."""
        if obj.type != "identifier":
            return _unknown(f"`{self.text(obj)}`")
        d = self._declaration(self.text(obj), obj)
        if d is None:
            return _unknown(f"`{self.text(obj)}`")
        if not byte and d.kind in ("ctor", "array") and d.value is not None and d.value.type == "initializer_list":
            return Val(str(len(_named(d.value))))  # `std::vector<int> v = {1, 2, 3}`: 3
        a = self.allocation_of_decl(d, obj, depth)
        if byte or not a.known:
            return a
        elem = self._pointee_size_text(d.type_text, d.node) if "<" in d.type_text else self.sizeof(d.type_text, d.node)
        if not elem:
            return _unknown(f"the element type of `{d.name}`")
        q = _divide_text(a.expr, elem)
        return Val(q)

    def _field(self, node, depth: int) -> Val:
        obj = node.child_by_field_name("argument")
        fld = self.text(node.child_by_field_name("field"))
        if fld in ("x", "y", "z") and obj is not None:
            v = self._value(obj, depth + 1)
            if v.parts is not None:
                return v.part("xyz".index(fld))
            if v.known and fld == "x":
                return v
            if v.known:
                return Val("1")
            return v
        return _unknown(f"`{_short(self.text(node))}`")

    def _subscript(self, node, depth: int) -> Val:
        arr = node.child_by_field_name("argument")
        idx = node.child_by_field_name("indices") or node.child_by_field_name("index")
        if idx is not None and idx.type == "subscript_argument_list":
            idx = _named(idx)[0] if _named(idx) else None
        if arr is None or idx is None:
            return _unknown(f"`{self.text(node)}`")
        if _ARGV.search(self.text(arr)):
            return _unknown(f"read from the command line (`{self.text(node)}`)")
        i = self.number(self._value(idx, depth + 1))
        v = self._value(arr, depth + 1)
        if isinstance(i, int) and v.parts is not None and 0 <= i < len(v.parts):
            return v.parts[i]
        if isinstance(i, int) and v.array is not None and 0 <= i < len(v.array):
            return self._value(v.array[i], depth + 1)
        return _unknown(f"`{_short(self.text(node))}`")

    def _name(self, name: str, at, depth: int) -> Val:
        if name in ("argc",):
            return Val("1")
        if name in ("true", "false", "nullptr", "NULL"):
            return Val("1" if name == "true" else "0")
        key = (at.id, name)
        if key in self._visiting:
            return _unknown(f"`{name}` depends on itself")
        self._visiting.add(key)
        try:
            v = self._name_value(name, at, depth)
            if not v.known and v.parts is None and v.array is None:
                query = self._device_query(name, self._origin(at), 0)
                if query is not None:  # say so: no value of the code is right on every device
                    text, where = query
                    return _unknown(f"`{name}`, which depends on the device (`{_short(text, 70)}` at {where}): "
                                    "write a value that every device you run it on allows (e.g. 256 work-items "
                                    "a group, 32 a sub-group)")
            return v
        finally:
            self._visiting.discard(key)

    def _member(self, name: str, at) -> str | None:
        """'class C (FILE:LINE)' when `name` is a data member of a class enclosing `at`."""
        p = at
        while p is not None:
            if p.type in ("class_specifier", "struct_specifier"):
                tree = self._file_of(p).tree
                body = p.child_by_field_name("body")
                for n in (body.named_children if body is not None else []):
                    if n.type != "field_declaration":
                        continue
                    names = [tree.text_of(x) for x in syntax.walk(n) if x.type == "field_identifier"]
                    if name in names:
                        cname = p.child_by_field_name("name")
                        what = f"class `{tree.text_of(cname)}`" if cname is not None else "the enclosing class"
                        return f"{what} ({_base(self._file_of(p).path)}:{n.start_point[0] + 1})"
            p = p.parent
        return None

    def _device_query(self, name: str, at, depth: int) -> tuple[str, str] | None:
        """(the query, FILE:LINE) when `name`'s value comes, directly or through the names it is
        computed from (or an out-parameter call), from a query of the device's limits
        (`get_info<max_work_group_size>`, `cudaGetDeviceProperties`, `cudaDeviceGetAttribute`...)."""
        if depth > 4:
            return None
        d = self._declaration(name, at)
        if d is None or d.kind in ("param", "tparam", "macro"):
            return None
        tree = d.file.tree
        texts = [(tree.text_of(d.node), d.node)]
        scope = d.scope if d.scope is not None else d.node
        assigned = [n.child_by_field_name("right") for n in syntax.walk(scope) if n.type == "assignment_expression"
                    and n.child_by_field_name("left") is not None
                    and tree.text_of(n.child_by_field_name("left")).strip() == name]
        for a in [x for x in assigned if x is not None] + [
                x for x in self._assignments(name, d, at) or [] if isinstance(x, tuple)]:
            if not isinstance(a, tuple):
                texts.append((tree.text_of(a), a))
                p = a.parent  # an assignment under `if (pow <= limit)`: the limit decides it too
                while p is not None and p.type not in ("function_definition", "lambda_expression"):
                    if p.type in ("if_statement", "while_statement", "for_statement"):
                        cond = p.child_by_field_name("condition")
                        if cond is not None:
                            texts.append((tree.text_of(cond), cond))
                    p = p.parent
            elif isinstance(a, tuple) and len(a) > 1 and _DEVICE_QUERY.search(str(a[1])):
                return f"{a[1]}(...)", f"{_base(d.file.path)}:{d.node.start_point[0] + 1}"
        # an out-parameter: `cudaDeviceGetAttribute(&x, ...)`, `cudaGetDeviceProperties(&prop, ...)`
        fn = d.scope if d.scope is not None else d.node
        body = tree.text_of(fn) if fn is not None else ""
        for m in _DEVICE_OUT.finditer(body):
            if re.search(rf"&\s*{re.escape(name)}\b", m.group(0)):
                line = fn.start_point[0] + body.count("\n", 0, m.start())
                return m.group(0).split("(")[0] + "(...)", f"{_base(d.file.path)}:{line + 1}"
        for text, node in texts:
            m = _DEVICE_QUERY.search(text)
            if m:
                return m.group(0), f"{_base(d.file.path)}:{node.start_point[0] + text.count(chr(10), 0, m.start()) + 1}"
        for text, node in texts:
            value = text.split("=", 1)[1] if "=" in text else text
            for other in sorted(set(re.findall(r"\b[A-Za-z_]\w*\b", value)) - {name}):
                found = self._device_query(other, at, depth + 1)
                if found is not None:
                    return found
        return None

    def _name_value(self, name: str, at, depth: int) -> Val:
        origin_at = self._origin(at)
        d = self._declaration(name, origin_at)
        if d is None:
            e = self._enumerator(name)
            if e is not None:
                return Val(str(e))
            member = self._member(name, origin_at)
            if member is not None:  # a data member: set by the object's constructor, its caller's business
                return _unknown(f"`{name}`, a member of {member} set outside this function: write its value")
            return _unknown(f"`{name}` (kf found no declaration of it)")
        f = d.file
        if d.kind == "param":
            return self._parameter(d, depth)
        if d.kind == "tparam":
            arg = self.template_arg(name, origin_at)
            node = self._parse_expr(arg, self._first_call_of_template(d) or origin_at) if arg else None
            if node is None:
                return _unknown(f"the template parameter `{name}`")
            v = self._value(node, depth + 1)
            if v.known and _is_constant(v.expr):
                return self._leaf(d, name, v.expr, is_float=v.is_float)
            return v
        if d.kind == "macro":
            return _unknown(f"the macro `{name}`")
        if d.kind == "array":
            if d.value is not None and d.value.type == "initializer_list":
                return Val(None, f"the array `{name}`", array=tuple(_named(d.value)))
            return _unknown(f"the array `{name}`")
        if d.kind == "ctor":
            cname = re.sub(r"<.*", "", d.type_text).split("::")[-1].strip()
            assigned = self._assignments(name, d, origin_at, elements=cname in ("range", "id"))
            if any(a is None for a in assigned):
                return _unknown(f"`{name}` (changed conditionally, in a loop or by a field before the launch)")
            args = self._ctor_args(d.node) if d.node.type != "declaration" else self._ctor_args(d.node)
            if assigned and cname in ("range", "id"):  # `gws[0] = kBlock * 256;` after `range<1> gws(...)`
                return self._elements_assigned(name, self._ctor(cname, args, self.text(d.node), depth), assigned,
                                               depth)
            if cname in ("vector", "array") and d.value is not None and d.value.type == "initializer_list":
                # `std::vector<int> SIZE = {128, 256}`: its elements, as an array's
                return Val(None, f"the {cname} `{name}`", array=tuple(_named(d.value)))
            if cname in ("dim3", "range", "id", "uint3"):
                v = self._ctor(cname, args, self.text(d.node), depth)
                if cname == "dim3" and "dpct" in d.type_text and v.parts is not None:
                    # SYCLomatic's dpct::dim3(x, y, z) converts to sycl::range<3>(z, y, x)
                    parts = tuple(v.parts) + (Val("1"),) * (3 - len(v.parts))
                    v = Val(parts[2].expr, parts[2].why, parts=tuple(reversed(parts[:3])))
                return v
            if len(args) == 1 and (cname in _SIZES or _INT_TYPE.fullmatch(cname)):  # `double scalar(3);`
                return self._value(args[0], depth + 1)
            return _unknown(f"`{name}` (a {cname})")
        value = d.value
        if d.kind == "range_loop":  # the first element of what it ranges over
            v = self._value(value, depth + 1) if value is not None else _unknown(name)
            if v.array:
                return self._value(v.array[0], depth + 1)
            if v.parts:
                return v.parts[0]
            return _unknown(f"the loop variable `{name}`")
        if d.kind == "loop":  # the loop's first iteration
            return self._value(value, depth + 1) if value is not None else _unknown(f"the loop variable `{name}`")
        assigned = self._assignments(name, d, origin_at)
        if assigned:
            last = assigned[-1]
            if last is None:
                return _unknown(f"`{name}` (changed conditionally or in a loop before the launch)")
            if isinstance(last, tuple) and last[0] == "call":  # an out-parameter of a function
                if d.kind == "var" and _INT_TYPE.search(d.type_text or "") and "*" not in (d.type_text or ""):
                    return self._leaf(d, name, GUESS, guessed=True,
                                      why=f"`{name}` is set by `{last[1]}(...)`, which kf does not follow")
                return _unknown(f"`{name}` (set by `{last[1]}(...)` before the launch)")
            if isinstance(last, tuple):
                return _unknown(f"`{name}` (updated with `{last[1]}` before the launch)")
            value = last
        if value is None:
            if d.kind == "define":
                return _unknown(f"`{name}` (an empty #define)")
            if d.kind == "var" and _INT_TYPE.search(d.type_text or "") and "*" not in (d.type_text or ""):
                return self._leaf(d, name, GUESS, guessed=True, why=f"`{name}` is set where kf cannot follow it")
            return _unknown(f"`{name}` (declared without a value)")
        if d.kind == "define" and not assigned:  # expanded where it is used, as the preprocessor does
            expr = self._parse_expr(self.text(value), origin_at)
            v = self._value(expr, depth + 1) if expr is not None else _unknown(f"`{name}`")
        else:
            v = self._value(value, depth + 1)
        if not v.known:
            if "command line" in v.why and d.kind == "var" and _INT_TYPE.search(d.type_text or "") \
                    and "*" not in (d.type_text or ""):
                given = self._run_argument(self.text(value), d.file.path)
                if given is not None:
                    arg, rl = given
                    return self._leaf(d, name, arg, why=f"argv[{self._argv_index(self.text(value))}]",
                                      given_by=f"the run target's `{_short(rl.text, 60)}` ({rl.where()})")
                return self._leaf(d, name, GUESS, guessed=True, why=v.why)
            return v
        if v.parts is not None or v.array is not None:
            return v
        num = self.number(Val(v.expr))
        if num is not None and _is_constant(v.expr):
            return self._leaf(d, name, _pretty_constant(self.text(value) if d.kind != "define" else self.text(value),
                                                       num), is_float=v.is_float or isinstance(num, float))
        return v

    def _elements_assigned(self, name: str, v: Val, assigned: list, depth: int) -> Val:
        """A range's value after `name[K] = V` assignments (in order); another change of it
        (`gws = ...`, `gws[i] += ...`) leaves it unknown rather than stale."""
        parts = list(v.parts) if v.parts is not None else None
        for a in assigned:
            if parts is None or not (isinstance(a, tuple) and a[0] == "element" and a[3] == "=" and a[1] is not None
                                     and a[2] is not None):
                return _unknown(f"`{name}` (changed before the launch in a way kf does not follow)")
            k = self.number(self._value(a[1], depth + 1))
            if not isinstance(k, int) or not 0 <= k < len(parts):
                return _unknown(f"`{name}` (an element changed before the launch: `{name}[{self.text(a[1])}]`)")
            parts[k] = self._value(a[2], depth + 1)
        return Val(parts[0].expr if len(parts) == 1 else None, parts[0].why if parts else "", parts=tuple(parts))

    def _enumerator(self, name: str) -> int | None:
        """The value of enumerator `name` of an enum in these files (`ADAM_MODE_0 = 0`, or one more
        than the one before); None when none is found or its value is not a plain number."""
        for f in self.files:
            for n in syntax.walk(f.tree.root):
                if n.type != "enumerator_list":
                    continue
                nxt: int | None = 0
                for e in _named(n):
                    if e.type != "enumerator":
                        continue
                    v = e.child_by_field_name("value")
                    if v is not None:
                        num = self.number(self._value(v, 1))
                        nxt = num if isinstance(num, int) else None
                    en = e.child_by_field_name("name")
                    if en is not None and f.tree.text_of(en) == name:
                        return nxt
                    nxt = nxt + 1 if nxt is not None else None
        return None

    def _first_call_of_template(self, d: _Decl):
        fn = next((c for c in _named(d.scope) if c.type == "function_definition"), None) if d.scope is not None else None
        if fn is None:
            return None
        calls = self._calls(syntax.function_name(self._file_of(fn).tree, fn) or "", fn)
        return calls[0] if calls else None

    def _origin(self, at):
        """A synthetic node (an inlined body or macro) resolves its names where it was used."""
        root = at
        while root.parent is not None:
            root = root.parent
        for f, where in self._synthetic:
            if f.tree.root == root:
                return where
        return at

    @staticmethod
    def _argv_index(text: str) -> int | None:
        found = set(re.findall(r"\bargv\s*\[\s*(\d+)\s*\]", text))
        return int(found.pop()) if len(found) == 1 else None

    def _run_argument(self, text: str, path: str) -> tuple[str, RunLine] | None:
        """argv[K] of `text` (`atoi(argv[2])`) as the project's Makefile runs the program."""
        k = self._argv_index(text)
        rl = run_line(path) if k is not None else None
        if rl is None or not 1 <= k <= len(rl.args) or not re.fullmatch(r"[-+]?\d+", rl.args[k - 1]):
            return None
        return rl.args[k - 1], rl

    def _leaf(self, d: _Decl, name: str, value: str, guessed: bool = False, why: str = "",
              is_float: bool = False, given_by: str = "") -> Val:
        key = (d.file.path, d.node.start_byte)
        leaf = self.leaves.get(key)
        if leaf is None:
            unique = name
            i = 2
            while unique in self._leaf_names and self._leaf_names[unique] != key:
                unique = f"{name}_{i}"
                i += 1
            self._leaf_names[unique] = key
            where = f"{os.path.basename(d.file.path)}:{d.node.start_point[0] + 1}"
            origin = why if guessed or given_by else f"`{_short(d.file.tree.text_of(d.node), 60)}` ({where})"
            leaf = Leaf(unique, value, origin, d.file.path, d.node.start_point[0], d.compile_time, guessed,
                        is_float, name, given_by)
            self.leaves[key] = leaf
        return Val(leaf.name, is_float=leaf.is_float)

    def _parameter(self, d: _Decl, depth: int) -> Val:
        """A function parameter: the argument of the function's first caller."""
        fn = d.scope
        if fn is None or fn.type != "function_definition":
            return _unknown(f"`{d.name}`, a parameter of a lambda")
        fname = syntax.function_name(d.file.tree, fn)
        if fname == "main":
            return _unknown(f"`{d.name}` of main")
        params = _find_child(fn.child_by_field_name("declarator"), "parameter_list")
        index = next((i for i, p in enumerate(_named(params)) if p.id == d.node.id), None) \
            if params is not None else None
        if index is None:
            return _unknown(f"`{d.name}`")
        for call in self._calls(fname, fn):
            a = call.child_by_field_name("arguments")
            args = list(_named(a)) if a is not None else []
            if index < len(args):
                return self._value(args[index], depth + 1)
            if d.value is not None:
                return self._value(d.value, depth + 1)
        if d.value is not None:
            return self._value(d.value, depth + 1)
        return _unknown(f"`{d.name}`, a parameter of {fname} (kf found no call of {fname} that it can follow)")

    def _calls(self, fname: str, fn) -> list:
        """Direct calls of function `fname` outside its own body, in document order; a call inside a
        branch the program's defaults rule out comes last."""
        calls, ruled_out = [], []
        params = _find_child(fn.child_by_field_name("declarator"), "parameter_list") if fn is not None else None
        ps = _named(params) if params is not None else []
        most = 10**6 if any(p.type == "variadic_parameter_declaration" or "..." in self.text(p) for p in ps) else len(ps)
        least = sum(1 for p in ps if p.type == "parameter_declaration")  # the others have defaults
        for n in self._calls_by_name().get(fname, []):
            if any(c.type == "kernel_call_syntax" for c in n.children):
                continue
            a = n.child_by_field_name("arguments")
            count = len(_named(a)) if a is not None else 0
            if ps and not least <= count <= most:
                continue  # an overload with other parameters
            if fn.start_byte <= n.start_byte < fn.end_byte and self._file_of(n).tree.root == self._file_of(fn).tree.root:
                continue
            (ruled_out if self.reached(n) is False else calls).append(n)
        if not calls and not ruled_out:
            calls = self._indirect_calls(fname)
        if not calls and not ruled_out and self._load_workspace():  # a wrapper called from main.cpp
            return self._calls(fname, fn)
        return calls + ruled_out

    def _indirect_calls(self, fname: str) -> list:
        """Calls of `fname` through a function parameter: `time_it(sgemm_gpu, d_A, ...)` where
        `time_it(F f, ...)` calls `f(...)`: those calls, in `time_it`."""
        out = []
        for f in self.files:
            for n in syntax.walk(f.tree.root):
                if n.type != "call_expression":
                    continue
                a = n.child_by_field_name("arguments")
                args = list(_named(a)) if a is not None else []
                index = next((i for i, x in enumerate(args) if self.text(x).strip().lstrip("&").strip() == fname), None)
                if index is None:
                    continue
                g = self._function(self._callee(n)[0])
                if g is None:
                    continue
                params = _find_child(g.child_by_field_name("declarator"), "parameter_list")
                ps = _named(params) if params is not None else []
                if index >= len(ps) or _decl_name(ps[index]) is None:
                    continue
                pname = self.text(_decl_name(ps[index]))
                for m in syntax.walk(g):
                    if m.type == "call_expression":
                        callee = self.text(m.child_by_field_name("function")).strip().strip("()*& ")
                        if callee == pname:
                            out.append(m)
        return out

    def reached(self, node) -> bool | None:
        """Whether the program's defaults take the branches leading to `node` (None: not known)."""
        p, child = node.parent, node
        result: bool | None = True
        while p is not None:
            if p.type == "if_statement":
                cond = self.condition(p.child_by_field_name("condition"))
                cons = p.child_by_field_name("consequence")
                alt = p.child_by_field_name("alternative")
                if cons is not None and child.id == cons.id:
                    if cond is False:
                        return False
                    if cond is None:
                        result = None
                elif alt is not None and child.id == alt.id:
                    if cond is True:
                        return False
                    if cond is None:
                        result = None
            elif p.type == "case_statement":
                sw = p.parent.parent if p.parent is not None else None
                if sw is not None and sw.type == "switch_statement":
                    v = self.number(self._value(sw.child_by_field_name("condition"), 0))
                    val = p.child_by_field_name("value")
                    cv = self.number(self._value(val, 0)) if val is not None else None
                    if v is not None and cv is not None and v != cv:
                        return False
            child, p = p, p.parent
        return result

    # -- memory ---------------------------------------------------------------------------------

    def allocation(self, node, depth: int = 0) -> Val:
        """Bytes of the memory a pointer argument points into, from where it points to its end
        (`d_x + off` subtracts the offset), or why kf cannot tell."""
        node = _strip(_as_expr(node))
        tree = self._file_of(node).tree
        t = node.type
        if t == "binary_expression" and tree.text_of(node.child_by_field_name("operator")) in ("+", "-"):
            base = self.allocation(node.child_by_field_name("left"), depth + 1)
            off = self._value(node.child_by_field_name("right"), depth + 1)
            if not base.known:
                return base
            if not off.known:
                return _unknown(f"the offset in `{_short(tree.text_of(node))}`")
            elem = self._pointee_size(node.child_by_field_name("left"))
            if elem is None:
                return _unknown(f"the element type of `{_short(tree.text_of(node))}`")
            sign = "-" if tree.text_of(node.child_by_field_name("operator")) == "+" else "+"
            return Val(f"({base.expr}) {sign} ({off.expr}) * {elem}")
        if t == "pointer_expression" and tree.text_of(node.child_by_field_name("operator")) == "*":
            inner = _strip(node.child_by_field_name("argument"))  # `*arr_buf` with `arr_buf = new buffer<T>(...)`
            d = self._declaration(self.text(inner), inner) if inner is not None and inner.type == "identifier" else None
            v = d.value if d is not None else None
            if v is not None and v.type == "new_expression":
                ty = v.child_by_field_name("type")
                bd = _Decl(d.name, d.file, v, None, "ctor", self.text(ty) if ty is not None else "", d.scope)
                if re.search(r"\bbuffer\b", bd.type_text):
                    return self._sycl_buffer(bd, node, depth + 1)
            return _unknown(f"`{_short(tree.text_of(node))}`")
        if t == "pointer_expression" and tree.text_of(node.child_by_field_name("operator")) == "&":
            inner = _strip(node.child_by_field_name("argument"))
            if inner.type == "subscript_expression":
                arr = inner.child_by_field_name("argument")
                idx = inner.child_by_field_name("indices") or inner.child_by_field_name("index")
                if idx is not None and idx.type == "subscript_argument_list":
                    idx = _named(idx)[0] if _named(idx) else None
                base = self.allocation(arr, depth + 1)
                off = self._value(idx, depth + 1) if idx is not None else _unknown("")
                elem = self._pointee_size(arr)
                if base.known and off.known and elem:
                    return Val(f"({base.expr}) - ({off.expr}) * {elem}")
                return base if not base.known else _unknown(f"`{_short(tree.text_of(node))}`")
            return _unknown(f"`{_short(tree.text_of(node))}`")
        if t == "call_expression":
            name, _ = self._callee(node)
            fn = node.child_by_field_name("function")
            args_node = node.child_by_field_name("arguments")
            args = list(_named(args_node)) if args_node is not None else []
            if name in ("raw_pointer_cast", "data", "get_pointer", "get_multi_ptr", "get", "begin") or \
                    name.startswith("get_access") or name == "get_raw_pointer":
                if fn is not None and fn.type == "field_expression":
                    return self.allocation(fn.child_by_field_name("argument"), depth + 1)
                if args:
                    return self.allocation(args[0], depth + 1)
            if name in ("malloc_device", "malloc_shared", "malloc_host", "aligned_alloc_device",
                        "aligned_alloc_shared", "malloc", "calloc", "aligned_alloc"):
                return self._alloc_call(node, name, args, depth)
            return _unknown(f"`{_short(tree.text_of(node))}`")
        if t in ("identifier", "field_expression", "qualified_identifier", "type_identifier"):
            if t not in ("identifier", "type_identifier"):
                return _unknown(f"`{_short(tree.text_of(node))}`")
            d = self._declaration(tree.text_of(node), node)
            if d is None:
                return _unknown(f"`{tree.text_of(node)}` (kf found no declaration of it)")
            return self.allocation_of_decl(d, node, depth)
        return _unknown(f"`{_short(tree.text_of(node))}`")

    def _pointee_size(self, node) -> int | None:
        node = _strip(node)
        if node.type == "identifier":
            d = self._declaration(self.text(node), node)
            if d is not None:
                ty = d.type_text
                m = re.search(r"<\s*([^,<>]+?)\s*(?:,[^<>]*)?>", ty)
                if m and re.search(r"\b(vector|device_vector|buffer|accessor|host_vector|unique_ptr)\b", ty):
                    return self.sizeof(m.group(1), d.node)
                return self.sizeof(ty, d.node)
        return None

    def allocation_of_decl(self, d: _Decl, at, depth: int = 0) -> Val:
        """Bytes behind a declared pointer / container / buffer / accessor."""
        if depth > 20:
            return _unknown("too deep")
        name = d.name
        ty = d.type_text
        if d.kind == "param":
            fn = d.scope
            if fn is None or fn.type != "function_definition":
                return _unknown(f"`{name}`")
            fname = syntax.function_name(d.file.tree, fn)
            params = _find_child(fn.child_by_field_name("declarator"), "parameter_list")
            index = next((i for i, p in enumerate(_named(params)) if p.id == d.node.id), None) \
                if params is not None else None
            for call in self._calls(fname or "", fn):
                a = call.child_by_field_name("arguments")
                args = list(_named(a)) if a is not None else []
                if index is not None and index < len(args):
                    return self.allocation(args[index], depth + 1)
            return _unknown(f"`{name}`, a parameter of {fname} (kf found no call of it)")
        cls = re.sub(r"<.*", "", ty).split("::")[-1].strip()
        if cls in ("vector", "device_vector", "host_vector", "array") and d.kind in ("ctor", "var"):
            elem = self._pointee_size_text(ty, d.node)
            args = self._ctor_args(d.node) if d.kind == "ctor" else []
            if d.kind == "var" and d.value is not None and d.value.type in ("call_expression", "compound_literal_expression"):
                args = self._ctor_args(d.value)
            if cls == "array":
                m = re.search(r",\s*([^<>]+)>", ty)
                n = self._parse_expr(m.group(1), at) if m else None
                v = self._value(n, depth + 1) if n is not None else _unknown(ty)
            elif args:
                v = self._value(args[0], depth + 1)
            else:
                return _unknown(f"the size of `{name}` (filled later)")
            if not v.known or elem is None:
                return v if not v.known else _unknown(f"the element type of `{name}`")
            return Val(f"({v.expr}) * {elem}")
        if cls == "buffer":
            return self._sycl_buffer(d, at, depth)
        if cls in ("accessor", "local_accessor") or (ty in ("auto", "const auto") and d.value is not None
                                                      and re.search(r"get_access|accessor", self.text(d.value))):
            src = self._accessor_source(d)
            if src is None:
                return _unknown(f"the buffer behind accessor `{name}`")
            return self.allocation(src, depth + 1)
        if d.kind == "array" and d.node.type == "array_declarator":
            return _unknown(f"the array `{name}`")
        values = [d.value] if d.value is not None else []
        for call in self._alloc_calls(name, d, at):
            values.append(call)
        assigned = self._assignments(name, d, at)
        values += [a for a in assigned if a is not None and not isinstance(a, tuple)]
        values = sorted([v for v in values if v is not None], key=lambda v: v.start_byte)
        for v in reversed(values):
            if v.type == "call_expression" and self._callee(v)[0] in ("cudaMalloc", "cudaMallocManaged",
                                                                      "cudaMallocHost", "cudaHostAlloc",
                                                                      "cudaMallocAsync", "hipMalloc"):
                a = v.child_by_field_name("arguments")
                args = list(_named(a)) if a is not None else []
                if len(args) >= 2:
                    return self._value(args[1], depth + 1)
            if v.type == "new_expression":
                return self._new(v, depth)
            return self.allocation(v, depth + 1)
        return _unknown(f"where `{name}` points (kf found no allocation of it)")

    def _pointee_size_text(self, ty: str, at=None) -> int | None:
        m = re.search(r"<\s*([^,<>]+?)\s*(?:,[^<>]*)?>", ty)
        return self.sizeof(m.group(1), at) if m else None

    def _alloc_calls(self, name: str, d: _Decl, at) -> list:
        """`cudaMalloc(&name, bytes)` / `cudaMalloc((void**)&name, ...)` before `at`."""
        out = []
        f = self._file_of(at)
        if d.file is not f:
            return out
        scope = d.scope or f.tree.root
        for n in syntax.walk(scope):
            if n.type != "call_expression" or n.start_byte >= at.start_byte or n.start_byte < d.node.start_byte:
                continue
            callee = self._callee(n)[0]
            if not re.match(r"^(cuda|hip)(Malloc\w*|HostAlloc)$", callee):
                continue
            a = n.child_by_field_name("arguments")
            args = list(_named(a)) if a is not None else []
            if args and re.fullmatch(rf"\(?\s*(?:\(\s*void\s*\*\*\s*\)|reinterpret_cast\s*<\s*void\s*\*\*\s*>)?\s*\(?&\s*{re.escape(name)}\s*\)?\s*\)?",
                                     self.text(args[0]).strip()):
                out.append(n)
        return out

    def _alloc_call(self, node, name: str, args: list, depth: int) -> Val:
        _, targs = self._callee(node)
        if name in ("malloc", "aligned_alloc") and args:
            return self._value(args[-1], depth + 1)
        if name == "calloc" and len(args) == 2:
            a, b = self._value(args[0], depth + 1), self._value(args[1], depth + 1)
            return Val(f"({a.expr}) * ({b.expr})") if a.known and b.known else (a if not a.known else b)
        count = args[1] if name.startswith("aligned") and len(args) > 1 else (args[0] if args else None)
        if count is None:
            return _unknown(f"`{_short(self.text(node))}`")
        v = self._value(count, depth + 1)
        if not v.known:
            return v
        if targs:
            size = self.sizeof(targs[0], node)
            if size is None:
                return _unknown(f"the size of `{targs[0]}`")
            return Val(f"({v.expr}) * {size}")
        return v  # untyped USM: bytes

    def _new(self, node, depth: int) -> Val:
        ty = node.child_by_field_name("type")
        decl = node.child_by_field_name("declarator")
        if decl is None or decl.type != "new_declarator":
            return _unknown(f"`{_short(self.text(node))}`")
        n = _named(decl)[0] if _named(decl) else None
        v = self._value(n, depth + 1) if n is not None else _unknown("")
        size = self.sizeof(self.text(ty), node) if ty is not None else None
        if not v.known or size is None:
            return v if not v.known else _unknown(f"the size of `{self.text(ty)}`")
        return Val(f"({v.expr}) * {size}")

    def _sycl_buffer(self, d: _Decl, at, depth: int) -> Val:
        """`sycl::buffer<T, N> b(ptr, range)`, `b{range}`, `b(vec)`, `b(vec.data(), vec.size())`."""
        args = self._ctor_args(d.node) if d.kind == "ctor" else []
        if d.kind == "var" and d.value is not None:
            args = self._ctor_args(d.value)
        m = re.search(r"<\s*([^,<>]+?)\s*(?:,[^<>]*)?>", d.type_text)
        elem = self.sizeof(m.group(1), d.node) if m else None
        if not args:
            return _unknown(f"the size of buffer `{d.name}`")
        rng = args[1] if len(args) >= 2 else args[0]  # (host pointer, range[, properties]) or (range)
        if len(args) == 1 and args[0].type == "identifier":
            dd = self._declaration(self.text(args[0]), args[0])
            if dd is not None and re.search(r"\b(vector|array)\b", dd.type_text):
                return self.allocation_of_decl(dd, at, depth + 1)
        v = self.vector(rng)
        if v.parts is None or any(not p.known for p in v.parts):
            bad = next((p for p in (v.parts or (v,)) if not p.known), v)
            return bad
        if elem is None and m is None and len(args) >= 2:  # `buffer b(reinterpret_cast<float*>(p), r)`
            first = args[0]
            cm = re.search(r"(?:reinterpret_cast|static_cast)\s*<\s*([^>]+?)\s*\*\s*>|\(\s*([\w:]+)\s*\*\s*\)",
                           self.text(first))
            if cm:
                elem = self.sizeof(cm.group(1) or cm.group(2), d.node)
            else:
                pt = self.pointer_type(first)
                elem = self.sizeof(pt, d.node) if pt else None
        count = " * ".join(f"({p.expr})" for p in v.parts)
        if elem is None:
            return _unknown(f"the element type of buffer `{d.name}`")
        return Val(f"({count}) * {elem}")

    def _accessor_source(self, d: _Decl):
        """The buffer node an accessor declaration reads (`b.get_access(h)`, `accessor a(b, h)`)."""
        if d.value is not None and d.value.type == "call_expression":
            fn = d.value.child_by_field_name("function")
            if fn is not None and fn.type == "field_expression":
                return fn.child_by_field_name("argument")
            args = self._ctor_args(d.value)
            return args[0] if args else None
        args = self._ctor_args(d.node)
        return args[0] if args else None

    def accessor_extents(self, node, any_dims: bool = False) -> list[tuple[str, Val]]:
        """A 2-D or 3-D buffer's extents as written where it is made (`buffer<float, 2> b(range(N,
        P))` -> [(N, ...), (P, ...)]), for an accessor (or buffer) node; [] otherwise."""
        node = _strip(_as_expr(node))
        if node.type not in ("identifier", "type_identifier"):
            return []
        d = self._declaration(self.text(node), node)
        if d is None:
            return []
        cls = re.sub(r"<.*", "", d.type_text).split("::")[-1].strip()
        if cls in ("accessor", "auto") or d.type_text.strip() in ("auto", "const auto"):
            src = self._accessor_source(d)
            src = _as_expr(src) if src is not None else None
            if src is None or src.type not in ("identifier", "type_identifier"):
                return []
            d = self._declaration(self.text(src), src)
            if d is None:
                return []
            cls = re.sub(r"<.*", "", d.type_text).split("::")[-1].strip()
        if cls != "buffer":
            return []
        args = self._ctor_args(d.node) if d.kind == "ctor" else (self._ctor_args(d.value) if d.value is not None else [])
        rng = _as_expr(args[1] if len(args) >= 2 else args[0]) if args else None
        if rng is None:
            return []
        if rng.type in ("identifier", "type_identifier"):
            rd = self._declaration(self.text(rng), rng)
            rng = rd.node if rd is not None and rd.kind == "ctor" else rng
        parts = self._ctor_args(rng) if rng.type in ("call_expression", "compound_literal_expression",
                                                    "function_declarator", "init_declarator") else []
        if len(parts) < 2 and not (any_dims and parts):
            return []
        return [(self.text(_as_expr(p)).strip(), self.value(_as_expr(p))) for p in parts]

    def pointer_type(self, node) -> str | None:
        """The element type a host pointer expression points to (`float* d_x` -> float; a buffer
        accessor's buffer's `T`), or None."""
        node = _strip(node)
        if node is not None and node.type in ("call_expression", "pointer_expression"):
            # `v.data()`, `&v[0]`: the element type of the container `v`
            held = syntax.container_of(node)
            d = self._declaration(self.text(held).strip(), held) if held is not None else None
            return (syntax.container_element(d.type_text) or None) if d is not None else None
        # `buffer b(ptr, r);` parses as a function declaration: its "parameter" `ptr` is the name
        if node.type != "identifier" and not (node.type == "parameter_declaration"
                                              and re.fullmatch(r"[A-Za-z_]\w*", self.text(node).strip())):
            return None
        d = self._declaration(self.text(node).strip(), node)
        if d is None:
            return None
        t = d.type_text
        if d.kind == "param" and "*" in t:
            return re.sub(r"\*", "", t).strip()
        if d.value is not None and d.value.type in ("call_expression", "cast_expression") and re.search(
                r"\bmalloc_(?:device|shared|host)\s*<", self.text(d.value)):
            m = re.search(r"malloc_(?:device|shared|host)\s*<\s*([^>]+?)\s*>", self.text(d.value))
            return m.group(1) if m else None
        if "*" in (self.text(d.node) if d.node is not None else ""):  # `float *d_x;`
            return re.sub(r"\*", "", t).strip() or None
        cls = re.sub(r"<.*", "", t).split("::")[-1].strip()
        if cls in ("accessor", "local_accessor", "auto") or t.strip() in ("auto", "const auto"):
            m = re.search(r"<\s*([^,<>]+?)\s*(?:,[^<>]*)?>", t)
            if cls != "auto" and m:
                return m.group(1)
            src = self._accessor_source(d)
            if src is not None and (src.type == "identifier" or (
                    src.type == "parameter_declaration" and re.fullmatch(r"[A-Za-z_]\w*", self.text(src).strip()))):
                bd = self._declaration(self.text(src).strip(), src)
                m = re.search(r"<\s*([^,<>]+?)\s*(?:,[^<>]*)?>", bd.type_text) if bd is not None else None
                if m is None and bd is not None:  # `buffer b(ptr, r)`, `b{v}` (CTAD): the host data's type
                    args = self._ctor_args(bd.node) if bd.kind == "ctor" else \
                        (self._ctor_args(bd.value) if bd.value is not None else [])
                    if len(args) == 1 and args[0].type == "identifier":
                        vd = self._declaration(self.text(args[0]), args[0])
                        return (syntax.container_element(vd.type_text) or None) if vd is not None else None
                    return self.pointer_type(args[0]) if len(args) >= 2 else None
                return m.group(1) if m else None
        if cls in ("vector", "device_vector", "buffer", "array", "host_vector"):
            m = re.search(r"<\s*([^,<>]+?)\s*(?:,[^<>]*)?>", t)
            return m.group(1) if m else None
        return None


# -- helpers ---------------------------------------------------------------------------------------


def _is_include_guard(tree, node, name: str) -> bool:
    """`#ifndef NAME` whose first directive defines NAME: an include guard (the macro set is
    every define of the files, the guard's own among them, so it must not rule its body out)."""
    for c in _named(node):
        if c.type in ("identifier", "comment") or c.id == (node.child_by_field_name("name") or c).id:
            continue
        if c.type == "preproc_def":
            n = c.child_by_field_name("name")
            return n is not None and tree.text_of(n) == name
        return False
    return False


def names_of(expr: str) -> set[str]:
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        return set()
    funcs = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in funcs}


def _divide_text(expr: str, k: int) -> str:
    from backends.kernel.simplify import divide

    return divide(expr, k) or f"({expr}) // {k}"


def _bare_type(t: str) -> str:
    t = re.sub(r"\b(const|volatile|typename|struct|class)\b", " ", t)
    t = re.sub(r"\s*&+\s*$", "", t)
    return " ".join(re.sub(r"\s*([<>,*])\s*", r"\1", t).split())


def _type_pattern(ptype: str, name: str) -> str:
    """A regex matching argument types for parameter type `ptype`, capturing `name` as x."""
    out, seen = "", False
    for tok in re.findall(r"[A-Za-z_]\w*(?:::[A-Za-z_]\w*)*|[^\sA-Za-z_]", _bare_type(ptype)):
        if tok == name and not seen:
            out += r"(?P<x>[^,<>]+?)"
            seen = True
        elif re.fullmatch(r"[A-Za-z_][\w:]*", tok):
            out += r"(?:[\w:]*::)?" + re.escape(tok.split("::")[-1]) if "::" in tok else r"[^,<>]+?" \
                if tok[0].isupper() and len(tok) <= 2 else r"(?:[\w:]*::)?" + re.escape(tok)
        else:
            out += re.escape(tok)
    return out


def _dims(v: Val) -> list[Val]:
    if v.parts is not None:
        parts = list(v.parts)
    else:
        parts = [v]
    while len(parts) > 1 and parts[-1].expr == "1":
        parts.pop()
    return parts


def _named(node) -> list:
    """A node's named children, comments left out (`f(/* why */ a, b)` has two arguments)."""
    return [c for c in node.named_children if c.type != "comment"]


def _find_child(node, type_: str):
    if node is None:
        return None
    for n in syntax.walk(node):
        if n.type == type_:
            return n
    return None


def _decl_name(node):
    """The identifier a declarator / parameter declares."""
    while node is not None and node.type not in ("identifier", "field_identifier", "type_identifier"):
        nxt = node.child_by_field_name("declarator") or node.child_by_field_name("name")
        if nxt is None:
            nxt = next((c for c in _named(node) if c.type in ("identifier", "pointer_declarator",
                                                                        "reference_declarator", "array_declarator",
                                                                        "init_declarator", "type_identifier")), None)
        node = nxt
    return node


def _type_text(tree, p) -> str:
    t = p.child_by_field_name("type")
    text = tree.text_of(t) if t is not None else ""
    d = p.child_by_field_name("declarator")
    if d is not None and d.type == "pointer_declarator":
        text += "*"
    return text


def _is_class_type(type_text: str) -> bool:
    return bool(re.search(r"\b(vector|device_vector|host_vector|buffer|accessor|local_accessor|range|nd_range|"
                          r"dim3|id|array|queue|unique_ptr)\b", type_text))


def _as_expr(node):
    """`acc(buf, h)` parsed as a declaration has parameters where the arguments are: `buf` is
    a parameter_declaration of type `buf`; that type node stands for the name."""
    if node is not None and node.type == "parameter_declaration" and node.child_by_field_name("declarator") is None:
        t = node.child_by_field_name("type")
        if t is not None:
            return t
    return node


def _strip(node):
    """Casts and parentheses around a pointer expression (`(float*)p`, `reinterpret_cast<T*>(p)`)."""
    for _ in range(10):
        if node is None:
            return node
        if node.type == "parenthesized_expression" and _named(node):
            node = _named(node)[0]
        elif node.type == "cast_expression":
            node = node.child_by_field_name("value")
        elif node.type == "call_expression":
            fn = node.child_by_field_name("function")
            if fn is not None and fn.type == "template_function":
                name = fn.child_by_field_name("name")
                if name is not None and name.type == "identifier" and \
                        fn.child_by_field_name("name").text.decode() in ("reinterpret_cast", "static_cast",
                                                                          "const_cast"):
                    a = node.child_by_field_name("arguments")
                    node = _named(a)[0] if a is not None and _named(a) else node
                    continue
            return node
        else:
            return node
    return node


def _number(text: str) -> Val:
    t = text.strip().replace("'", "")
    is_float = bool(re.search(r"[.eE]", t)) and not t.lower().startswith("0x") or t.lower().endswith("f") and \
        not t.lower().startswith("0x")
    t = re.sub(r"(?i)(?<=[0-9a-f.])(ull|llu|ul|lu|ll|u|l|f)$", "", t) if not t.lower().startswith("0x") else \
        re.sub(r"(?i)(ull|llu|ul|lu|ll|u|l)$", "", t)
    try:
        v = int(t, 0) if not is_float else float(t)
    except ValueError:
        try:
            v = float(t)
            is_float = True
        except ValueError:
            return _unknown(f"the number {text}")
    return Val(repr(v) if is_float else str(v), is_float=is_float)


def _num(expr: str) -> int | float | None:
    from backends.kernel.expressions import ExprError, evaluate

    try:
        return evaluate(expr, {})
    except (ExprError, ZeroDivisionError, TypeError):
        return None


def _is_constant(expr: str) -> bool:
    try:
        tree = ast.parse(expr, mode="eval")
    except SyntaxError:
        return False
    return not any(isinstance(n, ast.Name) and n.id not in ("cdiv", "roundup", "min", "max")
                   for n in ast.walk(tree))


def _pretty_constant(c_text: str, value: int | float) -> str:
    """A constant as the program wrote it when that reads as a spec expression (`1 << 20`)."""
    t = " ".join(c_text.split())
    t = re.sub(r"(?<=\d)(?:[uU][lL]{0,2}|[lL]{1,2}[uU]?|[fF])\b", "", t)
    if re.fullmatch(r"[\d\s()+*<>-]+", t):
        try:
            if _num(t) == value:
                return t
        except Exception:
            pass
    return repr(value) if isinstance(value, float) else str(value)


def _short(text: str, n: int = 50) -> str:
    t = " ".join(text.split())
    return t if len(t) <= n else t[: n - 3] + "..."
