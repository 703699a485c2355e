"""Drafts read from the host code: the launch, sizes and buffer lengths the program itself uses.

`kf spec` first reads the kernel's body (backends/kernel/draft.py: roles, accumulations,
tunables, guards). When the file (or a file it includes) launches the kernel, the host
code answers what the body cannot (backends/kernel/host.py): the launch shape as the
program writes it, every scalar argument's value, each buffer's length from the allocation
its argument comes from, dynamic shared memory from the launch. The spec's variables are
the program's own constants (`B = 8`, `C = 768`), named as the kernel names them where the
kernel takes them as parameters; sizes the program reads from its command line without a
default get a value kf chooses, and say so; the default problem is scaled down to fit in
1 GiB when the program's is larger, and says so too.

Never a wrong draft: a value kf cannot follow is a placeholder (`[?]`, `?`) that the spec
parser rejects with a message saying what to write, with the reason as a note above it.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from backends.kernel import dtypes
from backends.kernel.draft import BodyDraft, analyse
from backends.kernel.expressions import ExprError, evaluate, holds
from backends.kernel.host import Host, Leaf, Site, Val
from backends.kernel.simplify import divide, names_in, substitute, tidy, tidy_condition
from backends.model import KernelSource

__all__ = ["host_draft", "MAX_DEFAULT_BYTES"]

MAX_DEFAULT_BYTES = 1 << 30  # the default problem's buffers, in all
GUESSED_ELEMENTS = 1 << 20  # sizes read from the command line: the largest buffer gets about this many
SMALL_GUESS = 4  # a value read from the command line that sizes no buffer and no launch
_WARP = re.compile(r"^(WARP_SIZE|warpSize|WARPSIZE|kWarpSize|warp_size|SUBGROUP_SIZE|SG_SIZE)$")
_MASKISH = re.compile(r"MASK|FLAG|SEED|MAGIC|INF|MAX_?VAL|MIN_?VAL|EPS", re.I)
_VECTOR_TYPES = {"float4": 16, "float2": 8, "int4": 16, "int2": 8, "uint4": 16, "uint2": 8, "double2": 16,
                 "half2": 4, "__half2": 4, "char4": 4, "uchar4": 4, "short4": 8, "double4": 32, "longlong2": 16}
_SHARED_LIMIT = 48 * 1024  # static + dynamic shared memory a launch may use without opting in
_MAX_THREADS = 1024


@dataclass
class _Buffer:
    name: str
    role: str
    type_name: str  # as the spec writes it
    length: str | None  # None: a placeholder
    why: str = ""
    start: str | None = None
    null: bool = False
    range_hi: str | None = None


@dataclass
class _Draft:
    notes: list[str] = field(default_factory=list)
    buffers: list[_Buffer] = field(default_factory=list)
    values: dict[str, str] = field(default_factory=dict)  # kernel scalar parameter -> expression
    variables: dict[str, str] = field(default_factory=dict)  # other spec variables (program constants)
    grid: list[str | None] = field(default_factory=list)
    block: list[str | None] = field(default_factory=list)
    shared: str | None = "0"
    tunables: dict[str, list] = field(default_factory=dict)
    requires: list[str] = field(default_factory=list)
    fixed: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)
    types: dict[str, str] = field(default_factory=dict)  # `T = float`: type template parameters
    language: str = "cuda"
    range_launch: bool = False  # SYCL `parallel_for(range, ...)`: `global` only


def host_draft(text: str, kernel: KernelSource, path: str, files: list[tuple[str, str]] | None = None,
               include_dirs: list[str] | None = None) -> list[str] | None:
    """The draft's entries (`in x: float[n]`, notes as `// ...`) read from the host code, or None
    when no launch of the kernel is found (the body's draft stands alone then)."""
    include_dirs = list(include_dirs or []) + _project_include_dirs(path, text)
    workspace = (lambda: _workspace_files(path)) if files is None else None
    host = Host(path, text, files, include_dirs, workspace=workspace)
    nd_fn = kernel.form == "nd_item_function"
    if kernel.language == "cuda" or nd_fn:
        sites = host.launches(kernel.name, kernel.language, nd_item_function=nd_fn)
        if not sites and files is None:  # the workspace: a main.cpp beside kernel.cu, a runner.cu including it
            siblings = _workspace_files(path)
            if siblings:
                host = Host(path, text, siblings, include_dirs)
                sites = host.launches(kernel.name, kernel.language, nd_item_function=nd_fn)
    else:
        sites = _lambda_sites(host, kernel)
    sites = [s for s in sites if host.reached(s.node) is not False] + \
        [s for s in sites if host.reached(s.node) is False]
    if not sites:
        return None
    body = analyse(text, kernel)
    site = sites[0]
    d = _Draft(language=kernel.language, range_launch=site.kind == "range")
    def at(s: Site) -> str:  # the kernel's own file by line (a note names no more code than it must)
        return f"line {s.line + 1}" if s.file == path else f"{_base(s.file)}:{s.line + 1}"

    where = at(site)
    chain = host.in_macro.get((site.file, site.line))
    if chain:  # written inside a macro: kf read it written out at its use
        where += " (in macro " + " -> ".join(
            f"`{n}` ({'line ' + str(ln + 1) if f == path else _base(f) + ':' + str(ln + 1)})" for n, f, ln in chain) + ")"
    others = [at(s) for s in sites[1:] if _signature(host, s) != _signature(host, site)]
    d.notes.append(f"drafted from the launch at {where}" + (f"; other launches: {', '.join(others[:4])}"
                                                            + (" ..." if len(others) > 4 else "") if others else ""))
    _build(d, host, site, kernel, body, text)
    return _entries(d)


# -- reading the site --------------------------------------------------------------------------

_SOURCE_EXT = (".cu", ".cuh", ".cpp", ".cc", ".cxx", ".c", ".h", ".hpp", ".hh", ".hxx")


def _siblings(path: str, limit: int = 40, max_bytes: int = 500_000) -> list[tuple[str, str]]:
    """The other C/C++/CUDA files of the kernel's folder (where its launch may be)."""
    import os

    folder = os.path.dirname(os.path.abspath(path))
    out: list[tuple[str, str]] = []
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return out
    for name in names:
        p = os.path.join(folder, name)
        if p == os.path.abspath(path) or not name.lower().endswith(_SOURCE_EXT) or not os.path.isfile(p):
            continue
        try:
            if os.path.getsize(p) > max_bytes:
                continue
            with open(p, encoding="utf-8", errors="replace") as f:
                t = f.read()
        except OSError:
            continue
        out.append((p, t))
        if len(out) >= limit:
            break
    return out



def _workspace_files(path: str) -> list[tuple[str, str]]:
    """Where a kernel's launch or a wrapper's callers may be: the other files of its folder, and
    for a header, the files of the folder above that include it (`src/runner.cu` including
    `kernels/k.cuh` through `kernels.cuh`, itself in that folder, counts)."""
    import os

    out = _siblings(path)
    out += _project_files(path, {os.path.abspath(p) for p, _ in out})
    if not path.lower().endswith((".cuh", ".h", ".hpp", ".hh", ".hxx")):
        return out
    here = os.path.abspath(path)
    up = _siblings(os.path.join(os.path.dirname(os.path.dirname(here)), "_"))
    names = {os.path.basename(here)}
    # a header that includes this one names it too (`kernels.cuh` -> `kernels/1_naive.cuh`)
    inc = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"]+)"', re.M)
    chosen: list[tuple[str, str]] = []
    for _ in range(2):
        for p, t in up:
            if (p, t) not in chosen and any(os.path.basename(m) in names for m in inc.findall(t)):
                chosen.append((p, t))
                names.add(os.path.basename(p))
    return out + chosen


def _project_include_dirs(path: str, text: str) -> list[str]:
    """The include directories the project builds the file with (its compile_commands.json entry,
    then the file's `// @kf flags` lines), where its headers' constants and enums are found."""
    from backends.kernel.project_flags import compile_command_flags, include_dirs

    pf = compile_command_flags(path)
    flags = list(pf.flags) if pf is not None else []
    for m in re.finditer(r"^[ \t]*//[ \t]*@kf[ \t]+flags[ \t]+(.*)$", text, re.M):
        flags += m.group(1).split()
    return include_dirs(flags)


def _project_files(path: str, have: set[str], limit: int = 20, max_bytes: int = 500_000) -> list[tuple[str, str]]:
    """The project's other translation units (its compile_commands.json's entries): where a
    wrapper defined beside the kernel is called from (`sgemm.cu` calling `runner.cu`'s `run_kernel`)."""
    import os

    from backends.kernel.project_flags import project_sources

    out: list[tuple[str, str]] = []
    me = os.path.abspath(path)
    for p in project_sources(path):
        if p == me or p in have or not os.path.isfile(p) or len(out) >= limit:
            continue
        try:
            if os.path.getsize(p) > max_bytes:
                continue
            with open(p, encoding="utf-8", errors="replace") as f:
                out.append((p, f.read()))
        except OSError:
            continue
    return out


def _base(p: str) -> str:
    return p.replace("\\", "/").rsplit("/", 1)[-1]


def _signature(host: Host, s: Site) -> str:
    return "|".join([str(v.expr) for v in s.grid + s.block] + [host.text(a) for a in s.args])


def _lambda_sites(host: Host, kernel: KernelSource) -> list[Site]:
    site = host.lambda_site(kernel.definition)
    return [site] if site is not None else []


def _param_nodes(host: Host, site: Site, kernel: KernelSource) -> dict[str, object]:
    """The host node that gives each kernel parameter its value."""
    out: dict[str, object] = {}
    if site.lambda_node is not None and kernel.form == "lambda":
        from backends.kernel import syntax

        body = site.lambda_node.child_by_field_name("body")
        for p in kernel.params:
            for n in syntax.walk(body) if body is not None else []:
                if n.type in ("identifier", "type_identifier") and host.text(n) == p.name:
                    out[p.name] = n
                    break
        return out
    if kernel.form == "nd_item_function":  # by name: the call also passes the work-item (and local memory)
        names = [n for n, _ in host.function_params(kernel.name)]
        if len(names) == len(site.args):
            by_name = dict(zip(names, site.args))
            return {p.name: by_name[p.name] for p in kernel.params if p.name in by_name}
        return out
    for p, a in zip(kernel.params, site.args):
        out[p.name] = a
    return out


def _element_type(host: Host, kernel: KernelSource, p, type_bindings: dict[str, str], at=None,
                  element_types: dict[str, str] | None = None) -> str:
    t = p.base_type
    if element_types and p.name in element_types:
        t = element_types[p.name]
    if t in type_bindings:
        t = type_bindings[t]
    elif at is not None:
        t = host.type_at(t, at)  # a lambda's `T` is its enclosing function template's
    t = host.resolve_type(t)
    if at is not None and kernel.form == "lambda" and _spec_type(t) is None:
        # `accessor a(b, h)` over `buffer b(ptr, r)` (CTAD twice): the host pointer's type
        try:
            node = host._parse_expr(p.name, at)
            pt = host.pointer_type(node) if node is not None else None
        except Exception:  # a draft is a convenience: the placeholder stands
            pt = None
        if pt and _spec_type(host.resolve_type(pt)):
            return host.resolve_type(pt)
    return t


_OPENCL = {"cl_int": "int", "cl_uint": "unsigned", "cl_float": "float", "cl_double": "double", "cl_long": "int64_t",
           "cl_ulong": "uint64_t", "cl_short": "short", "cl_ushort": "unsigned short", "cl_char": "int8_t",
           "cl_uchar": "uint8_t", "cl_half": "half"}


def _spec_type(type_text: str) -> str | None:
    """The spec's spelling of an element type (None: kf has no data type for it)."""
    t = " ".join(type_text.split())
    short = re.sub(r"^(?:::)?(?:cl::)?(?:sycl::)?", "", t)
    if short in _OPENCL:  # SYCL 1.2.1's `cl::sycl::cl_int`
        return _OPENCL[short]
    if dtypes.canonical(t):
        return t
    aliases = {"__nv_bfloat16": "bf16", "nv_bfloat16": "bf16", "sycl::ext::oneapi::bfloat16": "bf16",
               "bfloat16": "bf16", "__half": "half", "sycl::half": "half"}
    if t in aliases and dtypes.canonical(aliases[t]):
        return aliases[t]
    return t if dtypes.canonical(t) else None


# -- the draft ----------------------------------------------------------------------------------


def _build(d: _Draft, host: Host, site: Site, kernel: KernelSource, body: BodyDraft, text: str) -> None:
    nodes = _param_nodes(host, site, kernel)
    type_bindings: dict[str, str] = {}
    from backends.kernel.declarations import template_params

    tparams = template_params(text, kernel) if kernel.language == "cuda" or kernel.form == "nd_item_function" else []
    if not tparams and kernel.template_params:  # a lambda in a function template: its T is the function's
        tparams = [("typename", t, None) for t in kernel.template_params]
    if kernel.form == "lambda":  # parallel_for<class K<T>>'s arguments name the kernel, not its types
        site.template_args = []
    for (kind, name, default), arg in zip(tparams, site.template_args):
        if kind in ("typename", "class"):
            type_bindings[name] = host.type_at(arg, site.node)  # `scan<T, N>` in `runTest<int, 512>`: int
    # values of scalar parameters and buffer sizes, as host expressions over leaves
    values: dict[str, Val] = {}
    sizes: dict[str, Val] = {}
    nulls: set[str] = set()
    element_types: dict[str, str] = {}  # a parameter whose own type does not say it (auto accessors)
    extents: dict[str, Val] = {}  # named extents of multi-dimensional buffers (`N`, `P` of range(N, P))
    for p in kernel.params:
        node = nodes.get(p.name)
        if node is None:
            (sizes if p.is_pointer else values)[p.name] = Val(None, f"no argument for `{p.name}` at the launch")
            continue
        if p.is_pointer:
            if host.text(node).strip() in ("nullptr", "NULL", "0", "(nullptr)"):
                nulls.add(p.name)
                continue
            sizes[p.name] = host.allocation(node)
            for ext, v in host.accessor_extents(node):  # a 2-D buffer's extents, as the kernel's lifting names them
                if re.fullmatch(r"[A-Za-z_]\w*", ext) and ext not in [q.name for q in kernel.params]:
                    extents.setdefault(ext, v)
            if p.base_type in [t for k, t, _ in tparams if k in ("typename", "class")] and p.base_type not in type_bindings:
                pt = host.pointer_type(node)
                if pt:
                    type_bindings[p.base_type] = host.type_at(re.sub(r"\*|\bconst\b", "", pt).strip(), node)
            elif not _spec_type(host.resolve_type(p.base_type)) and p.base_type not in \
                    [t for k, t, _ in tparams if k in ("typename", "class")]:
                pt = host.pointer_type(node)  # `auto acc = buf.get_access(h)`: the buffer's element type
                if pt:
                    element_types[p.name] = host.type_at(re.sub(r"\*|\bconst\b", "", pt).strip(), node)
        else:
            values[p.name] = host.value(node)
    for (kind, name, default), arg in zip(tparams, site.template_args):
        if kind not in ("typename", "class"):
            values.setdefault(f"__tparam_{name}", host.value(host._parse_expr(arg, site.node)) if
                              host._parse_expr(arg, site.node) is not None else Val(None, arg))
    launch_grid = [v for v in site.grid]
    launch_block = [v for v in site.block]
    shared = site.shared

    # spec expressions
    exprs: dict[str, str | None] = {}
    whys: dict[str, str] = {}

    def put(key: str, v: Val | None) -> None:
        if v is None:
            exprs[key] = "0"
        elif v.known:
            exprs[key] = tidy(v.expr, cancel=False)
        else:
            exprs[key] = None
            whys[key] = v.why

    for name, v in list(extents.items()):
        values.setdefault(name, v)
    for name, v in values.items():
        put(f"value:{name}", v)
    for p in kernel.params:
        if p.is_pointer and p.name not in nulls:
            v = sizes.get(p.name, Val(None, "no argument"))
            et = _element_type(host, kernel, p, type_bindings, site.node, element_types)
            size = host.sizeof(et)
            if v.known and size:
                q = divide(v.expr, size)
                if q is None:
                    q = f"({tidy(v.expr)}) // {size}"
                put(f"length:{p.name}", Val(q))
            elif v.known:
                put(f"length:{p.name}", Val(None, f"the size of `{et}`"))
            else:
                put(f"length:{p.name}", v)
    for i, v in enumerate(launch_grid):
        put(f"grid:{i}", v)
    for i, v in enumerate(launch_block):
        put(f"block:{i}", v)
    if shared is not None:
        put("shared", shared)
    for i, c in enumerate(host.preconditions(site)):
        exprs[f"require:{i}"] = c

    leaves = {leaf.name: leaf for leaf in host.leaves.values()}
    used = set()
    for x in exprs.values():
        if x:
            used |= names_in(x) & set(leaves)
    # a scalar parameter given by a program constant takes its name: `C` for C, `n` for `N`
    renamed: dict[str, str] = {}
    scalar_names = [p.name for p in kernel.params if not p.is_pointer] + [e for e in extents]
    for pname in scalar_names:
        x = exprs.get(f"value:{pname}")
        if x and x in leaves and x not in renamed and not _kernel_uses(leaves[x], body):
            renamed[x] = pname
    clash = ({v for v in renamed.values()} | set(scalar_names)) & (set(leaves) - set(renamed))
    for leaf_name in clash:  # a program constant named like a parameter that takes another value
        new = leaf_name + "_"
        while new in leaves or new in scalar_names:
            new += "_"
        renamed[leaf_name] = new
    for key, x in list(exprs.items()):
        if x:
            exprs[key] = _rename(x, renamed)
    leaves = {renamed.get(n, n): Leaf(renamed.get(n, n), leaf.value, leaf.origin, leaf.file, leaf.line,
                                      leaf.compile_time, leaf.guessed, leaf.is_float, leaf.source_name,
                                      leaf.given_by)
              for n, leaf in leaves.items() if n in used}

    # sub-expressions the kernel names (N = B * T): written with its name
    for pname in scalar_names:
        x = exprs.get(f"value:{pname}")
        if not x or x == pname or not names_in(x) or x in scalar_names:
            continue  # `pitch = NX` of another parameter stays so: NX written `pitch` made a cycle
        for key in list(exprs):
            if key != f"value:{pname}" and exprs[key] and not key.startswith("require:"):
                exprs[key] = substitute(exprs[key], pname, x)
    # tunables: the body's compile-time knobs, with the values the launch gives template parameters
    tun = _tunables(body, tparams, site, host, kernel, text)
    at_site = {name: _site_int(host, site, arg) for (kind, name, _), arg in zip(tparams, site.template_args)
               if kind not in ("typename", "class", "bool")}

    # constants written as their value: launch settings (a block size), constants the kernel's own
    # code uses by name (a #define: varying it in the spec would not change the kernel), warp sizes
    in_block: set[str] = set()
    size_like: set[str] = set()
    for key, x in exprs.items():
        if x and key.startswith("block:"):
            in_block |= names_in(x)
        if x and (key.startswith("length:") or key.startswith("value:")):
            size_like |= names_in(x)
    literal: dict[str, str] = {}
    for n, leaf in leaves.items():
        if n in tun or n in scalar_names or (leaf.guessed and not _kernel_uses(leaf, body)):
            continue  # a value kf chose stays a named variable: the draft's notes say so
        if _kernel_uses(leaf, body) or n in in_block or n not in size_like or _WARP.match(leaf.source_name):
            literal[n] = leaf.value if leaf.value else "?"
    # in the launch, a constant equal to the launch's template argument is that parameter (the host
    # keeps `block_size` and `MatrixMulCUDA<32>` together): written as the tunable, tuned together
    tied: dict[str, str] = {}
    for n in literal:
        leaf = leaves[n]
        if leaf.compile_time and n not in in_block:
            continue
        same = [t for t, v in at_site.items() if v is not None and t in tun and str(v) == str(_value(leaf))]
        if len(same) == 1:
            tied[n] = same[0]
    for key, x in list(exprs.items()):
        if not x:
            continue
        launch = key.startswith(("grid:", "block:", "shared"))
        exprs[key] = _replace_names(x, {**literal, **tied} if launch else literal)
        if not key.startswith("require:"):
            exprs[key] = tidy(exprs[key], cancel=False)
    leaves = {n: leaf for n, leaf in leaves.items() if n not in literal}

    # constants only a parameter's value uses fold into it (N = 8192 rather than B = 8, T = 1024)
    for pname in scalar_names:
        x = exprs.get(f"value:{pname}")
        if not x or x == pname:
            continue
        own = names_in(x) & set(leaves)
        elsewhere = set()
        for key, y in exprs.items():
            if y and key != f"value:{pname}":
                elsewhere |= names_in(y)
        if own and not (own & elsewhere) and all(not leaves[n].guessed for n in own):
            env = {n: _value(leaves[n]) for n in own}
            try:
                v = evaluate(x, env)
                exprs[f"value:{pname}"] = str(v) if not isinstance(v, float) else repr(v)
            except ExprError:
                pass
    for key, x in list(exprs.items()):
        if x and not key.startswith("require:"):
            exprs[key] = tidy(x)

    # guessed sizes: the program reads them from its command line
    variables: dict[str, str] = {}
    for n, leaf in leaves.items():
        if n in tun:
            continue
        if any(n in names_in(x or "") for x in exprs.values()):
            variables[n] = leaf.value
    by_line: dict[str, list[Leaf]] = {}
    for leaf in leaves.values():  # read from the command line: what the project's own run line passes
        if leaf.given_by:
            by_line.setdefault(leaf.given_by, []).append(leaf)
    for line, given in by_line.items():
        d.notes.append(f"read from {line}: " + ", ".join(
            f"{leaf.source_name or leaf.name} = {leaf.value} ({leaf.origin})" for leaf in given))
    guessed = [n for n in variables if leaves[n].guessed]
    for n in guessed:
        variables[n] = "?"
    _choose_guesses(variables, guessed, exprs, kernel, leaves, d)

    # the spec's variables: scalar parameters first (in parameter order), then the constants
    for p in kernel.params:
        if p.is_pointer:
            continue
        x = exprs.get(f"value:{p.name}")
        if x is None and dtypes.is_float(dtypes.canonical(_spec_type(host.resolve_type(p.base_type)) or p.base_type) or "i"):
            # a floating-point scalar is no size: any finite value runs the kernel the same way
            literal_floats = re.findall(r"[-+]?\d+\.\d*(?:[eE][-+]?\d+)?|[-+]?\d+[eE][-+]?\d+",
                                        host.text(nodes[p.name]) if p.name in nodes else "")
            d.values[p.name] = literal_floats[0] if len(literal_floats) == 1 else "1.5"
            d.notes.append(f"{p.name} = {d.values[p.name]}: chosen by kf (it could not follow "
                           f"{whys.get(f'value:{p.name}', 'its value')})")
        elif x is None:
            d.values[p.name] = "?"
            d.notes.append(f"{p.name}: kf could not follow {whys.get(f'value:{p.name}', 'its value')}")
        elif x == p.name:
            d.values[p.name] = variables.pop(p.name, "?")
        else:
            d.values[p.name] = x
    for name in extents:  # named buffer extents are variables of the spec (the lifted kernel reads them)
        x = exprs.get(f"value:{name}")
        if x is not None and x != name:
            d.variables = {name: x, **{k: v for k, v in variables.items() if k != name}}
            variables = d.variables
        elif x is None:
            variables[name] = "?"
    d.variables = variables

    for kind, name, _ in tparams:
        if kind in ("typename", "class") and name not in type_bindings:
            t = host.type_at(name, site.node)  # deduced or given where the enclosing template is called
            if t != name and not re.fullmatch(r"[-+]?\d+[uUlL]*", t.strip()):
                type_bindings[name] = t
        if kind in ("typename", "class") and name in type_bindings:
            d.types[name] = " ".join(host.resolve_type(type_bindings[name]).split()) \
                if _spec_type(host.resolve_type(type_bindings[name])) else type_bindings[name]
    # buffers
    for p in kernel.params:
        if not p.is_pointer:
            continue
        et = _element_type(host, kernel, p, type_bindings, site.node, element_types)
        st = _spec_type(et) or _spec_type(p.base_type)
        role = body.roles.get(p.name, "in" if p.is_const else "inout")
        if p.name in nulls:
            d.buffers.append(_Buffer(p.name, role, st or et, None, null=True))
            continue
        x = exprs.get(f"length:{p.name}")
        why = whys.get(f"length:{p.name}", "")
        if x is not None and "?" in x:
            x, why = None, "a size the program does not fix"
        if x is not None and names_in(x) & set(tun):
            x, why = None, f"its length moves with a tunable ({', '.join(sorted(names_in(x) & set(tun)))})"
        if x is None:
            bl = body.lengths.get(p.name, "?")
            if bl != "?" and not (names_in(bl) - set(d.values) - set(d.variables)):
                x = bl
        start = "0" if body.accumulates.get(p.name) else None
        arg = nodes.get(p.name)
        if start is None and role != "in" and arg is not None and host.zeroed_before(arg, site.node):
            role, start = "out", "0"  # the program zeroes it before the launch (`q.memset(out, 0, ...)`)
        b = _Buffer(p.name, role, st or "?", x, why, start)
        d.buffers.append(b)
        if st is None:
            if et.strip() in ("auto", ""):  # a lambda's accessor over a buffer whose type nothing spells
                d.notes.append(f"{p.name}: kf could not tell its element type (neither it nor its buffer names "
                               "one): write one of float, double, half, bf16, int...")
            else:
                d.notes.append(f"{p.name}: kf has no data type for `{et}`: write one of float, double, half, bf16, int...")

    # launch
    for key, out in (("grid", d.grid), ("block", d.block)):
        i = 0
        while f"{key}:{i}" in exprs:
            x = exprs[f"{key}:{i}"]
            if x is not None and "?" in x:
                x = None
            out.append(x)
            if x is None:
                d.notes.append(f"{key} dimension {i}: kf could not follow {whys.get(f'{key}:{i}', 'it')}")
            i += 1
    if not d.block and not d.range_launch:
        d.block = [None]
    d.shared = exprs.get("shared", "0")
    if d.shared is None:
        d.notes.append(f"shared: kf could not follow {whys.get('shared', 'the dynamic shared memory size')}")
    launch_names = set()
    for x in d.grid + d.block + [d.shared]:
        launch_names |= names_in(x or "")
    d.tunables = {}
    for n, vals in tun.items():
        if n in launch_names:
            d.tunables[n] = vals
        elif n in at_site or n in [t for k, t, _ in tparams if k == "bool"]:
            d.tunables[n] = vals[:1]  # a template argument the kernel needs: bound, not tuned
    # scalar parameters that set the launch's block are kept at their value (tied to the launch)
    for x in d.block:
        for n in names_in(x or ""):
            if (n in d.values or n in d.variables) and n not in d.fixed:
                d.fixed.append(n)
    _fit_tunables(d, body, text, kernel)
    for key, x in exprs.items():
        if key.startswith("require:") and x:
            d.requires.append(tidy_condition(x))
    _requires(d, body, kernel, text)
    _scale_down(d, kernel, host, type_bindings)
    _checks(d, body, kernel)
    _index_ranges(d, body)
    for b in d.buffers:
        if b.length is None and not b.null:
            d.notes.append(f"{b.name}: kf could not tell its length: {b.why or 'no allocation found'}")


def _kernel_uses(leaf: Leaf, body: BodyDraft) -> bool:
    """A compile-time constant the kernel's code names (a #define, a constexpr): the spec cannot vary it."""
    return leaf.compile_time and re.search(rf"\b{re.escape(leaf.source_name or leaf.name)}\b", body.raw) is not None


def _rename(expr: str, renamed: dict[str, str]) -> str:
    if not renamed:
        return expr
    return re.sub(r"\b[A-Za-z_]\w*\b", lambda m: renamed.get(m.group(), m.group()), expr)


def _replace_names(expr: str, values: dict[str, str]) -> str:
    if not values:
        return expr
    return re.sub(r"\b[A-Za-z_]\w*\b", lambda m: f"({values[m.group()]})" if m.group() in values else m.group(), expr)


def _value(leaf: Leaf) -> int | float:
    try:
        return evaluate(leaf.value, {})
    except ExprError:
        return 0


def _tunables(body: BodyDraft, tparams, site: Site, host: Host, kernel: KernelSource, text: str) -> dict[str, list]:
    """Compile-time knobs worth tuning, with values the kernel compiles and fits with: int template
    parameters (the launch's value first), block-size #defines and constexprs. Never bools, masks, or
    a value the kernel asserts equal to the block size."""
    out: dict[str, list] = {}
    asserted = set(re.findall(r"blockDim\s*\.\s*[xyz]\s*==\s*([A-Za-z_]\w*)|([A-Za-z_]\w*)\s*==\s*blockDim\s*\.\s*[xyz]",
                              body.raw))
    asserted = {a or b for a, b in asserted}
    bools = {name for kind, name, _ in tparams if kind == "bool"}
    at_site = {}
    for (kind, name, default), arg in zip(tparams, site.template_args):
        if kind in ("typename", "class"):
            continue
        a = arg.strip()
        at_site[name] = 1 if a == "true" else 0 if a == "false" else _site_int(host, site, a)
    for name, default in body.tunables.items():
        if name in bools:
            if name in at_site:
                out[name] = [at_site[name]]  # a binding: the launch's value, never varied
            continue
        if name in asserted or _WARP.match(name) or _MASKISH.search(name):
            continue
        value = at_site.get(name, default)
        if value is None:
            continue
        if name in at_site or name in [n for _, n, _ in tparams]:
            out[name] = [value] + [v for v in _powers(value) if v != value]
        elif value >= 1 and value <= 1024 and value & (value - 1) == 0 and re.search(
                r"BLOCK|TILE|THREAD|WG|WORK|GROUP|BS|TPB|ROWS|COLS|DIM|SIZE|LOCAL", name, re.I):
            out[name] = [value] + [v for v in _powers(value) if v != value]
    return out


def _site_int(host: Host, site: Site, arg: str) -> int | None:
    """A template argument's value at the launch: a literal, or a host constant
    (`k<UNROLL>` with `constexpr int UNROLL = sizeof(float4) / sizeof(float);`)."""
    v = _int(arg)
    if v is not None or not re.fullmatch(r"[\w\s()+*/%<>:-]+", arg):
        return v
    try:
        node = host._parse_expr(arg, site.node)
        val = host.value(node) if node is not None else None
        n = host.number(val) if val is not None and val.known else None
    except Exception:  # a draft is a convenience: unbound stays unbound
        return None
    return n if isinstance(n, int) else None


def _int(text: str) -> int | None:
    try:
        v = evaluate(text, {})
        return v if isinstance(v, int) else None
    except ExprError:
        return None


def _powers(v: int) -> list[int]:
    if v <= 1 or v & (v - 1):
        return []
    return [x for x in (v // 4, v // 2, v * 2, v * 4) if 1 <= x <= 1024]


def _fit_tunables(d: _Draft, body: BodyDraft, text: str, kernel: KernelSource) -> None:
    """Keep a tunable's value only if, with the other tunables at their defaults, the block stays
    within 1024 threads and the shared memory (static arrays sized by it, and the launch's dynamic
    shared memory) within 48 KiB. Sizes written through other macros (`sm[3*KOFF]` with
    `#define KOFF (BLOCK_X+2)*(BLOCK_Y+2)`) are expanded first; a value kf cannot check stays
    listed (the search rejects one that does not fit), so a tune line keeps its alternatives."""
    macros = _expression_macros(text)
    static = [_expand_macros(x, macros) for x in _static_shared(body.raw)]
    block = [_expand_macros(b, macros) if b is not None else None for b in d.block]
    dynamic = _expand_macros(d.shared, macros) if d.shared else d.shared
    for name, vals in list(d.tunables.items()):
        kept = []
        for v in vals:
            env = dict(body.tunables)  # the #defines the body uses (a shared tile's RADIUS)
            env.update(_env_for(d))
            env.update({n: (x[0] if n != name else v) for n, x in d.tunables.items()})
            try:
                threads = 1
                for b in block:
                    if b is None:
                        continue
                    threads *= int(evaluate(b, env))
                shared = sum(int(evaluate(x, env)) for x in static)
                if dynamic:
                    shared += int(evaluate(dynamic, env))
            except (ExprError, ValueError, TypeError, ZeroDivisionError):
                kept.append(v)  # kf cannot tell: the search tries it and drops it if it does not fit
                continue
            if threads <= _MAX_THREADS and shared <= _SHARED_LIMIT and threads >= 1:
                kept.append(v)
        if vals[0] not in kept and kept:
            kept.insert(0, vals[0])
        d.tunables[name] = kept or vals[:1]
        if len(vals) > 1 and len(d.tunables[name]) == 1:
            d.notes.append(f"{name}: no value but {vals[0]} keeps the block within {_MAX_THREADS} threads and "
                           f"{_SHARED_LIMIT // 1024} KiB of shared memory, so its tune line has nothing else to try")


_OBJECT_MACRO = re.compile(r"^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)(?![\w(])[ \t]*([^\n]*)$", re.M)


def _expression_macros(text: str) -> dict[str, str]:
    """Object-like #defines of the file whose values are expressions (`KOFF (BLOCK_X+2)*(BLOCK_Y+2)`)."""
    out: dict[str, str] = {}
    for m in _OBJECT_MACRO.finditer(re.sub(r"//[^\n]*|/\*.*?\*/", "", text, flags=re.S)):
        value = m.group(2).strip()
        if value and re.fullmatch(r"[\w\s()+*/%<>&|^~-]+", value) and m.group(1) not in out:
            out[m.group(1)] = value
    return out


def _expand_macros(x: str, macros: dict[str, str]) -> str:
    """`x` with the macros it names replaced by their parenthesised values (a few rounds, for chains)."""
    for _ in range(8):
        names = [n for n in names_in(x) if n in macros and not re.fullmatch(r"-?\d+[uUlL]*", macros[n])]
        if not names:
            break
        for n in names:
            x = re.sub(rf"\b{re.escape(n)}\b", f"({macros[n]})", x)
    return x


def _static_shared(body: str) -> list[str]:
    """Bytes of the `__shared__` arrays the body declares, as spec expressions."""
    out = []
    for m in re.finditer(r"__shared__\s+(?:__align__\s*\(\s*\d+\s*\)\s*)?([\w:]+(?:\s+[\w:]+)*)\s+([A-Za-z_]\w*)\s*((?:\[[^\]]+\])+)",
                         body):
        from backends.kernel.host import type_size

        size = type_size(m.group(1).split()[-1]) or 4
        dims = re.findall(r"\[([^\]]+)\]", m.group(3))
        out.append(" * ".join([f"({x})" for x in dims] + [str(size)]))
    return out


def _env_for(d: _Draft) -> dict:
    env: dict = {}
    pending = {**d.variables, **{k: v for k, v in d.values.items()}}
    for _ in range(len(pending) + 1):
        for n, x in list(pending.items()):
            try:
                env[n] = evaluate(x, env)
                pending.pop(n)
            except ExprError:
                pass
    return env


def _requires(d: _Draft, body: BodyDraft, kernel: KernelSource, text: str) -> None:
    """What the program's launch assumes and the kernel does not check: a grid that covers
    `X // b` blocks (or `cdiv(X, b)` with no bound guard in the kernel) needs X a multiple of b;
    vector loads (`float4`, 128-bit `load128`) of a buffer need its length a multiple of their width."""
    env = _env_for(d)
    for t, vals in d.tunables.items():
        env.setdefault(t, vals[0])
    guarded = [x is not None for x in body.extent]
    reqs: list[str] = []
    for i, g in enumerate(d.grid):
        if g is None:
            continue
        split = _floor_division(g)  # `X // b` itself, not `1 + (X - 1) // b` (a cdiv)
        if split is None:
            continue
        x, b = split
        b_value = _lcm_over_tunables(b, d.tunables, env)
        if b_value is None or b_value <= 1:
            continue
        reqs.append(f"({x}) % {b_value} == 0" if not re.fullmatch(r"\w+", x) else f"{x} % {b_value} == 0")
    if d.language == "sycl" and not d.range_launch:  # an nd_range: global a multiple of local, per dimension
        for g, loc in zip(d.grid, d.block):
            if g is None or loc is None or re.fullmatch(rf"roundup\(.+,\s*{re.escape(loc)}\)", g) \
                    or loc in _factors(g):
                continue  # `(1 + (NY - 1) // 8) * 8` is a multiple of 8 whatever NY is
            lv = _lcm_over_tunables(loc, d.tunables, env)
            if lv and lv > 1:
                reqs.append(f"({g}) % {lv} == 0" if not re.fullmatch(r"\w+", g) else f"{g} % {lv} == 0")
    for b in d.buffers:
        if b.length is None or b.null:
            continue
        w = _vector_width(b.name, body.raw, b.type_name)
        if w and w > 1:
            last = _last_factor(b.length)
            if last and names_in(last):
                reqs.append(f"{last} % {w} == 0")
    keep = []
    for r in [_without_constant_terms(x) for x in d.requires + reqs]:
        if not names_in(r) - set(d.tunables):
            continue  # a condition of constants: nothing to require
        try:
            if not holds(r, env):
                continue  # the program's own sizes do not meet it: not what the kernel assumes
        except ExprError:
            continue
        if r not in keep:
            keep.append(r)
    d.requires = keep


def _floor_division(expr: str) -> tuple[str, str] | None:
    """(X, b) where `expr` is `X // b` at its top level (by precedence, not by text)."""
    import ast

    try:
        node = ast.parse(expr, mode="eval").body
    except SyntaxError:
        return None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.FloorDiv):
        return ast.unparse(node.left), ast.unparse(node.right)
    return None


def _factors(expr: str) -> list[str]:
    """The factors of `expr`'s top-level product (`(A) * 8` -> ['A', '8'])."""
    import ast

    try:
        node = ast.parse(expr, mode="eval").body
    except SyntaxError:
        return []
    out, todo = [], [node]
    while todo:
        n = todo.pop()
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Mult):
            todo += [n.left, n.right]
        else:
            out.append(ast.unparse(n))
    return out


def _without_constant_terms(cond: str) -> str:
    """`n >= 0 and 1024 >= 0` -> `n >= 0`: a term of constants says nothing about the sizes."""
    import ast

    try:
        node = ast.parse(cond, mode="eval").body
    except SyntaxError:
        return cond
    if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.And):
        kept = [v for v in node.values if names_in(ast.unparse(v))]
        if kept and len(kept) < len(node.values):
            return ast.unparse(kept[0] if len(kept) == 1 else ast.BoolOp(ast.And(), kept))
    return cond


