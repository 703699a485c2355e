"""SYCL kernels as users write them: lambdas passed to `parallel_for`, and functions taking
`sycl::nd_item<N>` (or `item`/`id`) called from such a lambda (the dpct/SYCLomatic style).

Read with tree-sitter (backends/kernel/syntax.py): the lambda sits in host code (queues,
command groups, buffers), so what it captures has to be looked up the way the compiler does,
scope by scope. For each kernel this module says what kf needs to lift it into a
free-function kernel (backends/kernel/lift.py) and to describe it (scanner.py): its name,
where its statement is, its work-item parameter and launch, and every variable it takes
from the host with the kind of thing it is (pointer, accessor, local memory, scalar,
constant). Naming follows /work/notes/conventions.md: `parallel_for<class K>` gives `K`,
else `FUNC#K` (the enclosing function and the lambda's ordinal among its kernel lambdas).

Nothing here raises on odd code: what kf cannot lift is a `problem` with a place and a
message, reported on the kernel.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Collection

from backends.kernel import syntax
from backends.kernel.syntax import Tree

__all__ = ["Variable", "SyclKernelForm", "find_sycl_forms", "ITEM_TYPE", "WORK_ITEM_PARAM"]

# `sycl::nd_item<2>`, `cl::sycl::id<1>`, `item<3>`, `const sycl::nd_item<3> &`
ITEM_TYPE = re.compile(r"^\s*(?:const\s+)?(?:(?:cl\s*::\s*)?sycl\s*::\s*)?(nd_item|item|id)\s*<\s*(\d)\s*"
                       r"(?:,\s*(?:true|false)\s*)?>\s*(?:const\s*)?&?\s*$")
# a work-item type where a parameter may take one: a header of dpct-style kernels has no parallel_for
WORK_ITEM_PARAM = re.compile(r"\b(?:nd_item|item|id)\s*<\s*\d\s*(?:,\s*(?:true|false)\s*)?>\s*(?:const\s*)?&?\s*\w+\s*[,)]")
_FUNCTION_SCOPES = ("function_definition",)
_NAMES = ("identifier", "type_identifier")
_DECL_TYPES = ("declaration", "parameter_declaration", "optional_parameter_declaration",
               "field_declaration")


@dataclass
class Variable:
    """A name the kernel takes from the host code around it.

    kind: "pointer" (a USM pointer; a pointer parameter), "accessor" (a buffer accessor; a
    pointer parameter), "local" (a local accessor: work-group local memory, no parameter),
    "scalar" (a value parameter), "constant" (a constexpr/const local with a constant
    initialiser: copied into the lifted kernel), "unsupported" (`note` says why).
    """

    name: str
    kind: str
    type: str = ""  # parameter type for pointer/scalar ("const float*", "int"); "" when unknown
    elem: str = ""  # element type of a pointer/accessor/local accessor; "" when unknown
    const: bool = False  # read-only (const pointee, read-only accessor)
    dims: int = 1  # accessor / local accessor dimensions
    extents: list[str] = field(default_factory=list)  # C++ texts of the extents (accessor: its buffer's)
    decl: tuple[int, int] = (0, 0)  # offsets of the declaration statement
    note: str = ""  # unsupported: why; unknown type: what to write
    uses: int = 0  # offset of the first use in the kernel
    at: int = 0  # offset of its name where the host declares it (the parameters' order)


@dataclass
class SyclKernelForm:
    form: str  # "lambda" | "nd_item_function"
    name: str
    name_span: tuple[int, int]  # the kernel-name token, the `parallel_for` token, or the function name
    statement: tuple[int, int]  # lambda: the statement holding the parallel_for call; function: its definition
    start: int  # where the kernel's text starts (a stored lambda's declaration may come first)
    end: int
    body: tuple[int, int]  # the kernel's `{ ... }` (lambda body or function body)
    item_name: str = ""
    item_type: str = ""  # as written ("sycl::nd_item<1>", "auto", "const sycl::nd_item<3> &")
    item_kind: str = ""  # "nd_item" | "item" | "id" | "" (auto, unknown)
    item_index: int = 0  # nd_item function: position of the item parameter
    dims: int = 0  # 0: not known from the code
    range_launch: bool | None = None  # None: not known from the code
    variables: list[Variable] = field(default_factory=list)  # lambda: what it takes from the host, in declaration order
    local_args: dict[int, tuple[str, Variable]] = field(default_factory=dict)  # function: param index -> (call-site text, local accessor)
    function: str = ""  # the enclosing function (lambda) / the function itself
    template: str = ""  # the enclosing function's (or the function's) template parameter list, `<...>`
    template_params: list[tuple[str, str, str | None]] = field(default_factory=list)  # (kind, name, default)
    namespaces: list[str] = field(default_factory=list)
    usings: list[tuple[int, int]] = field(default_factory=list)  # using-directives/aliases in scope (offsets)
    properties: list[str] = field(default_factory=list)  # extra kernel properties (sub-group size)
    scope_class: str = ""  # the class whose member function holds the lambda (its static members are in scope)
    offset: list[str] = field(default_factory=list)  # `parallel_for(range, id offset, kernel)`: the offset (C++)
    problems: list[tuple[int, str]] = field(default_factory=list)  # (offset, message): cannot be lifted


# ---------------------------------------------------------------------------
# Small tree helpers
# ---------------------------------------------------------------------------


def _call_name(t: Tree, call) -> tuple[str, object | None, object | None]:
    """(`parallel_for`-like name, its token node, its template argument list) of a call."""
    fn = call.child_by_field_name("function")
    if fn is None:
        return "", None, None
    if fn.type == "field_expression":
        fn = fn.child_by_field_name("field")
    while fn is not None and fn.type == "qualified_identifier":
        fn = fn.child_by_field_name("name")
    if fn is None:
        return "", None, None
    if fn.type in ("template_method", "template_function"):
        name = fn.child_by_field_name("name")
        return (t.text_of(name) if name is not None else ""), name, fn.child_by_field_name("arguments")
    if fn.type in ("field_identifier", "identifier"):
        return t.text_of(fn), fn, None
    return "", None, None


def _kids(node) -> list:
    """A node's named children, comments left out: dpct writes `range<1>(1024 /*SHARED_SIZE*/)`,
    one argument, not two."""
    return [c for c in node.named_children if c.type != "comment"]


def _args(call) -> list:
    al = call.child_by_field_name("arguments")
    return [c for c in al.named_children if c.type != "comment"] if al is not None else []


def _unparen(node):
    while node is not None and node.type == "parenthesized_expression" and node.named_child_count == 1:
        node = node.named_children[0]
    return node


def _declarator_name(t: Tree, d) -> tuple[str, object | None, int, bool]:
    """(name, name node, pointer depth, is reference) of a declarator."""
    ptr, ref = 0, False
    while d is not None:
        if d.type in ("identifier", "field_identifier"):
            return t.text_of(d), d, ptr, ref
        if d.type == "pointer_declarator":
            ptr += 1
        elif d.type == "reference_declarator":
            ref = True
            nxt = d.child_by_field_name("declarator")
            if nxt is None:
                nxt = next((c for c in d.named_children), None)
            d = nxt
            continue
        elif d.type == "array_declarator":
            ptr += 1
        nxt = d.child_by_field_name("declarator")
        if nxt is None and d.type in ("init_declarator", "function_declarator", "pointer_declarator",
                                      "array_declarator", "attributed_declarator"):
            nxt = next((c for c in d.named_children if c.type.endswith("declarator") or c.type == "identifier"), None)
        d = nxt
    return "", None, ptr, ref


@dataclass
class _Decl:
    """One declared name: the declaration node, its type text, pointer depth, initialiser."""

    node: object
    name: str
    type_text: str  # the declared type, qualifiers included ("const T", "float", "auto")
    pointer: int
    reference: bool
    init: object | None  # initialiser node (expression, argument_list, initializer_list)
    qualifiers: set[str]
    statement: tuple[int, int]
    at: int = 0  # offset of the declared name


def _decls_of(t: Tree, node) -> list[_Decl]:
    """Every name a declaration / parameter node declares."""
    if node.type not in _DECL_TYPES and node.type != "for_range_loop":
        return []
    quals = {t.text_of(c) for c in node.children
             if c.type in ("type_qualifier", "storage_class_specifier")}
    ty = node.child_by_field_name("type")
    type_text = t.text_of(ty) if ty is not None else ""
    shown_quals = " ".join(q for q in ("const", "volatile") if q in quals)
    full_type = f"{shown_quals} {type_text}".strip()
    out = []
    declarators = node.children_by_field_name("declarator")
    if node.type == "for_range_loop":
        declarators = [node.child_by_field_name("declarator")]
    for d in declarators:
        if d is None:
            continue
        name, name_node, ptr, ref = _declarator_name(t, d)
        if not name:
            continue
        init = None
        if d.type == "init_declarator":
            init = d.child_by_field_name("value")
        elif d.type == "function_declarator":  # `accessor a(buf, h, read_only)`: the vexing parse
            init = d.child_by_field_name("parameters")
        elif node.type == "optional_parameter_declaration":
            init = node.child_by_field_name("default_value")
        out.append(_Decl(node, name, full_type, ptr, ref, init, quals, t.span(node),
                         t.span(name_node)[0] if name_node is not None else t.span(node)[0]))
    return out


# `sycl::range<1> lws(len);` reads as `(sycl::range < 1) > lws(len)` to a parser that does not
# know `range` is a template; the declaration is recovered from a copy of the file with the
# template arguments blanked (offsets unchanged, so nodes of the copy name the same text).
_MISREAD = re.compile(r"^\s*((?:[A-Za-z_]\w*\s*::\s*)*[A-Za-z_]\w*\s*)(<[^;{}()]*>)\s*[A-Za-z_]\w*\s*[({]")
_RECOVERED: dict[int, tuple[Tree, Tree]] = {}


def _recovered_decls(t: Tree, stmt) -> list[_Decl]:
    key = id(t)
    pair = _RECOVERED.get(key)
    t2 = pair[1] if pair is not None and pair[0] is t else None
    if t2 is None:
        data = bytearray(t.data)
        for n in syntax.walk(t.root):
            if n.type == "expression_statement":
                m = _MISREAD.match(t.text_of(n))
                if m and t.ascii:
                    a = n.start_byte + m.start(2)
                    data[a:a + len(m.group(2))] = b" " * len(m.group(2))
        t2 = syntax.parse(data.decode("utf-8", "replace"))
        if len(_RECOVERED) > 8:
            _RECOVERED.clear()
        _RECOVERED[key] = (t, t2)
    node = t2.root.descendant_for_byte_range(stmt.start_byte, stmt.end_byte)
    while node is not None and node.type != "declaration":
        node = node.parent
    if node is None or node.start_byte != stmt.start_byte:
        return []
    out = _decls_of(t, node)
    m = _MISREAD.match(t.text_of(stmt))
    for d in out:
        d.type_text = _clean(m.group(1) + m.group(2)) if m else d.type_text
    return out


def _scope_decls(t: Tree, node, before: int) -> list[_Decl]:
    """Declarations directly in `node` (a scope) that start before `before`."""
    out: list[_Decl] = []
    if node.type in ("compound_statement", "translation_unit", "declaration_list"):
        for c in node.named_children:
            if c.start_byte >= before:
                break
            if c.type == "declaration":
                out.extend(_decls_of(t, c))
            elif c.type == "expression_statement" and _MISREAD.match(t.text_of(c)):
                out.extend(_recovered_decls(t, c))
    elif node.type in ("for_statement",):
        init = node.child_by_field_name("initializer")
        if init is not None and init.start_byte < before:
            out.extend(_decls_of(t, init))
    elif node.type == "for_range_loop":
        out.extend(_decls_of(t, node))
    elif node.type in ("lambda_expression", "function_definition"):
        decl = node.child_by_field_name("declarator")
        params = None
        while decl is not None and params is None:
            params = decl.child_by_field_name("parameters")
            decl = decl.child_by_field_name("declarator")
        if params is not None:
            for p in params.named_children:
                out.extend(_decls_of(t, p))
    return out


def _lookup(t: Tree, at, name: str, stop=None) -> _Decl | None:
    """The declaration of `name` visible at node `at`, searching enclosing scopes up to (and
    including the parameters of) the enclosing function; None for names from outside it."""
    child, node = at, at.parent
    while node is not None:
        found = [d for d in _scope_decls(t, node, child.start_byte) if d.name == name]
        if found:
            return found[-1]
        if node.type in _FUNCTION_SCOPES or node is stop:
            return None
        child, node = node, node.parent
    return None


def _enclosing_function(node):
    return syntax.enclosing(node, "function_definition")


def _identifiers(t: Tree, node) -> list:
    """Identifier uses under `node` (not member names, not the scope part of `a::b`)."""
    out = []
    for n in syntax.walk(node):
        # a `type_identifier` too: `atomic_ref<...> bin(hist[i]);` reads as a function declaration
        if n.type not in ("identifier", "type_identifier"):
            continue
        p = n.parent
        if p is not None and p.type == "qualified_identifier" and p.child_by_field_name("name") != n:
            continue
        if p is not None and p.type in ("qualified_identifier",):
            continue  # `sycl::x`: a namespace member, never a local
        out.append(n)
    return out


def _declared_inside(t: Tree, node) -> set[str]:
    """Names declared anywhere inside `node` (its locals and parameters)."""
    out: set[str] = set()
    for n in syntax.walk(node):
        if n.type in _DECL_TYPES or n.type == "for_range_loop":
            out.update(d.name for d in _decls_of(t, n))
        elif n.type == "lambda_capture_initializer":
            left = n.child_by_field_name("left")
            if left is not None:
                out.add(t.text_of(left))
        elif n.type == "structured_binding_declarator":
            out.update(t.text_of(c) for c in n.named_children if c.type == "identifier")
    return out


def _template_args(t: Tree, type_node) -> list:
    """The argument nodes of the first template argument list in a type/expression node."""
    if type_node is None:
        return []
    for n in syntax.walk(type_node):
        if n.type == "template_argument_list":
            return [c for c in n.named_children if c.type != "comment"]
    return []


def _clean(s: str) -> str:
    return " ".join(s.split())


# ---------------------------------------------------------------------------
# What a captured name is
# ---------------------------------------------------------------------------

_MALLOC = re.compile(r"\b(?:malloc_device|malloc_shared|malloc_host|aligned_alloc_device|"
                     r"aligned_alloc_shared|aligned_alloc_host|malloc)\s*<\s*(.+?)\s*>\s*\(", re.S)
_CAST = re.compile(r"^\s*(?:\(\s*([\w:\s<>,]+?)\s*\*\s*\)|(?:static_cast|reinterpret_cast)\s*<\s*([\w:\s<>,]+?)\s*\*\s*>)")
_NUMBER = re.compile(r"^[-+]?(?:0[xX][0-9a-fA-F]+|\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?)([uUlLfF]*)$")
_SCALAR_WORDS = {"int", "float", "double", "char", "short", "long", "unsigned", "signed", "bool",
                 "size_t", "half", "int8_t", "uint8_t", "int16_t", "uint16_t", "int32_t", "uint32_t",
                 "int64_t", "uint64_t", "ptrdiff_t", "uint", "ulong", "ushort", "uchar", "cl_int",
                 "cl_uint", "cl_float", "cl_double", "cl_long", "cl_ulong", "bfloat16", "_Float16"}


class _Context:
    def __init__(self, t: Tree, functions: dict[str, list], template_names: set[str]):
        self.t = t
        self.functions = functions  # name -> function_definition nodes at namespace scope
        self.template_names = template_names
        self.constant_texts: dict[str, str] = {}
        self.aliases: dict[str, object] = {}  # `using X = T;` / `typedef T X;`: name -> T's node

    def is_scalar_type(self, type_text: str) -> bool:
        words = re.findall(r"[A-Za-z_]\w*", re.sub(r"\b(const|volatile|static|constexpr|sycl|cl|std)\b", " ", type_text))
        if not words:
            return False
        return all(w in _SCALAR_WORDS or w in self.template_names or w.endswith("_t") for w in words)

    def return_type(self, name: str) -> str:
        for fn in self.functions.get(name, []):
            ty = fn.child_by_field_name("type")
            if ty is not None:
                text = self.t.text_of(ty)
                decl = fn.child_by_field_name("declarator")
                if decl is not None and decl.type == "pointer_declarator":
                    text += "*"
                return text
        return ""

    def literal_type(self, node) -> str:
        node = _unparen(node)
        if node is None:
            return ""
        if node.type == "number_literal":
            m = _NUMBER.match(self.t.text_of(node).replace("'", ""))
            if not m:
                return ""
            text, suffix = self.t.text_of(node), m.group(1).lower()
            if "f" in suffix and not text.lower().startswith("0x"):
                return "float"
            if re.search(r"[.eE]", text) and not text.lower().startswith("0x"):
                return "double"
            if "u" in suffix:
                return "unsigned long" if "l" in suffix else "unsigned"
            return "long" if "l" in suffix else "int"
        if node.type in ("true", "false"):
            return "bool"
        if node.type == "call_expression":
            fn = node.child_by_field_name("function")
            if fn is not None and fn.type == "identifier":
                return self.return_type(self.t.text_of(fn))
        if node.type == "binary_expression":
            a = self.literal_type(node.child_by_field_name("left"))
            b = self.literal_type(node.child_by_field_name("right"))
            return a if a == b else ""
        return ""

    def constant_init(self, node, at) -> bool:
        """True when an initialiser is a constant expression: literals, arithmetic, and
        names that are not locals of the enclosing function (macros, globals) or that are
        local constants themselves."""
        if node is None:
            return False
        for n in syntax.walk(node):
            if n.type in ("call_expression", "field_expression", "new_expression", "subscript_expression",
                          "lambda_expression", "string_literal", "pointer_expression"):
                if n.type == "call_expression" and self.t.text_of(n.child_by_field_name("function") or n).strip() in ("sizeof",):
                    continue
                return False
            if n.type == "identifier":
                d = _lookup(self.t, at, self.t.text_of(n))
                if d is not None and not ("constexpr" in d.qualifiers or
                                          ("const" in d.qualifiers and self.constant_init(d.init, d.node))):
                    return False
        return True


def _tag_mode(text: str) -> bool | None:
    """Read-only (True), writable (False) or unknown (None) from accessor tags/modes."""
    t = text.replace(" ", "")
    if re.search(r"read_write|write_only|discard_write|discard_read_write|mode::write|\bwrite\b|atomic", t):
        return False
    if re.search(r"read_only|mode::read|\bread\b", t):
        return True
    return None


def _range_extents(t: Tree, node, ctx: _Context, at, depth: int = 0) -> list[str] | None:
    """The extents (C++ texts) of a range-like expression: `sycl::range<2>(M, N)`,
    `range{n}`, a plain size, or a variable holding one."""
    node = _unparen(node)
    if node is None or depth > 4:
        return None
    if node.type in ("call_expression", "compound_literal_expression"):
        fn = node.child_by_field_name("function") or node.child_by_field_name("type")
        ft = t.text_of(fn) if fn is not None else ""
        if re.search(r"\brange\b", ft) and not re.search(r"nd_range", ft):
            args = node.child_by_field_name("arguments") or node.child_by_field_name("value")
            return [_clean(t.text_of(a)) for a in _kids(args)] if args is not None else None
        if re.search(r"nd_range", ft):
            return None
        return [_clean(t.text_of(node))]
    if node.type == "initializer_list":
        return [_clean(t.text_of(a)) for a in _kids(node)]
    if node.type == "binary_expression" and (op := node.child_by_field_name("operator")) is not None \
            and t.text_of(op) in ("+", "-", "*", "/") and (_is_range(t, node.child_by_field_name("left"), at)
                                                             or _is_range(t, node.child_by_field_name("right"), at)):
        # range arithmetic is element-wise (`local_range + range<2>(2, 2)`: a tile with its halo)
        left = _range_extents(t, node.child_by_field_name("left"), ctx, at, depth + 1)
        right = _range_extents(t, node.child_by_field_name("right"), ctx, at, depth + 1)
        if not left or not right or (len(left) != len(right) and 1 not in (len(left), len(right))):
            return None
        n = max(len(left), len(right))
        left, right = (left * n if len(left) == 1 else left), (right * n if len(right) == 1 else right)
        return [f"{_operand(a)} {t.text_of(op)} {_operand(b)}" for a, b in zip(left, right)]
    if node.type in _NAMES:
        d = _lookup(t, at, t.text_of(node))
        if d is None:
            return [t.text_of(node)]
        if re.search(r"\brange\b", d.type_text) and not re.search(r"nd_range", d.type_text):
            if d.init is None:
                return None
            if d.init.type in ("argument_list", "initializer_list", "parameter_list"):
                return [_clean(t.text_of(a)) for a in _kids(d.init)]
            return _range_extents(t, d.init, ctx, d.node, depth + 1)
        if d.type_text.strip() == "auto" and d.init is not None:
            return _range_extents(t, d.init, ctx, d.node, depth + 1)
        if ctx.is_scalar_type(d.type_text):
            return [t.text_of(node)]
        return None
    return [_clean(t.text_of(node))]


def _is_range(t: Tree, node, at, depth: int = 0) -> bool:
    """Is this expression a `sycl::range` (a constructor, or a name declared as one)?"""
    node = _unparen(node)
    if node is None or depth > 4:
        return False
    if node.type in ("call_expression", "compound_literal_expression"):
        fn = node.child_by_field_name("function") or node.child_by_field_name("type")
        ft = t.text_of(fn) if fn is not None else ""
        return bool(re.search(r"\brange\b", ft)) and not re.search(r"nd_range", ft)
    if node.type == "binary_expression":
        return _is_range(t, node.child_by_field_name("left"), at, depth + 1) or \
            _is_range(t, node.child_by_field_name("right"), at, depth + 1)
    if node.type in _NAMES:
        d = _lookup(t, at, t.text_of(node))
        if d is None:
            return False
        if d.type_text.strip() in ("auto", "const auto") and d.init is not None:
            return _is_range(t, d.init, d.node, depth + 1)
        return bool(re.search(r"\brange\b", d.type_text)) and not re.search(r"nd_range", d.type_text)
    return False


def _operand(text: str) -> str:
    """`text` as an operand of a binary operator: parenthesised unless a name or a number."""
    return text if re.fullmatch(r"[\w.]+", text) else f"({text})"


def _buffer_info(t: Tree, node, ctx: _Context, at) -> tuple[str, int, list[str]] | None:
    """(element type, dims, extents) of a buffer expression (`buf`, `*buf_ptr`)."""
    node = _unparen(node)
    if node is None:
        return None
    if node.type == "pointer_expression":
        node = node.child_by_field_name("argument")
    if node is None or node.type not in _NAMES:
        return None
    d = _lookup(t, at, t.text_of(node))
    if d is None:
        return None
    ty = d.type_text
    init = d.init
    args = []
    if init is not None and init.type == "new_expression":
        ty = t.text_of(init.child_by_field_name("type"))
        al = init.child_by_field_name("arguments")
        args = list(_kids(al)) if al is not None else []
    elif init is not None and init.type in ("argument_list", "initializer_list", "parameter_list"):
        args = list(_kids(init))
    if not re.search(r"\bbuffer\b", ty):
        return None
    ty_node = d.node.child_by_field_name("type") if init is None or init.type != "new_expression" else init.child_by_field_name("type")
    targs = _template_args(t, ty_node)
    elem = t.text_of(targs[0]) if targs else ""
    dims = int(t.text_of(targs[1])) if len(targs) > 1 and t.text_of(targs[1]).isdigit() else 0
    extents: list[str] | None = None
    # buffer(ptr, range), buffer(range), buffer(ptr, n): the range is the first range-like argument
    for a in args:
        if a.type == "parameter_declaration":  # the vexing parse keeps arguments as declarations
            a = a.child_by_field_name("type") or a
        at_text = t.text_of(a)
        if re.search(r"\brange\b", at_text) or (a.type in _NAMES and (
                (dd := _lookup(t, d.node, at_text)) is not None and re.search(r"\brange\b", dd.type_text))):
            extents = _range_extents(t, a, ctx, d.node)
            break
    if extents is None and args:
        last = [a for a in args if not re.search(r"prop|property", t.text_of(a))]
        if len(last) >= 2:  # buffer(ptr, n)
            extents = [_clean(t.text_of(last[1]))]
        elif len(last) == 1 and not elem:  # buffer(ptr_or_vector) with CTAD: unknown length
            extents = None
    if not elem and args:
        first = args[0]
        m = _CAST.match(t.text_of(first))
        if m:
            elem = _clean(m.group(1) or m.group(2))
        elif first.type in _NAMES:
            fd = _lookup(t, d.node, t.text_of(first))
            if fd is not None and fd.pointer:
                elem = _clean(fd.type_text.replace("const", ""))
            elif fd is not None and len(args) == 1:  # `buffer b{v}` over a std::vector/std::array
                elem = syntax.container_element(fd.type_text)
        else:  # `buffer b{v.data(), r}`, `b{&v[0], r}`: the container's element type
            held = syntax.container_of(first)
            fd = _lookup(t, d.node, t.text_of(held)) if held is not None else None
            elem = syntax.container_element(fd.type_text) if fd is not None else ""
    if not dims:
        dims = len(extents) if extents else 1
    return elem, dims, extents or []


def _classify(ctx: _Context, d: _Decl, name: str) -> Variable:
    t = ctx.t
    v = Variable(name=name, kind="scalar", decl=d.statement, at=d.at)
    ty = d.type_text
    ty_node = d.node.child_by_field_name("type")
    for _ in range(4):  # type aliases: `using rw_accessor = sycl::accessor<float, 1, ...>;`
        bare = _clean(re.sub(r"\b(const|volatile)\b", " ", ty))
        alias = ctx.aliases.get(bare)
        if alias is None:
            break
        ty = ("const " if re.search(r"\bconst\b", ty) else "") + _clean(t.text_of(alias))
        ty_node = alias
    init = _unparen(d.init) if d.init is not None and d.init.type not in ("argument_list", "initializer_list", "parameter_list") else d.init
    init_text = t.text_of(init) if init is not None else ""
    # `auto tile = local_accessor<float, 2>(r, h)`: the type is the constructor's
    ctor_args = None
    if ty.strip() in ("auto", "const auto") and init is not None and \
            init.type in ("call_expression", "compound_literal_expression"):
        fn = init.child_by_field_name("function") or init.child_by_field_name("type")
        if fn is not None and re.search(r"\blocal_accessor\b", t.text_of(fn)):
            ty, ty_node = t.text_of(fn), fn
            ctor_args = init.child_by_field_name("arguments") or init.child_by_field_name("value")
    # local memory: local_accessor, or an accessor with target::local
    if re.search(r"\blocal_accessor\b", ty) or (re.search(r"\baccessor\b", ty) and re.search(r"target\s*::\s*local", ty)):
        targs = _template_args(t, ty_node)
        v.kind = "local"
        v.elem = _clean(t.text_of(targs[0])) if targs else ""
        v.dims = int(t.text_of(targs[1])) if len(targs) > 1 and t.text_of(targs[1]).isdigit() else 1
        first = None
        if ctor_args is not None and ctor_args.named_child_count:
            first = _kids(ctor_args)[0]
        elif d.init is not None and d.init.named_child_count:
            first = _kids(d.init)[0]
            if first.type == "parameter_declaration":
                first = first.child_by_field_name("type") or first
        ext = _range_extents(t, first, ctx, d.node) if first is not None else None
        if ext is None:
            v.kind, v.note = "unsupported", (f"kf cannot read the size of local accessor '{name}' "
                                             f"(`{_clean(t.text_of(d.node))[:80]}`)")
        else:
            v.extents = ext
        if not v.elem:
            v.kind, v.note = "unsupported", f"kf cannot read the element type of local accessor '{name}'"
        return v
    if re.search(r"\bhost_accessor\b", ty):
        v.kind, v.note = "unsupported", f"'{name}' is a host_accessor: kernels cannot use it"
        return v
    is_accessor = bool(re.search(r"\baccessor\b", ty)) or bool(re.search(r"\bget_access\b", init_text)) or \
        bool(re.search(r"^\s*(?:(?:cl\s*::\s*)?sycl\s*::\s*)?accessor\b", init_text))
    if is_accessor:
        v.kind = "accessor"
        targs = _template_args(t, ty_node) if re.search(r"\baccessor\s*<", ty) else []
        buf_node = None
        mode_text = ty
        if init is not None and init.type == "call_expression" and re.search(r"get_access", init_text):
            fn = init.child_by_field_name("function")
            if fn is not None and fn.type == "field_expression":
                buf_node = fn.child_by_field_name("argument")
            mode_text += " " + init_text
        elif d.init is not None and d.init.named_child_count:
            args = [a.child_by_field_name("type") or a if a.type == "parameter_declaration" else a
                    for a in _kids(d.init)]
            if init is not None and init.type in ("call_expression", "compound_literal_expression") and \
                    re.search(r"\baccessor\b", t.text_of(init.child_by_field_name("function") or init.child_by_field_name("type") or init)):
                inner = init.child_by_field_name("arguments") or init.child_by_field_name("value")
                args = list(_kids(inner)) if inner is not None else []
                targs = targs or _template_args(t, init)
            if args:
                buf_node = args[0]
                mode_text += " " + " ".join(t.text_of(a) for a in args[1:])
                if len([a for a in args[1:] if not re.search(r"no_init|property|read_only|write_only|read_write|\bh\b|cgh|handler", t.text_of(a))]) > 1:
                    v.kind, v.note = "unsupported", (f"accessor '{name}' covers part of its buffer (a range "
                                                     "and offset): kf lifts whole-buffer accessors only")
                    return v
        # modes named by constants (`constexpr access::mode sycl_read = access::mode::read;`)
        for ident in set(re.findall(r"[A-Za-z_]\w*", mode_text)):
            if ident in ctx.constant_texts:
                mode_text += " " + ctx.constant_texts[ident]
            else:
                md = _lookup(t, d.node, ident)
                if md is not None and md.init is not None:
                    mode_text += " " + t.text_of(md.init)
        read_only = _tag_mode(mode_text)
        v.const = bool(read_only)
        info = _buffer_info(t, buf_node, ctx, d.node) if buf_node is not None else None
        if targs:
            v.elem = _clean(t.text_of(targs[0]))
            if len(targs) > 1 and t.text_of(targs[1]).isdigit():
                v.dims = int(t.text_of(targs[1]))
        if info is not None:
            v.elem = v.elem or _clean(info[0])
            v.dims = v.dims if targs and len(targs) > 1 else info[1]
            v.extents = info[2]
        v.elem = re.sub(r"^\s*const\s+", "", v.elem)
        v.type = (f"const {v.elem}*" if v.const else f"{v.elem}*") if v.elem else ""
        return v
    # pointers
    pointer = d.pointer > 0
    elem = _clean(re.sub(r"\b(static|constexpr|inline)\b", "", ty))
    if not pointer and re.fullmatch(r"(?:const\s+)?auto\s*", ty) and init is not None:
        m = _MALLOC.search(init_text)
        c = _CAST.match(init_text)
        if m:
            pointer, elem = True, _clean(m.group(1))
        elif c:
            pointer, elem = True, _clean(c.group(1) or c.group(2))
        elif init.type == "identifier":
            other = _lookup(t, d.node, t.text_of(init))
            if other is not None and other.pointer:
                pointer, elem = True, _clean(other.type_text)
    elif pointer and re.fullmatch(r"(?:const\s+)?auto\s*", ty) and init is not None:
        m = _MALLOC.search(init_text)
        c = _CAST.match(init_text)
        elem = _clean(m.group(1)) if m else (_clean(c.group(1) or c.group(2)) if c else "")
    if pointer:
        if d.pointer > 1:
            v.kind, v.note = "unsupported", f"'{name}' is a pointer to pointers: kf lifts pointers to elements only"
            return v
        v.kind = "pointer"
        v.const = bool(re.search(r"\bconst\b", elem))
        v.elem = _clean(re.sub(r"\b(const|volatile)\b", "", elem))
        if v.elem in ("auto", "void", ""):
            v.elem = ""
            v.type = ""
            v.note = (f"kf cannot tell what '{name}' points to from `{_clean(t.text_of(d.node))[:80]}`: "
                      "declare it with its type (`float* x = ...`) or describe it in the spec")
        else:
            v.type = f"{'const ' if v.const else ''}{v.elem}*"
        return v
    # scalars and constants
    base = _clean(re.sub(r"\b(static|constexpr|inline|volatile)\b", "", ty))
    if re.fullmatch(r"(?:const\s+)?auto", base):
        lt = ctx.literal_type(init) if init is not None else ""
        if not lt and init is not None and init.type == "identifier":
            other = _lookup(t, d.node, t.text_of(init))
            if other is not None and ctx.is_scalar_type(other.type_text):
                lt = _clean(re.sub(r"\b(static|constexpr|const)\b", "", other.type_text))
        base = ("const " if "const" in base else "") + lt if lt else ""
    if d.reference:
        base = _clean(base)
    is_const = "constexpr" in d.qualifiers or ("const" in d.qualifiers and ctx.constant_init(d.init, d.node))
    if is_const and d.init is not None:
        v.kind = "constant"
        v.type = base or "auto"
        return v
    if base and not ctx.is_scalar_type(base):
        short = _clean(base.split("{")[0])
        v.kind, v.note = "unsupported", (f"captures '{name}' of type `{short}` (a struct or class): kf "
                                         "lifts pointers, accessors and scalars only; copy what the "
                                         "kernel needs into plain variables before the parallel_for")
        return v
    v.type = base
    if not base:
        v.note = (f"kf cannot tell the type of '{name}' from `{_clean(t.text_of(d.node))[:80]}`: "
                  "declare it with its type (`int x = ...`)")
    return v


# ---------------------------------------------------------------------------
# Finding the kernels
# ---------------------------------------------------------------------------


def _top_functions(t: Tree) -> dict[str, list]:
    """Function definitions at namespace scope (in namespaces, extern "C", #if blocks)."""
    out: dict[str, list] = {}

    def visit(node):
        for c in node.named_children:
            if c.type == "function_definition":
                name = syntax.function_name(t, c)
                if name:
                    out.setdefault(name, []).append(c)
            elif c.type == "template_declaration":
                visit(c)
            elif c.type in ("namespace_definition", "linkage_specification", "declaration_list",
                            "preproc_if", "preproc_ifdef", "preproc_else", "preproc_elif"):
                body = c.child_by_field_name("body")
                visit(body if body is not None else c)
                if c.type in ("preproc_if", "preproc_ifdef", "preproc_elif"):
                    alt = c.child_by_field_name("alternative")
                    if alt is not None:
                        visit(alt)

    visit(t.root)
    return out


def _constant_texts(t: Tree) -> dict[str, str]:
    """Namespace-scope `constexpr`/`const` initialisers by name (to read access modes)."""
    out: dict[str, str] = {}
    for n in t.root.named_children:
        if n.type == "declaration":
            for d in _decls_of(t, n):
                if d.init is not None and ("constexpr" in d.qualifiers or "const" in d.qualifiers):
                    out[d.name] = t.text_of(d.init)
    return out


def _item_of(t: Tree, param) -> tuple[str, str, str, int]:
    """(name, type text, kind, dims) of a kernel lambda's work-item parameter."""
    decls = _decls_of(t, param)
    name = decls[0].name if decls else ""
    ty = param.child_by_field_name("type")
    quals = " ".join(t.text_of(c) for c in param.children if c.type == "type_qualifier")
    type_text = _clean(f"{quals} {t.text_of(ty) if ty is not None else ''}")
    decl = param.child_by_field_name("declarator")
    if decl is not None and decl.type == "reference_declarator":
        type_text += " &"
    m = ITEM_TYPE.match(type_text)
    if m:
        return name, type_text, m.group(1), int(m.group(2))
    return name, type_text, "", 0


def _launch_of(t: Tree, node, ctx: _Context, at, depth: int = 0) -> tuple[bool | None, int]:
    """(range launch?, dims) of a parallel_for's first argument; None/0 where unknown."""
    node = _unparen(node)
    if node is None or depth > 4:
        return None, 0
    text = t.text_of(node)
    if node.type in _NAMES:
        d = _lookup(t, at, text)
        if d is None:
            return None, 0
        if re.search(r"\bnd_range\b", d.type_text):
            targs = re.search(r"nd_range\s*<\s*(\d)", d.type_text)
            if targs:
                return False, int(targs.group(1))
            if d.init is not None:
                inner = _kids(d.init)[0] if d.init.type in ("argument_list", "initializer_list") and _kids(d.init) else d.init
                return False, _launch_of(t, inner, ctx, d.node, depth + 1)[1]
            return False, 0
        if re.search(r"\brange\b", d.type_text):
            m = re.search(r"range\s*<\s*(\d)", d.type_text)
            if m:
                return True, int(m.group(1))
            ext = _range_extents(t, node, ctx, at)
            return True, len(ext) if ext else 0
        if d.type_text.strip() == "auto" and d.init is not None:
            return _launch_of(t, d.init, ctx, d.node, depth + 1)
        if ctx.is_scalar_type(d.type_text):
            return True, 1
        return None, 0
    if re.match(r"^\s*(?:(?:cl\s*::\s*)?sycl\s*::\s*)?nd_range\b", text):
        m = re.match(r"^[\w:\s]*nd_range\s*<\s*(\d)", text)
        if m:
            return False, int(m.group(1))
        args = node.child_by_field_name("arguments") or node.child_by_field_name("value")
        if args is not None and args.named_child_count:
            return False, _launch_of(t, _kids(args)[0], ctx, at, depth + 1)[1]
        return False, 0
    if re.match(r"^\s*(?:(?:cl\s*::\s*)?sycl\s*::\s*)?range\b", text):
        m = re.match(r"^[\w:\s]*range\s*<\s*(\d)", text)
        if m:
            return True, int(m.group(1))
        ext = _range_extents(t, node, ctx, at)
        return True, len(ext) if ext else 0
    if node.type == "initializer_list":
        return True, node.named_child_count
    if node.type in ("number_literal", "binary_expression"):
        return True, 1
    return None, 0


def _kernel_name(t: Tree, targs) -> tuple[str, object | None]:
    """The kernel-name template argument of `parallel_for<class K>` (`K`, `K<T>` -> `K`; a
    class declared inside it names it: `name<T, class scan>` -> `scan`)."""
    if targs is None:
        return "", None
    args = [c for c in targs.named_children if c.type != "comment"]
    if not args:
        return "", None
    node = args[0]
    for n in syntax.walk(node):
        if n.type in ("class_specifier", "struct_specifier"):
            nm = n.child_by_field_name("name")
            while nm is not None and nm.type in ("template_type", "qualified_identifier"):
                nm = nm.child_by_field_name("name")
            if nm is not None:
                return t.text_of(nm), nm
    for n in syntax.walk(node):
        if n.type in ("type_identifier", "identifier"):
            p = n.parent
            if p is not None and p.type == "qualified_identifier" and p.child_by_field_name("scope") == n:
                continue
            if p is not None and p.type == "template_argument_list" or (p is not None and p.parent is not None and p.parent.type == "template_argument_list" and p.parent != targs):
                continue
            return t.text_of(n), n
    return "", None


def _statement_of(node):
    p = node
    while p is not None and p.type not in ("expression_statement", "declaration", "return_statement"):
        if p.type in ("compound_statement", "function_definition", "translation_unit"):
            return node
        p = p.parent
    return p if p is not None else node


def _namespaces(t: Tree, node) -> list[str]:
    out = []
    p = node.parent
    while p is not None:
        if p.type == "namespace_definition":
            nm = p.child_by_field_name("name")
            out.append(t.text_of(nm) if nm is not None else "")
        p = p.parent
    return list(reversed(out))


def _template_of(t: Tree, fn) -> tuple[str, list[tuple[str, str, str | None]]]:
    p = fn.parent
    if p is None or p.type != "template_declaration":
        return "", []
    params = p.child_by_field_name("parameters")
    if params is None:
        return "", []
    out = []
    for c in params.named_children:
        text = _clean(t.text_of(c))
        default = None
        if "=" in text:
            text, default = (s.strip() for s in text.split("=", 1))
        m = re.search(r"([A-Za-z_]\w*)\s*$", text)
        name = m.group(1) if m else ""
        kind = _clean(text[:m.start()] if m else text).replace("...", "") or "typename"
        out.append((kind, name, default))
    return t.text_of(params), out


def _usings(t: Tree, node, stop) -> list[tuple[int, int]]:
    """using-directives, using-declarations and type aliases in the scopes enclosing `node`
    inside its function, which the lifted kernel needs to read the body the same way."""
    out = []
    child, p = node, node.parent
    while p is not None:
        if p.type == "compound_statement":
            for c in p.named_children:
                if c.start_byte >= child.start_byte:
                    break
                if c.type in ("using_declaration", "alias_declaration", "type_definition", "namespace_alias_definition"):
                    out.append(t.span(c))
        if p is stop:
            break
        child, p = p, p.parent
    return sorted(out)


def _scope_class(t: Tree, fn) -> str:
    """The (qualified) class a member function belongs to: defined in the class body, or
    out of it as `Cls::f`; "" for a free function or a class template's member."""
    cls = syntax.enclosing(fn, "class_specifier", "struct_specifier")
    names = []
    while cls is not None:
        nm = cls.child_by_field_name("name")
        if nm is None or nm.type != "type_identifier" or (cls.parent is not None and cls.parent.type == "template_declaration"):
            return ""
        names.insert(0, t.text_of(nm))
        cls = syntax.enclosing(cls, "class_specifier", "struct_specifier")
    if names:
        return "::".join(_namespaces(t, fn) + names)
    decl = fn.child_by_field_name("declarator")
    while decl is not None and decl.type not in ("qualified_identifier",):
        decl = decl.child_by_field_name("declarator")
    if decl is not None:
        scope = decl.child_by_field_name("scope")
        if scope is not None and scope.type == "namespace_identifier":
            return "::".join(_namespaces(t, fn) + [t.text_of(scope)])
    return ""


def _capture_problems(t: Tree, lam) -> list[tuple[int, str]]:
    out = []
    caps = lam.child_by_field_name("captures")
    if caps is not None and re.search(r"\bthis\b", t.text_of(caps)):
        out.append((t.span(caps)[0], "the lambda captures `this`: kf cannot lift a kernel that uses "
                                     "members of an object; copy the members it needs into local "
                                     "variables before the parallel_for"))
    for n in syntax.walk(lam.child_by_field_name("body") or lam):
        if n.type == "this":
            out.append((t.span(n)[0], "the kernel uses `this`: kf cannot lift a kernel that uses members "
                                      "of an object; copy the members it needs into local variables "
                                      "before the parallel_for"))
            break
    return out


def _variables(ctx: _Context, lam, body) -> tuple[list[Variable], list[tuple[int, str]]]:
    """What the lambda takes from around it, in first-use order."""
    t = ctx.t
    inside = _declared_inside(t, lam)
    seen: dict[str, Variable] = {}
    problems: list[tuple[int, str]] = []
    fn = _enclosing_function(lam)
    unresolved: dict[str, int] = {}
    for ident in _identifiers(t, body):
        name = t.text_of(ident)
        if name in seen or name in inside or name in unresolved:
            continue
        d = _lookup(t, lam, name)
        if d is None:
            unresolved[name] = t.span(ident)[0]
            continue  # a global, a macro, a function: the lifted kernel sees it as the lambda did
        if d.node.type == "field_declaration":
            continue
        v = _classify(ctx, d, name)
        v.uses = t.span(ident)[0]
        seen[name] = v
        if v.kind == "unsupported":
            problems.append((v.uses, v.note))
    # implicit members of the enclosing class (`[=]` in a member function captures `this`)
    cls = syntax.enclosing(fn, "class_specifier", "struct_specifier") if fn is not None and unresolved else None
    if cls is not None:
        body_list = cls.child_by_field_name("body")
        members = {d.name for n in (body_list.named_children if body_list is not None else [])
                   if n.type == "field_declaration" for d in _decls_of(t, n) if "static" not in d.qualifiers}
        for name, at in sorted(unresolved.items(), key=lambda kv: kv[1]):
            if name in members:
                problems.append((at, f"the kernel uses the member '{name}' (through `this`): kf "
                                     "cannot lift it; copy it into a local variable before the "
                                     "parallel_for"))
                break
    # in the order the host declares them: a variant that uses them in another order keeps
    # the same parameters (the contract)
    return sorted(seen.values(), key=lambda v: v.at), problems


def _sub_group_property(t: Tree, lam) -> list[str]:
    decl = lam.child_by_field_name("declarator")
    if decl is None:
        return []
    m = re.search(r"reqd_sub_group_size\s*\(\s*(\w+)\s*\)", t.text_of(decl))
    return [f"sycl::ext::oneapi::experimental::sub_group_size<{m.group(1)}>"] if m else []


def find_sycl_forms(text: str, functions: Collection[str] = (), path: str = "") -> list[SyclKernelForm]:
    """Every SYCL lambda kernel and nd_item function kernel in `text`, in file order.
    `functions`: names of functions taking a work-item that are kernels even where no
    `parallel_for` of the text calls them (a fragment of code: an LLM's rewrite of one).
    `path`: the file `text` is; a function no lambda of it launches (a header's) takes the
    local memory from the lambda of a file including it that does."""
    if "parallel_for" not in text and not functions and not WORK_ITEM_PARAM.search(text):
        return []
    try:
        t = syntax.parse_code(text)
    except Exception:
        return []
    explicit = set(functions)
    functions = top = _top_functions(t)
    ctx = _Context(t, functions, set())
    ctx.constant_texts = _constant_texts(t)
    calls = []
    for n in syntax.walk(t.root):
        if n.type == "call_expression" and _call_name(t, n)[0] == "parallel_for":
            calls.append(n)
        elif n.type == "alias_declaration":
            nm, ty = n.child_by_field_name("name"), n.child_by_field_name("type")
            if nm is not None and ty is not None:
                ctx.aliases[t.text_of(nm)] = ty
        elif n.type == "type_definition":
            ty = n.child_by_field_name("type")
            for dd in n.children_by_field_name("declarator"):
                if dd.type == "type_identifier" and ty is not None:
                    ctx.aliases[t.text_of(dd)] = ty
    out: list[SyclKernelForm] = []
    ordinals: dict[int, int] = {}
    by_function: dict[str, SyclKernelForm] = {}
    for call in calls:
        name_, token, targs = _call_name(t, call)
        args = _args(call)
        if not args:
            continue
        lam_arg = _unparen(args[-1])
        lam, stored = None, None
        if lam_arg is not None and lam_arg.type == "lambda_expression":
            lam = lam_arg
        elif lam_arg is not None and lam_arg.type == "identifier":
            d = _lookup(t, call, t.text_of(lam_arg))
            if d is not None and d.init is not None:
                init = _unparen(d.init)
                if init is not None and init.type == "lambda_expression":
                    lam, stored = init, d
        if lam is None:
            continue
        params = lam.child_by_field_name("declarator")
        plist = params.child_by_field_name("parameters") if params is not None else None
        pnodes = [c for c in plist.named_children if c.type.endswith("parameter_declaration")] if plist is not None else []
        if not pnodes:
            continue  # not a work-item lambda
        fn = _enclosing_function(call)
        fn_name = syntax.function_name(t, fn) if fn is not None else ""
        template, tparams = _template_of(t, fn) if fn is not None else ("", [])
        ctx.template_names = {n for _, n, _ in tparams}
        item_name, item_type, item_kind, item_dims = _item_of(t, pnodes[0])
        launch_range, launch_dims = _launch_of(t, args[0], ctx, call) if len(args) >= 2 else (None, 0)
        if item_kind == "nd_item":
            launch_range = False
        elif item_kind in ("item", "id"):
            launch_range = True
        dims = item_dims or launch_dims
        problems: list[tuple[int, str]] = []
        offset: list[str] = []
        if len(args) == 3 and len(pnodes) == 1 and launch_range is not False and \
                re.match(r"^\s*(?:(?:cl\s*::\s*)?sycl\s*::\s*)?id\b", t.text_of(args[1])):
            # parallel_for(range, offset, kernel): the deprecated offset, kept as written
            node = args[1]
            inner = node.child_by_field_name("arguments") or node.child_by_field_name("value")
            offset = [_clean(t.text_of(a)) for a in _kids(inner)] if inner is not None else []
            args = [args[0], args[2]]
        if len(args) > 2 or len(pnodes) > 1:
            where = t.span(args[1])[0] if len(args) > 2 else t.span(pnodes[1])[0]
            what = "reductions (`sycl::reduction`)" if re.search(r"reduction", t.text_of(call)) else \
                "extra arguments to parallel_for"
            problems.append((where, f"kf cannot lift a parallel_for with {what} yet"))
        body = lam.child_by_field_name("body")
        if body is None:
            continue
        stmt = _statement_of(call)
        s_start, s_end = t.span(stmt)
        start = s_start
        if stored is not None and stored.statement[0] < s_start:
            start = stored.statement[0]
        # a lambda that hands its item to a function of the file is that function's launcher
        launched = _launched_functions(t, ctx, functions, body, item_name)
        if launched:
            for fnode, call_site, index in launched:
                fname = syntax.function_name(t, fnode)
                if fname in by_function:
                    continue
                k = _function_kernel(t, ctx, fnode, fname, call_site, index, lam, launch_range, dims)
                by_function[fname] = k
                out.append(k)
            continue
        variables, vproblems = _variables(ctx, lam, body)
        problems += _capture_problems(t, lam) + vproblems
        kname, knode = _kernel_name(t, targs)
        key = fn.start_byte if fn is not None else -1
        if not kname:
            ordinals[key] = ordinals.get(key, 0) + 1
            kname = f"{fn_name or 'lambda'}#{ordinals[key]}"
            knode = token
        # the name is shown (lenses, hover) on the line where the statement starts
        if knode is None or knode.start_point[0] != stmt.start_point[0]:
            knode = token if token is not None and token.start_point[0] == stmt.start_point[0] else \
                next((c for c in syntax.walk(stmt) if c.child_count == 0), stmt)
        out.append(SyclKernelForm(
            form="lambda", name=kname, name_span=t.span(knode) if knode is not None else t.span(call),
            statement=(s_start, s_end), start=start, end=s_end, body=t.span(body),
            item_name=item_name, item_type=item_type, item_kind=item_kind, dims=dims,
            range_launch=launch_range, variables=variables, function=fn_name or "",
            template=template, template_params=tparams,
            namespaces=_namespaces(t, fn) if fn is not None else [],
            usings=_usings(t, lam, fn), properties=_sub_group_property(t, lam), problems=problems,
            offset=offset,
            scope_class=_scope_class(t, fn) if fn is not None else ""))
    # a function taking a work-item that no lambda launches is a kernel (launched from another
    # file, or named by the caller), unless a kernel of this file calls it: then it is a helper
    # (`BlockReduce(a, b, item)` inside an nd_item kernel), compiled as part of that kernel
    # (a header of such functions, `kernels.h`, included by the file that launches them): so is
    # one that another work-item function of the file calls
    unlaunched: dict[str, tuple[object, int]] = {}
    for fname in functions:
        if fname in by_function:
            continue
        for fdef in top.get(fname, []):
            params = _function_params(fdef)
            index = next((i for i, p in enumerate(params) if _item_of(t, p)[2]), None)
            if index is not None:
                unlaunched[fname] = (fdef, index)
                break
    bodies = [t.text[k.body[0]:k.body[1]] for k in out]
    for fname, (fdef, _) in unlaunched.items():
        body = fdef.child_by_field_name("body")
        if body is not None:
            bodies.append(t.text_of(body))
    for fname, (fdef, index) in unlaunched.items():
        if fname not in explicit and any(re.search(rf"\b{re.escape(fname)}\s*(<[^;{{}}]*>)?\s*\(", b)
                                         for b in bodies):
            continue
        k = _function_kernel(t, ctx, fdef, fname, None, index, None, None, 0)
        if path:
            _includer_locals(k, path)
        out.append(k)
    out.sort(key=lambda k: k.start)
    return out


_INCLUDERS: dict[tuple[str, int, int], tuple[str, Tree | None]] = {}  # (path, mtime_ns, size) -> (text, tree)


def _includers(path: str) -> list[tuple[str, str, Tree]]:
    """(path, text, tree) of the files beside `path` that `#include` it with quotes and launch
    kernels (`parallel_for`): where a header's work-item functions are called from."""
    import os

    here = os.path.abspath(path)
    folder, base = os.path.dirname(here), os.path.basename(here)
    try:
        names = sorted(os.listdir(folder))[:200]
    except OSError:
        return []
    inc = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"(?:[^"]*/)?' + re.escape(base) + '"', re.M)
    out = []
    for name in names:
        p = os.path.join(folder, name)
        if p == here or not name.lower().endswith((".cpp", ".cc", ".cxx", ".hpp", ".h", ".sycl")):
            continue
        try:
            st = os.stat(p)
            if st.st_size > 1_000_000:
                continue
            key = (p, st.st_mtime_ns, st.st_size)
            if key not in _INCLUDERS:
                with open(p, encoding="utf-8", errors="replace") as f:
                    txt = f.read()
                tree = syntax.parse_code(txt) if inc.search(txt) and "parallel_for" in txt else None
                if len(_INCLUDERS) > 64:
                    _INCLUDERS.clear()
                _INCLUDERS[key] = (txt, tree)
        except (OSError, ValueError):
            continue
        txt, tree = _INCLUDERS[key]
        if tree is not None:
            out.append((p, txt, tree))
    return out


