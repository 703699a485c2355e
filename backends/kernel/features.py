"""Behavioural features of a compiled kernel, read from what the compiler produced.

The search files every kernel variant into a cell of a behavioural grid
(evolver/descriptors.py). The cell must follow what the kernel DOES, not how its
source is spelled: a comment saying "__shared__", a variable called `float4_tile` or a
renamed loop index must not move a kernel to another cell. So:

CUDA ("ptx")
    The kernel is compiled once by NVRTC to a cubin and its PTX (compile_cuda(...,
    want_ptx=True)); the PTX of the ENTRY function (plus any non-inlined `.func` it
    calls, transitively) is tokenized and its instructions counted. Comments, macros
    and names are gone by then; dead code has been removed; `#pragma unroll` and
    loops of constant trip count have been unrolled (or not) by the compiler itself.

SYCL ("sycl-source")
    Kernels are compiled at run time by the SYCL runtime from source (backends/sycl);
    no device code comes back here. The fallback counts API constructs and operators in
    the MASKED source of the kernel (and of the functions of the same file it calls):
    comments and string contents are blanked first (backends.kernel.scanner.mask), and only
    library names, keywords and operators are counted, never user identifiers (a
    variable's name matters only through what it was initialised from, e.g. the value
    of `it.get_sub_group()`), so renaming or commenting cannot move a kernel either.

`extract(language, compiled, source, profile=None)` returns (features, feature_source)
and never raises: ({}, "") when nothing could be read. Every feature is documented in
docs/descriptors.md; the keys are listed in CUDA_FEATURES and SYCL_FEATURES.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from backends.kernel.text import call_args, mask, match_bracket

__all__ = ["extract", "ptx_features", "sycl_source_features", "parse_ptx", "PtxFunction",
           "CUDA_FEATURES", "SYCL_FEATURES"]


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------


def extract(language: str, compiled: object, source: str = "", profile: object | None = None
            ) -> tuple[dict[str, float], str]:
    """Features of one compiled kernel.

    language: "cuda" or "sycl". compiled: the backend's compiled kernel (a CudaKernel or
    a CompiledModule with `.ptx` and `.symbol`; for SYCL anything with `.entry`), or a
    PTX string. source: the user's file text (or just the kernel), used by SYCL and as
    the CUDA entry-name fallback. profile: optional Profile-like object; its registers,
    occupancy, spills and static shared memory are copied in as features when known.
    """
    try:
        if language == "cuda":
            ptx, symbol = _ptx_of(compiled)
            if not ptx:
                return {}, ""
            feats = ptx_features(ptx, symbol)
            if not feats:
                return {}, ""
            src = "ptx"
        elif language == "sycl":
            name = getattr(compiled, "entry", None) if not isinstance(compiled, str) else None
            feats = sycl_source_features(source or "", name)
            if not feats:
                return {}, ""
            src = "sycl-source"
        else:
            return {}, ""
        feats.update(_profile_features(profile))
        return feats, src
    except Exception:  # features are an aid to the search; never a reason to fail an evaluation
        return {}, ""


def _ptx_of(compiled: object) -> tuple[str | None, str | None]:
    if isinstance(compiled, str):
        return compiled, None
    ptx = getattr(compiled, "ptx", None)
    symbol = getattr(compiled, "symbol", None)
    inner = getattr(compiled, "compiled", None)  # CudaKernel.compiled is the CompiledModule
    if not ptx and inner is not None:
        ptx = getattr(inner, "ptx", None)
        symbol = symbol or getattr(inner, "symbol", None)
    return (ptx if isinstance(ptx, str) else None), (symbol if isinstance(symbol, str) else None)


def _profile_features(profile: object | None) -> dict[str, float]:
    out: dict[str, float] = {}
    if profile is None:
        return out
    for attr, key in (("registers", "registers"), ("occupancy", "occupancy"),
                      ("static_shared", "static_shared_bytes"), ("dynamic_shared", "dynamic_shared_bytes"),
                      ("block_threads", "block_threads")):
        v = getattr(profile, attr, None)
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[key] = float(v)
    spill = [getattr(profile, a, None) for a in ("spill_stores", "spill_loads")]
    if any(isinstance(v, int) for v in spill):
        out["spill_bytes"] = float(sum(v for v in spill if isinstance(v, int)))
    return out


# ---------------------------------------------------------------------------
# PTX tokenizer
# ---------------------------------------------------------------------------
#
# A PTX function is `[.visible] .entry NAME ( params ) [perf directives] { body }` (or
# `.func [(ret)] NAME (params) { body }`). Inside the body, after comments are dropped:
#   `{` / `}`          scope blocks (call sequences, inline asm) -- walked into;
#   `LABEL:`           a label (branch target);
#   `.directive ...`   ends at `;` or at the end of the line (`.loc` has no `;`);
#   `[@[!]%p] opcode[.mod...] operands;`   an instruction; operands may hold `{..}` lists.
# The opcode's first dotted part is its base (`ld`), the rest its modifiers
# (`global`, `nc`, `v4`, `f32`, `shared::cta`...).


@dataclass
class Instr:
    base: str
    mods: tuple[str, ...]
    operands: str
    index: int  # position among the function's instructions

    def has(self, *names: str) -> bool:
        return any(m == n or m.startswith(n + "::") for m in self.mods for n in names)


@dataclass
class PtxFunction:
    name: str
    is_entry: bool
    instrs: list[Instr] = field(default_factory=list)
    labels: dict[str, int] = field(default_factory=dict)  # label -> index of the next instruction
    calls: list[str] = field(default_factory=list)


_FUNC_HEAD = re.compile(r"\.(entry|func)\b")
_IDENT = re.compile(r"[A-Za-z_$%][\w$%]*")
_LABEL = re.compile(r"([A-Za-z_$][\w$]*)\s*:(?!:)")
_COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)


def _skip_parens(text: str, i: int) -> int:
    """`text[i]` is '(': index after the matching ')' (len(text) if unbalanced)."""
    j = match_bracket(text, i)
    return j if j >= 0 else len(text)


def parse_ptx(ptx: str) -> dict[str, PtxFunction]:
    """Every `.entry` and `.func` with a body in a PTX module, by name."""
    text = _COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group()), ptx)
    out: dict[str, PtxFunction] = {}
    pos = 0
    while True:
        m = _FUNC_HEAD.search(text, pos)
        if not m:
            break
        kind = m.group(1)
        i = m.end()
        # .func may have a return-parameter list before the name
        while i < len(text) and text[i].isspace():
            i += 1
        if i < len(text) and text[i] == "(":
            i = _skip_parens(text, i)
        nm = _IDENT.search(text, i)
        if not nm:
            break
        name = nm.group()
        i = nm.end()
        while i < len(text) and text[i].isspace():
            i += 1
        if i < len(text) and text[i] == "(":
            i = _skip_parens(text, i)
        # performance directives (.maxntid 256, 1, 1 ...) then `{` or `;` (a declaration)
        brace = text.find("{", i)
        semi = text.find(";", i)
        if brace < 0 or (0 <= semi < brace):
            pos = (semi + 1) if semi >= 0 else len(text)
            continue
        fn = PtxFunction(name, kind == "entry")
        pos = _parse_body(text, brace, fn)
        out[name] = fn
    return out


def _parse_body(text: str, i: int, fn: PtxFunction) -> int:
    """`text[i]` is the body's '{': fill `fn`, return the index after the closing '}'."""
    depth = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c == "{":
            depth += 1
            i += 1
            continue
        if c == "}":
            depth -= 1
            i += 1
            if depth == 0:
                return i
            continue
        if c == ".":  # directive: to `;` or end of line
            end = _min_pos(text.find(";", i), text.find("\n", i), n)
            i = end + 1
            continue
        lm = _LABEL.match(text, i)
        if lm:
            fn.labels[lm.group(1)] = len(fn.instrs)
            i = lm.end()
            continue
        end = text.find(";", i)
        if end < 0:
            end = n
        stmt = text[i:end].strip()
        i = end + 1
        if stmt:
            ins = _instr(stmt, len(fn.instrs))
            if ins is not None:
                fn.instrs.append(ins)
                if ins.base == "call":
                    callee = _callee(ins.operands)
                    if callee:
                        fn.calls.append(callee)
    return i