def _lcm_over_tunables(b: str, tunables: dict[str, list], env: dict) -> int | None:
    names = names_in(b) & set(tunables)
    values: list[int] = []
    combos = [{}]
    for n in names:
        combos = [{**c, n: v} for c in combos for v in tunables[n]]
    for c in combos:
        try:
            v = evaluate(b, {**env, **c})
        except ExprError:
            return None
        if not isinstance(v, int):
            return None
        values.append(v)
    out = 1
    for v in values:
        out = out * v // math.gcd(out, v) if v > 0 else out
    return out


def _vector_width(name: str, raw: str, type_name: str) -> int:
    """How many elements of `name` the body loads or stores at once (float4 casts, load128)."""
    size = dtypes.itemsize(dtypes.canonical(type_name)) if dtypes.canonical(type_name) else None
    if not size:
        return 0
    from backends.kernel.draft import aliases

    width = 0
    for alias in aliases(name, raw):
        if alias != name:
            width = max(width, _vector_width_of(alias, raw, size))
    width = max(width, _vector_width_of(name, raw, size))
    return width


def _vector_width_of(name: str, raw: str, size: int) -> int:
    width = 0
    for m in re.finditer(rf"reinterpret_cast\s*<\s*(?:const\s+)?([\w:]+)\s*\*\s*>\s*\(\s*&?\s*{re.escape(name)}\b|"
                         rf"\(\s*(?:const\s+)?([\w:]+)\s*\*\s*\)\s*\(?\s*&?\s*{re.escape(name)}\b", raw):
        t = (m.group(1) or m.group(2)).split("::")[-1]
        if t in _VECTOR_TYPES:
            width = max(width, _VECTOR_TYPES[t] // size)
    if re.search(rf"\b(?:load128|load128cs|store128|store128cs|store128cg)\s*\(\s*{re.escape(name)}\b", raw) or \
            re.search(rf"\b(?:load128|load128cs|store128|store128cs|store128cg)\s*\([^;]*\b{re.escape(name)}\s*\+", raw):
        width = max(width, 16 // size)
    return width


def _last_factor(length: str) -> str | None:
    from backends.kernel.simplify import factors

    try:
        fs = list(factors(length).elements())
    except SyntaxError:
        return None
    names = [f for f in fs if re.fullmatch(r"[A-Za-z_]\w*", f)]
    if len(fs) == 1:
        return fs[0]
    return names[-1] if names else None


def _choose_guesses(variables: dict[str, str], guessed: list[str], exprs: dict, kernel: KernelSource,
                    leaves: dict[str, Leaf], d: _Draft) -> None:
    """Sizes the program reads from its command line: powers of two such that the largest buffer
    holds about GUESSED_ELEMENTS elements (a size that sets a block is 256)."""
    if not guessed:
        return
    launch_only = set()
    for key, x in exprs.items():
        if x and key.startswith(("block:",)):
            launch_only |= names_in(x) & set(guessed)
    for n in launch_only:
        variables[n] = "256"
    rest = [n for n in guessed if n not in launch_only]
    if rest:
        defs = {k.split(":", 1)[1]: x for k, x in exprs.items() if x and k.startswith("value:")}

        def reach(x: str, seen: frozenset = frozenset()) -> set[str]:
            out = set()
            for n in names_in(x):
                if n in defs and n not in seen and defs[n] != n:
                    out |= reach(defs[n], seen | {n})
                else:
                    out.add(n)
            return out

        lengths = [x for k, x in exprs.items() if x and k.startswith("length:")]
        shapes = [x for k, x in exprs.items() if x and k.startswith(("length:", "grid:", "shared"))]
        sized = set().union(*(reach(x) for x in shapes)) if shapes else set()

        def count(x: str) -> int:  # guessed factors, with repeats (`order * order`: 2)
            from backends.kernel.simplify import factors

            try:
                fs = list(factors(x).elements())
            except SyntaxError:
                fs = []
            n = 0
            for f in fs:
                n += len(reach(f) & set(rest)) if names_in(f) else 0
            return n

        grid = [f"({x})" for k, x in exprs.items() if x and k.startswith("grid:")]
        whole = shapes + ([" * ".join(grid)] if grid else [])  # the launch's work-items, all axes together
        per = max(1, max((count(x) for x in whole), default=1))
        exp = max(4, int(math.log2(GUESSED_ELEMENTS)) // per)
        in_lengths = set().union(*(reach(x) for x in lengths)) if lengths else set()
        in_grid = set().union(*(reach(x) for x in grid)) if grid else set()
        for n in rest:
            if n in in_grid and n not in in_lengths:
                # a grid size no buffer follows (`numBlocks` set by getNumBlocksAndThreads): a
                # chosen one could overrun the per-block outputs: the user says
                variables[n] = "?"
                d.notes.append(f"{n}: {leaves[n].origin}: write the grid size the program uses")
                continue
            # a value that sizes nothing (a repeat or time-step count, a mode) stays small: the
            # kernel may loop over it (`for (t = 1; t <= time_step; t++)` per element)
            variables[n] = f"1 << {exp}" if n in sized else str(SMALL_GUESS)
    chosen = [n for n in guessed if n in leaves and variables.get(n) != "?"]
    if chosen:
        d.notes.append("chosen by kf (the program sets them where kf cannot follow): " + ", ".join(
            f"{n} = {variables[n]} ({leaves[n].origin})" for n in chosen))


def _scale_down(d: _Draft, kernel: KernelSource, host: Host, type_bindings: dict) -> None:
    """Halve the largest size variable until the buffers fit in MAX_DEFAULT_BYTES, and say so."""
    before = {**d.variables, **d.values}
    for _ in range(64):
        env = _env_for(d)
        for t, vals in d.tunables.items():
            env.setdefault(t, vals[0])
        total = 0
        for b in d.buffers:
            if b.length is None or b.null or dtypes.canonical(b.type_name) is None:
                continue
            try:
                total += int(evaluate(b.length, env)) * dtypes.itemsize(dtypes.canonical(b.type_name))
            except (ExprError, ValueError, TypeError):
                continue
        if total <= MAX_DEFAULT_BYTES:
            break
        sizes = []
        in_lengths = _reachable([b.length for b in d.buffers if b.length], {**d.variables, **d.values})
        for n, x in list(d.variables.items()) + list(d.values.items()):
            if names_in(x) or n in d.fixed:
                continue
            try:
                v = evaluate(x, {})
            except ExprError:
                continue
            if isinstance(v, int) and v >= 2 and n in in_lengths:
                sizes.append((v, n))
        if not sizes:
            break
        v, n = max(sizes)
        new = v // 2
        target = d.variables if n in d.variables else d.values
        target[n] = str(new) if new & (new - 1) else f"1 << {new.bit_length() - 1}"
    now = {**d.variables, **d.values}
    changed = [n for n in before if before[n] != now.get(n, before[n])]
    if changed:
        d.notes.append("the program's sizes scaled down so the buffers fit in 1 GiB: " + ", ".join(
            f"{n} = {before[n]} -> {now[n]}" for n in changed))


def _reachable(exprs: list[str], defs: dict[str, str]) -> set[str]:
    """The names `exprs` use, through the variables' definitions."""
    seen: set[str] = set()
    todo = [n for x in exprs for n in names_in(x)]
    while todo:
        n = todo.pop()
        if n in seen:
            continue
        seen.add(n)
        if n in defs:
            todo.extend(names_in(defs[n]))
    return seen


def _checks(d: _Draft, body: BodyDraft, kernel: KernelSource) -> None:
    """Two more sizes, smaller than the default and not multiples of the launch, that meet the
    requires: only for sizes the kernel guards (a bound check on its index)."""
    env = _env_for(d)
    for t, vals in d.tunables.items():
        env.setdefault(t, vals[0])
    sizes = [n for n, x in list(d.variables.items()) + list(d.values.items())
             if not names_in(x) and n not in d.fixed and isinstance(env.get(n), int) and env.get(n, 0) >= 2
             and any(n in names_in(b.length or "") for b in d.buffers)]
    if not sizes or not any(x is not None for x in body.extent) and not d.requires:
        return
    picks = [(1000, 37), (4097, 61)]
    for big, small in picks:
        over = _meeting(d, env, {n: min(env[n] - 1, big if len(sizes) == 1 else small + 16 * i)
                                 for i, n in enumerate(sizes)})
        if over is None:
            continue
        line = ", ".join(f"{n} = {v}" for n, v in over.items())
        if line not in d.checks and any(over[n] != env[n] for n in over):
            d.checks.append(line)


def _meeting(d: _Draft, env: dict, want: dict[str, int]) -> dict[str, int] | None:
    """Sizes near `want` (each at least its wanted value) that meet every require: first each
    size on its own, then all of them equal (for `width == height`)."""
    want = {n: v for n, v in want.items() if v >= 1}
    if not want:
        return None

    def ok(over: dict[str, int]) -> bool:
        try:
            return all(holds(r, {**env, **over}) for r in d.requires)
        except ExprError:
            return False

    over = dict(want)
    for n in want:
        for v in range(want[n], want[n] + 4096):
            if ok({**over, n: v}) or all(n not in names_in(r) for r in d.requires):
                over[n] = v
                break
    if ok(over):
        return over
    start = max(want.values())
    for v in range(start, start + 4096):
        same = {n: v for n in want}
        if ok(same):
            return same
    return None


def _index_ranges(d: _Draft, body: BodyDraft) -> None:
    """An integer buffer whose values index another buffer (`int ix = inp[i]; wte + ix * C`) gets
    `range 0..ROWS`, ROWS being that buffer's length over the index's stride (V for `V * C`); a
    placeholder when kf cannot tell the bound (random indices would read out of bounds)."""
    raw = body.raw
    lengths = {b.name: b.length for b in d.buffers if not b.null}
    for b in d.buffers:
        if b.null or b.role == "out" or not (dtypes.canonical(b.type_name) or "f").startswith(("i", "u")):
            continue
        if dtypes.canonical(b.type_name) in ("u8", "i8", "u16", "i16"):
            continue  # small types take their whole range: a 256-bin table is what they index
        locals_ = set(re.findall(rf"([A-Za-z_]\w*)\s*=\s*{re.escape(b.name)}\s*\[", raw))
        hi = None
        seen = False
        for q, qlen in lengths.items():
            if q == b.name:
                continue
            for v in locals_:
                vv = re.escape(v)
                qq = re.escape(q)
                m = (re.search(rf"\b{qq}\s*(?:\+|\[)\s*(?:\(\s*)?{vv}\s*\*\s*([A-Za-z_]\w*)", raw)
                     or re.search(rf"\b{qq}\s*(?:\+|\[)\s*(?:\(\s*)?([A-Za-z_]\w*)\s*\*\s*{vv}\b", raw))
                plain = re.search(rf"\b{qq}\s*(?:\+\s*{vv}\b|\[\s*{vv}\s*\])", raw)
                if not m and not plain:
                    continue
                seen = True
                if qlen is None:
                    continue
                stride = m.group(1) if m else None
                if stride is not None and stride not in d.values and stride not in d.variables:
                    continue
                x = tidy(f"({qlen}) // {stride}") if stride else qlen
                if "//" not in x:
                    hi = x
                    break
            if hi:
                break
        if hi:
            b.range_hi = hi
        elif seen:
            b.range_hi = "?"
            d.notes.append(f"{b.name}: its values index another buffer; kf could not tell their bound")


def _entries(d: _Draft) -> list[str]:
    out = [f"// kf: {n}" for n in d.notes]
    for b in d.buffers:
        if b.null:
            continue
        tail = f" start {b.start}" if b.start is not None and b.role == "out" else ""
        if b.range_hi is not None and b.role != "out":
            tail += f" range 0..{b.range_hi}"
        out.append(f"{b.role:<3} {b.name}: {b.type_name}[{b.length if b.length is not None else '?'}]{tail}")
    for n, t in d.types.items():
        out.append(f"{n} = {t}")
    for b in d.buffers:
        if b.null:
            out.append(f"{b.name} = null")
    for n, x in d.values.items():
        out.append(f"{n} = {x}")
    for n, x in d.variables.items():
        out.append(f"{n} = {x}")
    gw, bw = ("grid", "block") if d.language == "cuda" else ("global", "local")
    out.append(f"{gw} " + ", ".join(x if x is not None else "?" for x in d.grid))
    if d.block and not d.range_launch:
        out.append(f"{bw} " + ", ".join(x if x is not None else "?" for x in d.block))
    if d.shared not in ("0", None) or d.shared is None:
        out.append(f"shared {d.shared if d.shared is not None else '?'}")
    if d.fixed:
        out.append("fixed " + ", ".join(d.fixed))
    for n, vals in d.tunables.items():
        out.append(f"tune {n} = " + ", ".join(str(v) for v in vals))
    for r in d.requires:
        out.append(f"require {r}")
    for c in d.checks:
        out.append(f"check {c}")
    return out