def _includer_locals(k: SyclKernelForm, path: str) -> None:
    """A header's work-item function `k` as an including file's lambda calls it: the arguments
    that are local accessors there are its work-group local memory, not parameters (laplace3d's
    `sm.get_multi_ptr<...>().get()`). Their sizes must be the header's (macros, constants)."""
    import os

    for ipath, itext, t in _includers(path):
        for call in syntax.walk(t.root):
            if call.type != "call_expression" or _call_name(t, call)[0] != k.name:
                continue
            lam = syntax.enclosing(call, "lambda_expression")
            pfor = syntax.enclosing(lam, "call_expression") if lam is not None else None
            if pfor is None or _call_name(t, pfor)[0] != "parallel_for":
                continue
            params = lam.child_by_field_name("declarator")
            plist = params.child_by_field_name("parameters") if params is not None else None
            pnodes = [c for c in plist.named_children if c.type.endswith("parameter_declaration")] \
                if plist is not None else []
            item = _item_of(t, pnodes[0])[0] if pnodes else ""
            args = _args(call)
            if not item or k.item_index >= len(args) or t.text_of(args[k.item_index]) != item:
                continue
            ctx = _Context(t, _top_functions(t), set())
            ctx.constant_texts = _constant_texts(t)
            where = f"{os.path.basename(ipath)}:{call.start_point[0] + 1}"
            local_args, _ = _local_arguments(t, ctx, lam, args, k.item_index, len(args))
            for i, (text, v, d) in local_args.items():
                runtime = [n for e in v.extents for n in re.findall(r"[A-Za-z_]\w*", e)
                           if _lookup(t, d.node, n) is not None]
                if runtime:
                    k.problems.append((k.name_span[0], f"the launch at {where} hands it local memory "
                                       f"sized by {runtime[0]}, a variable there: bench that lambda"))
                v.decl, v.uses = (k.name_span[0], k.name_span[0]), k.name_span[0]
                k.local_args[i] = (text, v)
            return