def _min_pos(*ps: int) -> int:
    return min(p for p in ps if p >= 0)


def _instr(stmt: str, index: int) -> Instr | None:
    s = stmt
    if s.startswith("@"):  # predicate guard
        parts = s.split(None, 1)
        if len(parts) < 2:
            return None
        s = parts[1]
    parts = s.split(None, 1)
    opcode = parts[0]
    operands = parts[1] if len(parts) > 1 else ""
    if not re.match(r"[a-z]", opcode):
        return None
    dotted = opcode.split(".")
    return Instr(dotted[0], tuple(x for x in dotted[1:] if x), operands, index)


def _callee(operands: str) -> str | None:
    # call[.uni] (ret), name, (args);  or  call name, (args);  or  call name;
    rest = re.sub(r"^\s*\([^)]*\)\s*,", "", operands)
    m = _IDENT.search(rest)
    return m.group() if m else None


# ---------------------------------------------------------------------------
# PTX features
# ---------------------------------------------------------------------------

_FLOAT_TYPES = {"f16", "f16x2", "bf16", "bf16x2", "f32", "f32x2", "f64", "e4m3x2", "e5m2x2"}
_SFU = {"ex2", "lg2", "rcp", "sqrt", "rsqrt", "sin", "cos", "tanh"}
_WARP = {"shfl", "vote", "match", "redux", "elect"}