def _local_arguments(t: Tree, ctx: _Context, lam, args: list, item_index: int, n_params: int):
    """The launch's arguments made from local accessors (work-group local memory, not kernel
    parameters): {index: (argument text, Variable, its declaration)}, and (line, note) for each
    local accessor kf cannot take."""
    local_args: dict[int, tuple[str, Variable, object]] = {}
    problems: list[tuple[int, str]] = []
    for i, a in enumerate(args):
        if i == item_index or i >= n_params:
            continue
        for ident in _identifiers(t, a):
            d = _lookup(t, lam, t.text_of(ident))
            if d is None:
                continue
            v = _classify(ctx, d, t.text_of(ident))
            if v.kind == "local":
                local_args[i] = (t.text_of(a), v, d)
            elif v.kind == "unsupported" and "local accessor" in v.note:
                problems.append((t.span(a)[0], v.note))
            break
    return local_args, problems


def _launched_functions(t: Tree, ctx: _Context, functions, body, item_name: str):
    """(function definition, call node, index of the item argument) for each call in the
    lambda's body that passes its work-item to a function of the file taking one."""
    if not item_name:
        return []
    out = []
    for n in syntax.walk(body):
        if n.type != "call_expression":
            continue
        fn = n.child_by_field_name("function")
        if fn is not None and fn.type == "template_function":
            fn = fn.child_by_field_name("name")
        if fn is None or fn.type != "identifier":
            continue
        args = _args(n)
        idx = next((i for i, a in enumerate(args) if a.type == "identifier" and t.text_of(a) == item_name), None)
        if idx is None:
            continue
        for fdef in functions.get(t.text_of(fn), []):
            params = _function_params(fdef)
            if idx < len(params) and _item_of(t, params[idx])[2]:
                out.append((fdef, n, idx))
                break
    return out