CUDA_FEATURES = (
    "instructions", "ld_global", "ld_global_v2", "ld_global_v4", "ld_global_v8", "ld_global_vec",
    "ld_global_nc", "st_global", "st_global_vec", "ld_generic", "st_generic", "ld_shared", "st_shared",
    "ld_local", "st_local", "ld_const", "tex", "ldmatrix", "stmatrix", "cp_async", "cp_async_bulk",
    "mbarrier", "prefetch", "bar_sync", "warp_sync", "cluster_barrier", "fence", "shfl", "vote", "match",
    "redux", "warp_ops", "atom_global", "atom_shared", "atom_generic", "mma", "wmma_ldst", "wgmma",
    "tensor_ops", "fma", "fmul", "fadd", "float_ops", "sfu", "branches", "calls", "loops",
    "loop_instructions", "unroll", "accumulators", "straight_stores",
)


def _is_float(ins: Instr) -> bool:
    return any(m in _FLOAT_TYPES for m in ins.mods)


def _space(ins: Instr) -> str:
    for sp in ("global", "shared", "local", "const", "param"):
        if ins.has(sp):
            return sp
    return "generic"


def _vec(ins: Instr) -> int:
    for m in ins.mods:
        if m in ("v2", "v4", "v8"):
            return int(m[1])
    return 1


def ptx_features(ptx: str, symbol: str | None = None) -> dict[str, float]:
    """Instruction counts of the entry `symbol` (the only `.entry` when None or not found)
    and of the `.func`s it calls, transitively. {} if no entry could be found."""
    funcs = parse_ptx(ptx)
    entries = [f for f in funcs.values() if f.is_entry]
    entry = funcs.get(symbol) if symbol else None
    if entry is None or not entry.is_entry:
        if len(entries) != 1:
            return {}
        entry = entries[0]
    reached = [entry]
    seen = {entry.name}
    k = 0
    while k < len(reached):
        for c in reached[k].calls:
            if c in funcs and c not in seen:
                seen.add(c)
                reached.append(funcs[c])
        k += 1
    f: dict[str, float] = {key: 0.0 for key in CUDA_FEATURES}
    for fn in reached:
        _count(fn, f)
        _loops(fn, f)
    f["ld_global_vec"] = f["ld_global_v2"] + f["ld_global_v4"] + f["ld_global_v8"]
    f["warp_ops"] = f["shfl"] + f["vote"] + f["match"] + f["redux"]
    f["tensor_ops"] = f["mma"] + f["wgmma"]
    f["float_ops"] = f["fma"] + f["fmul"] + f["fadd"]
    return f


def _count(fn: PtxFunction, f: dict[str, float]) -> None:
    for ins in fn.instrs:
        b = ins.base
        f["instructions"] += 1
        if b in ("ld", "ldu"):
            sp = _space(ins)
            if sp == "global":
                v = _vec(ins)
                f["ld_global" if v == 1 else f"ld_global_v{v}"] += 1
                if b == "ldu" or ins.has("nc"):
                    f["ld_global_nc"] += 1
            elif sp in ("shared", "local", "generic", "const"):
                f[f"ld_{sp}"] += 1
        elif b == "st":
            sp = _space(ins)
            if sp == "global":
                f["st_global"] += 1
                if _vec(ins) > 1:
                    f["st_global_vec"] += 1
            elif sp in ("shared", "local", "generic"):
                f[f"st_{sp}"] += 1
        elif b in ("tex", "tld4", "suld"):
            f["tex"] += 1
        elif b == "ldmatrix":
            f["ldmatrix"] += 1
        elif b == "stmatrix":
            f["stmatrix"] += 1
        elif b == "cp" and ins.mods[:1] == ("async",):
            if {"commit_group", "wait_group", "wait_all", "mbarrier"} & set(ins.mods):
                continue  # pipeline bookkeeping (cp.async.mbarrier.arrive, commit/wait), not a copy
            if "bulk" in ins.mods:
                if "prefetch" in ins.mods:
                    f["prefetch"] += 1
                else:
                    f["cp_async_bulk"] += 1
            else:
                f["cp_async"] += 1
        elif b == "cp" and ins.has("reduce"):
            f["cp_async_bulk"] += 1
        elif b == "mbarrier":
            f["mbarrier"] += 1
        elif b in ("prefetch", "prefetchu"):
            f["prefetch"] += 1
        elif b in ("bar", "barrier"):
            if ins.has("warp"):
                f["warp_sync"] += 1
            elif ins.has("cluster"):
                f["cluster_barrier"] += 1
            else:
                f["bar_sync"] += 1
        elif b in ("membar", "fence"):
            f["fence"] += 1
        elif b in _WARP:
            if b != "elect":
                f[b] += 1
        elif b in ("atom", "red"):
            sp = _space(ins)
            f["atom_global" if sp == "global" else "atom_shared" if sp == "shared" else "atom_generic"] += 1
        elif b == "mma" or (b == "wmma" and ins.has("mma")):
            f["mma"] += 1
        elif b == "wmma":
            f["wmma_ldst"] += 1
        elif b == "wgmma" and ins.has("mma_async"):
            f["wgmma"] += 1
        elif b == "tcgen05" and ins.has("mma"):
            f["wgmma"] += 1
        elif b in ("fma", "mad") and _is_float(ins):
            f["fma"] += 1
        elif b == "mul" and _is_float(ins):
            f["fmul"] += 1
        elif b in ("add", "sub") and _is_float(ins):
            f["fadd"] += 1
        elif b in _SFU or (b == "div" and _is_float(ins)):
            f["sfu"] += 1
        elif b in ("bra", "brx"):
            f["branches"] += 1
        elif b == "call":
            f["calls"] += 1


def _dest(operands: str) -> str:
    return operands.split(",", 1)[0].strip()


def _srcs(operands: str) -> list[str]:
    return [s.strip() for s in operands.split(",")[1:]]