def _function_params(fdef) -> list:
    decl = fdef.child_by_field_name("declarator")
    while decl is not None and decl.type != "function_declarator":
        decl = decl.child_by_field_name("declarator")
    if decl is None:
        return []
    params = decl.child_by_field_name("parameters")
    return [c for c in params.named_children if c.type.endswith("parameter_declaration")] if params is not None else []


def _function_kernel(t: Tree, ctx: _Context, fdef, fname: str, call, index: int, lam,
                     launch_range: bool | None, launch_dims: int) -> SyclKernelForm:
    params = _function_params(fdef)
    item_name, item_type, item_kind, item_dims = _item_of(t, params[index])
    template, tparams = _template_of(t, fdef)
    start_node = fdef.parent if fdef.parent is not None and fdef.parent.type == "template_declaration" else fdef
    decl = fdef.child_by_field_name("declarator")
    while decl is not None and decl.type != "function_declarator":
        decl = decl.child_by_field_name("declarator")
    name_node = decl.child_by_field_name("declarator") if decl is not None else None
    while name_node is not None and name_node.type == "qualified_identifier":
        name_node = name_node.child_by_field_name("name")
    body = fdef.child_by_field_name("body")
    args = _args(call) if call is not None else []
    found, problems = _local_arguments(t, ctx, lam, args, index, len(params))
    local_args = {i: (text, v) for i, (text, v, _) in found.items()}
    kind = item_kind
    rng = launch_range if kind == "" else kind != "nd_item"
    return SyclKernelForm(
        form="nd_item_function", name=fname,
        name_span=t.span(name_node) if name_node is not None else t.span(fdef),
        statement=t.span(start_node), start=t.span(start_node)[0], end=t.span(fdef)[1],
        body=t.span(body) if body is not None else t.span(fdef),
        item_name=item_name, item_type=item_type, item_kind=item_kind, item_index=index,
        dims=item_dims or launch_dims, range_launch=rng, local_args=local_args, function=fname,
        template=template, template_params=tparams, namespaces=_namespaces(t, fdef),
        problems=problems)


# ---------------------------------------------------------------------------
# For the lifting (backends/kernel/lift.py): the same reading of the file
# ---------------------------------------------------------------------------


def lookup(t: Tree, at, name: str) -> _Decl | None:
    """The declaration of `name` visible at node `at` inside its function (None: a name from
    outside the function: a global, a macro, a function)."""
    return _lookup(t, at, name)


def top_functions(t: Tree) -> dict[str, list]:
    """The file's function definitions at namespace scope, by name."""
    return _top_functions(t)


def function_params(fdef) -> list:
    """The parameter declaration nodes of a function definition."""
    return _function_params(fdef)


def declarations_of(t: Tree, node) -> list[_Decl]:
    """The names a declaration or parameter node declares."""
    return _decls_of(t, node)


def range_extents(t: Tree, node, at) -> list[str] | None:
    """The extents (C++ texts) of a range-like expression, following variables."""
    ctx = _Context(t, _top_functions(t), set())
    ctx.constant_texts = _constant_texts(t)
    return _range_extents(t, node, ctx, at)