def _work(instrs: list[Instr]) -> int:
    """Work one pass over a straight run of instructions does: the most of FMA-type ops,
    global/shared stores, and float add/mul pairs."""
    fmas = sum(1 for i in instrs if i.base in ("fma", "mad") and _is_float(i))
    stores = sum(1 for i in instrs if i.base == "st" and _space(i) in ("global", "shared", "generic"))
    addmul = sum(1 for i in instrs if i.base in ("add", "sub", "mul") and _is_float(i))
    return max(fmas, stores, addmul // 2)


def _accumulators(body: list[Instr]) -> int:
    """Loop-carried FMA accumulators of one loop body: registers used as the addend of an
    fma BEFORE the body writes them (so the value comes from the previous iteration) and
    written later in the body by an fma (or a mov of an fma's result). `acc += a*b`
    unrolled 16 times is 1 accumulator; a 4x4 register tile is 16."""
    writes: dict[str, int] = {}
    fma_results: set[str] = set()
    for k, i in enumerate(body):
        if i.base in ("fma", "mad") and _is_float(i):
            d = _dest(i.operands)
            fma_results.add(d)
            writes.setdefault(d, k)
        elif i.base == "mov" and _is_float(i):
            srcs = _srcs(i.operands)
            if srcs and srcs[0] in fma_results:
                d = _dest(i.operands)
                fma_results.add(d)
                writes.setdefault(d, k)
    acc: set[str] = set()
    for k, i in enumerate(body):
        if i.base in ("fma", "mad") and _is_float(i):
            srcs = _srcs(i.operands)
            if srcs:
                r = srcs[-1]
                if r in writes and writes[r] >= k:
                    acc.add(r)
    return len(acc)


def _loops(fn: PtxFunction, f: dict[str, float]) -> None:
    """Loops are backward branches (`bra` to a label at or before it). Innermost loops
    (containing no other loop) give the unroll estimate: the most work one iteration
    does; the loop-free code gives `straight_stores` (elements one thread writes)."""
    loops: list[tuple[int, int]] = []
    for ins in fn.instrs:
        if ins.base != "bra":
            continue
        target = ins.operands.strip().split(",")[0].strip()
        start = fn.labels.get(target)
        if start is not None and start <= ins.index:
            loops.append((start, ins.index))
    f["loops"] += len(loops)
    in_loop = [False] * len(fn.instrs)
    for s, e in loops:
        for k in range(s, e + 1):
            in_loop[k] = True
    f["loop_instructions"] += sum(in_loop)
    for s, e in loops:
        if any((s2, e2) != (s, e) and s <= s2 and e2 <= e for s2, e2 in loops):
            continue  # not innermost
        body = fn.instrs[s:e + 1]
        f["unroll"] = max(f["unroll"], float(_work(body)))
        f["accumulators"] = max(f["accumulators"], float(_accumulators(body)))
    outside = [i for i, inside in zip(fn.instrs, in_loop) if not inside]
    f["straight_stores"] += sum(1 for i in outside if i.base == "st" and _space(i) in ("global", "generic"))


# ---------------------------------------------------------------------------
# SYCL: documented source fallback
# ---------------------------------------------------------------------------

SYCL_FEATURES = (
    "vec_types", "vec_load", "read_only", "local_mem", "group_barrier", "group_collectives",
    "sub_group_ops", "sub_group_collectives", "atomic_global", "atomic_local", "joint_matrix",
    "async_copy", "fma", "mul_acc", "loops", "max_loop_depth", "pragma_unroll", "grid_stride",
    "private_arrays", "loop_fma_max", "helpers",
)

_KEYWORDS = {"if", "for", "while", "switch", "return", "sizeof", "do", "else", "case", "catch",
             "static_cast", "reinterpret_cast", "const_cast", "dynamic_cast", "decltype", "alignof",
             "template", "operator", "new", "delete", "throw", "static_assert"}
_VEC_TYPE = re.compile(
    r"\bvec\s*<|\bmarray\s*<|\b(?:float|double|half|int|uint|short|ushort|char|uchar|schar|long|ulong|"
    r"longlong|ulonglong|bfloat16)(?:2|3|4|8|16)\b")
_VEC_LOAD = re.compile(r"\.\s*(?:load|store)\s*(?:<[^<>;]*>)?\s*\(|\bgroup_(?:load|store)\s*(?:<[^<>;]*>)?\s*\(")
_READ_ONLY = re.compile(r"\bldg\s*\(")
_LOCAL_MEM = re.compile(r"\b(?:work_group_static|local_accessor|group_local_memory(?:_for_overwrite)?|"
                        r"get_work_group_scratch_memory|work_group_scratch_memory)\b")
_BARRIER = re.compile(r"\bgroup_barrier\s*\(|\.\s*barrier\s*\(|\bnd_item\s*<[^>]*>\s*::\s*barrier\b")
_SG_SHUFFLE = re.compile(r"\b(?:shift_group_left|shift_group_right|select_from_group|permute_group_by_xor|"
                         r"permute_group|group_broadcast)\s*\(")
_SG_METHOD = re.compile(r"\.\s*(?:shuffle(?:_down|_up|_xor)?|shuffle_down|shuffle_up|shuffle_xor)\s*\(")
_COLLECTIVE = re.compile(r"\b(?:reduce_over_group|inclusive_scan_over_group|exclusive_scan_over_group|"
                         r"any_of_group|all_of_group|none_of_group|joint_reduce|joint_inclusive_scan|"
                         r"joint_exclusive_scan|joint_any_of|joint_all_of|joint_none_of|group_broadcast|"
                         r"select_from_group|shift_group_left|shift_group_right|permute_group_by_xor)\s*\(")
_ATOMIC = re.compile(r"\batomic_ref\s*<|\batomic\s*<|\batomic_fetch_\w+\s*\(|\batomic_(?:add|sub|min|max|"
                     r"and|or|xor|exchange|compare_exchange_\w+)\s*\(")
_JOINT = re.compile(r"\bjoint_matrix_(?:mad|multiply_add)\s*\(|\bjoint_matrix\s*<")
_ASYNC = re.compile(r"\b(?:async_work_group_copy|joint_matrix_(?:load|prefetch)|prefetch|"
                    r"async_group_copy|memcpy_async)\s*\(")
_FMA = re.compile(r"\b(?:fma|mad|fmaf|mad24|mad_hi|mad_sat)\s*\(")
_LOOP = re.compile(r"\b(?:for|while)\s*\(|\bdo\s*\{")
_PRAGMA_UNROLL = re.compile(r"^[ \t]*#[ \t]*pragma[ \t]+unroll(?:[ \t]*\(?[ \t]*(\w+)[ \t]*\)?)?", re.M)
_GLOBAL_RANGE = re.compile(r"\bget_global_range\s*\(|\bget_group_range\s*\(")
_SUB_GROUP_SRC = re.compile(r"\bget_sub_group\s*\(|\bsub_group\b")
_DECL_FROM = re.compile(r"\b([A-Za-z_]\w*)\s*(?:=|\{|\()\s*([^;]*);")
_PRIVATE_ARRAY = re.compile(
    r"(?:^|[;{}\n])\s*(?:const\s+|constexpr\s+)?(?:sycl::)?(?:float|double|half|int|unsigned|uint\d*_t|"
    r"int\d+_t|short|long|char|bfloat16|size_t|auto|[A-Za-z_]\w*)\s+[A-Za-z_]\w*\s*\[[^\]]+\]")
_CALL = re.compile(r"\b([A-Za-z_]\w*)\s*(?:<[^<>;(){}]*>)?\s*\(")


def _match_brace(text: str, i: int) -> int:
    """`text[i]` is '{': index after the matching '}' (len(text) if unbalanced)."""
    j = match_bracket(text, i)
    return j if j >= 0 else len(text)


def _function_body(masked: str, name: str, skip: int = -1) -> tuple[int, int] | None:
    """Span of the definition of a function called `name` in `masked`, from its name
    (parameters included: a `sycl::sub_group g` parameter makes `g` a sub-group) to the
    end of its body (a definition: `name(...)` followed by qualifiers and `{`, not a
    call or a declaration)."""
    for m in re.finditer(r"\b" + re.escape(name) + r"\s*(?:<[^<>;{}]*>)?\s*\(", masked):
        if m.start() == skip:
            continue
        close = _skip_parens(masked, m.end() - 1)
        rest = masked[close:close + 200]
        q = re.match(r"\s*(?:const\b\s*)?(?:noexcept\b\s*(?:\([^)]*\))?\s*)?(?:->\s*[^{;]+)?\{", rest)
        if q:
            # the name must not be a call inside an expression: the previous token is a type,
            # `*`, `&`, `>` or `::`, not an operator or '('
            before = masked[:m.start()].rstrip()
            if before and before[-1] in "=(,+-*/%?:!<|^~[" and not before.endswith(("::", "*", "&")):
                continue
            start = close + q.end() - 1
            return m.start(), _match_brace(masked, start)
    return None


def _kernel_code(masked: str, name: str | None) -> tuple[str, int]:
    """The masked text of the kernel `name` and of the functions of the file it calls
    (transitively, at most 32), and how many helpers were added. The whole text when the
    kernel cannot be found."""
    if not name:
        return masked, 0
    short = name.split("<", 1)[0].split("::")[-1].strip()
    span = _function_body(masked, short)
    if span is None:
        return masked, 0
    pieces = [masked[span[0]:span[1]]]
    seen = {short}
    queue = [pieces[0]]
    helpers = 0
    while queue and helpers < 32:
        body = queue.pop()
        for cm in _CALL.finditer(body):
            callee = cm.group(1)
            if callee in seen or callee in _KEYWORDS:
                continue
            seen.add(callee)
            sp = _function_body(masked, callee)
            if sp is None or sp == span:
                continue
            text = masked[sp[0]:sp[1]]
            pieces.append(text)
            queue.append(text)
            helpers += 1
    return "\n".join(pieces), helpers


def _loop_bodies(code: str) -> list[tuple[str, int]]:
    """(body text, nesting depth) of each for/while loop; depth 1 = outermost. Bodies
    are brace blocks or single statements."""
    out: list[tuple[str, int]] = []
    spans: list[tuple[int, int]] = []
    for m in _LOOP.finditer(code):
        if m.group().startswith("while") and code[:m.start()].rstrip().endswith("}"):
            close = _skip_parens(code, m.end() - 1)
            if code[close:].lstrip().startswith(";"):
                continue  # the `while (...)` of a do-while
        if m.group().startswith("do"):
            start = m.end() - 1
            end = _match_brace(code, start)
        else:
            close = _skip_parens(code, m.end() - 1)
            k = close
            while k < len(code) and code[k].isspace():
                k += 1
            if k < len(code) and code[k] == "{":
                start, end = k, _match_brace(code, k)
            else:
                start = k
                semi = code.find(";", k)
                end = len(code) if semi < 0 else semi + 1
        spans.append((m.start(), end))
        out.append((code[start:end], 0))
    depths = []
    for s, e in spans:
        depths.append(1 + sum(1 for s2, e2 in spans if s2 < s and e <= e2))
    return [(body, d) for (body, _), d in zip(out, depths)]


def _first_arg(code: str, open_paren: int) -> str:
    """The text of the first argument of the call whose '(' is at `open_paren`."""
    return call_args(code, open_paren)[0][0]


def sycl_source_features(text: str, kernel: str | None = None) -> dict[str, float]:
    """Counts of SYCL constructs in the kernel `kernel` of `text` (and the functions of
    the file it calls), after comments and string contents are blanked."""

    if not text or not text.strip():
        return {}
    masked_pp = mask(text, preprocessor=False)  # comments/strings blanked, #pragma kept
    masked = mask(text)  # preprocessor lines blanked too
    code, helpers = _kernel_code(masked, kernel)
    code_pp, _ = _kernel_code(masked_pp, kernel)
    f: dict[str, float] = {k: 0.0 for k in SYCL_FEATURES}
    f["helpers"] = helpers
    f["vec_types"] = len(_VEC_TYPE.findall(code))
    f["vec_load"] = len(_VEC_LOAD.findall(code))
    f["read_only"] = len(_READ_ONLY.findall(code))
    f["local_mem"] = len(_LOCAL_MEM.findall(code))
    f["group_barrier"] = len(_BARRIER.findall(code))
    f["joint_matrix"] = len(_JOINT.findall(code))
    f["async_copy"] = len(_ASYNC.findall(code))
    f["fma"] = len(_FMA.findall(code))
    f["mul_acc"] = len(re.findall(r"\+=[^;]*\*", code))

    # values that are sub-groups: variables initialised from get_sub_group() / of type sub_group
    sg_vars: set[str] = set()
    range_vars: set[str] = set()
    for m in _DECL_FROM.finditer(code):
        var, init = m.group(1), m.group(2)
        if _SUB_GROUP_SRC.search(init):
            sg_vars.add(var)
        if _GLOBAL_RANGE.search(init) or any(re.search(r"\b" + re.escape(v) + r"\b", init) for v in range_vars):
            range_vars.add(var)
    for m in re.finditer(r"\bsub_group\s+([A-Za-z_]\w*)", code):
        sg_vars.add(m.group(1))

    def is_sub_group(arg: str) -> bool:
        return bool(_SUB_GROUP_SRC.search(arg)) or any(re.fullmatch(r"\s*" + re.escape(v) + r"\s*", arg)
                                                        for v in sg_vars)

    for m in _COLLECTIVE.finditer(code):
        name = m.group().split("(")[0].strip()
        arg = _first_arg(code, m.end() - 1)
        shuffle = name in ("select_from_group", "shift_group_left", "shift_group_right",
                           "permute_group_by_xor", "group_broadcast")
        if is_sub_group(arg):
            f["sub_group_ops" if shuffle else "sub_group_collectives"] += 1
        else:
            f["group_collectives"] += 1
    f["sub_group_ops"] += len(_SG_METHOD.findall(code))
    # barrier on a sub-group is a sub-group operation, not a work-group barrier
    for m in re.finditer(r"\bgroup_barrier\s*\(", code):
        if is_sub_group(_first_arg(code, m.end() - 1)):
            f["group_barrier"] -= 1
            f["sub_group_ops"] += 1

    for m in _ATOMIC.finditer(code):
        window = code[m.start():m.start() + 240]
        if m.group().startswith(("atomic_ref", "atomic")) and "local_space" in window.split(";", 1)[0]:
            f["atomic_local"] += 1
        else:
            f["atomic_global"] += 1

    loops = _loop_bodies(code)
    f["loops"] = len(loops)
    f["max_loop_depth"] = max((d for _, d in loops), default=0)
    for body, _ in loops:
        if _LOOP.search(body):
            continue  # innermost loops only
        n = len(_FMA.findall(body)) + len(re.findall(r"\+=[^;]*\*", body))
        f["loop_fma_max"] = max(f["loop_fma_max"], n)
    for m in _PRAGMA_UNROLL.finditer(code_pp):
        arg = m.group(1)
        if arg is None or not arg.isdigit() or int(arg) > 1:
            f["pragma_unroll"] += 1
    for m in re.finditer(r"\bfor\s*\(", code):
        close = _skip_parens(code, m.end() - 1)
        header = code[m.end():close - 1]
        parts = header.split(";")
        if len(parts) == 3:
            step = parts[2]
            if _GLOBAL_RANGE.search(step) or any(re.search(r"\b" + re.escape(v) + r"\b", step)
                                                 for v in range_vars):
                f["grid_stride"] += 1
    # private arrays: `T name[N]` declared in the kernel, not work-group memory
    for m in _PRIVATE_ARRAY.finditer(code):
        decl = m.group()
        words = re.findall(r"[A-Za-z_]\w*", decl)
        if _LOCAL_MEM.search(decl) or (words and words[0] in _KEYWORDS | {"goto", "co_return", "co_yield"}):
            continue
        f["private_arrays"] += 1
    return {k: float(v) for k, v in f.items()}
