"""C++/CUDA/SYCL syntax trees from tree-sitter, for what a hand-written scanner cannot follow.

Real files hold host code around their kernels: lambdas passed to `parallel_for`, launch
sites (`k<<<grid, block, smem, stream>>>(...)`, `cudaLaunchKernel`), allocations, templates
and macros. tree-sitter is the parser editors use for exactly this (error-tolerant,
incremental, fast on large files); the CUDA grammar (tree-sitter-cuda) is a superset of the
C++ one, so one grammar reads both languages. Macros are not expanded: a node's text is the
text the user wrote.

Positions: tree-sitter counts bytes of UTF-8; kf counts code points (backends.model.Position).
`Tree.offset(byte)` and `Tree.byte(offset)` convert. Trees are cached by the text's hash.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Callable, Iterator

__all__ = ["Tree", "parse", "parse_code", "Node", "walk", "text_of", "children_of_type", "enclosing",
           "function_name"]

try:  # the parser is a dependency; its absence is reported by the callers that need it
    import tree_sitter as _ts
    import tree_sitter_cuda as _ts_cuda
except ImportError:  # pragma: no cover - a broken install
    _ts = None
    _ts_cuda = None

Node = "tree_sitter.Node"


@functools.lru_cache(maxsize=1)
def _parser():
    if _ts is None:
        raise RuntimeError("tree-sitter is not installed (pip install tree-sitter tree-sitter-cuda)")
    return _ts.Parser(_ts.Language(_ts_cuda.language()))


@dataclass(frozen=True)
class Tree:
    """A parsed text: the tree-sitter tree plus the byte <-> code-point maps of its text."""

    text: str
    data: bytes
    tree: object
    ascii: bool

    @property
    def root(self):
        return self.tree.root_node

    def offset(self, byte: int) -> int:
        """Code-point offset of a byte offset."""
        return byte if self.ascii else len(self.data[:byte].decode("utf-8", errors="replace"))

    def byte(self, offset: int) -> int:
        return offset if self.ascii else len(self.text[:offset].encode("utf-8"))

    def text_of(self, node) -> str:
        return self.data[node.start_byte:node.end_byte].decode("utf-8", errors="replace")

    def span(self, node) -> tuple[int, int]:
        """The node's (start, end) code-point offsets in `text`."""
        return self.offset(node.start_byte), self.offset(node.end_byte)


@functools.lru_cache(maxsize=32)
def parse(text: str) -> Tree:
    """The syntax tree of a C++/CUDA/SYCL text (never raises on bad code: tree-sitter marks
    the broken parts as ERROR nodes and parses the rest)."""
    data = text.encode("utf-8", errors="surrogatepass")
    return Tree(text=text, data=data, tree=_parser().parse(data), ascii=len(data) == len(text))


_DIRECTIVE = re.compile(r"^[ \t]*#[ \t]*(if|ifdef|ifndef|elif|else|endif)\b(.*)$")
_DEFINE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+([A-Za-z_]\w*)(?![\w(])[ \t]*(.*)$", re.M)


def _condition(kind: str, rest: str, defines: dict[str, str]) -> bool:
    """A conditional's value as far as the file itself says (an undefined name is false)."""
    rest = re.sub(r"/[/*].*$", "", rest).strip()
    if kind in ("ifdef", "ifndef"):
        return (rest in defines) == (kind == "ifdef")
    m = re.fullmatch(r"!?\s*defined\s*\(?\s*([A-Za-z_]\w*)\s*\)?", rest)
    if m:
        return (m.group(1) in defines) != rest.startswith("!")
    if re.fullmatch(r"\d+", rest):
        return int(rest) != 0
    if re.fullmatch(r"[A-Za-z_]\w*", rest):
        value = defines.get(rest, "0").strip() or "1"
        return value != "0"
    return True  # beyond a file-level reading: the first branch, as most editors show it


def _blank_ascii(chars: list[str], a: int, b: int) -> None:
    """Spaces over chars[a:b], keeping line ends and non-ASCII characters (so byte and
    code-point offsets both stay what they were)."""
    for i in range(a, b):
        if chars[i] not in "\r\n" and chars[i].isascii():
            chars[i] = " "


@functools.lru_cache(maxsize=32)
def parse_code(text: str) -> Tree:
    """The syntax tree of host code, with preprocessor conditionals that sit inside an
    expression (`parallel_for(\n#if X\n k,\n#endif\n range, ...)`), which no C++ grammar
    follows, resolved as the file's own `#define`s say; directives and branches not taken
    are blanked in the text the parser reads (offsets unchanged, so a node's span is its
    place in `text`)."""
    if "#" not in text:
        return parse(text)
    from backends.kernel.text import mask  # the lexer: comments and strings never count

    code = mask(text, preprocessor=False)
    defines = {m.group(1): m.group(2) for m in _DEFINE.finditer(code)}
    out = list(text)
    depth = 0
    stack: list[list[bool]] = []  # per open conditional: [branch kept now, a branch was taken]
    pos = 0
    for line in code.split("\n"):
        end = pos + len(line)
        m = _DIRECTIVE.match(line)
        literal = m is not None and m.group(1) == "if" and re.fullmatch(r"\s*[01]\s*(?://.*|/\*.*)?", m.group(2))
        if m and (depth > 0 or stack or literal):  # in an expression, or `#if 0` anywhere
            kind = m.group(1)
            if kind in ("if", "ifdef", "ifndef"):
                c = _condition(kind, m.group(2), defines)
                stack.append([c, c])
            elif stack and kind == "elif":
                c = not stack[-1][1] and _condition("if", m.group(2), defines)
                stack[-1] = [c, stack[-1][1] or c]
            elif stack and kind == "else":
                stack[-1] = [not stack[-1][1], True]
            elif stack and kind == "endif":
                stack.pop()
            _blank_ascii(out, pos, end)
        elif stack and not all(f[0] for f in stack):
            _blank_ascii(out, pos, end)
        elif not m and not line.lstrip().startswith("#"):
            depth = max(0, depth + line.count("(") + line.count("[") - line.count(")") - line.count("]"))
        pos = end + 1
    return parse("".join(out))


def walk(node, descend: Callable[[object], bool] | None = None) -> Iterator[object]:
    """Every node under `node` (itself included) in document order; `descend(n)` False skips
    n's children."""
    cursor = node.walk()
    visited_children = False
    while True:
        if not visited_children:
            yield cursor.node
            if (descend is None or descend(cursor.node)) and cursor.goto_first_child():
                continue
        if cursor.goto_next_sibling():
            visited_children = False
        elif cursor.goto_parent():
            visited_children = True
        else:
            return


def text_of(tree: Tree, node) -> str:
    return tree.text_of(node)


def children_of_type(node, *types: str) -> list:
    return [c for c in node.children if c.type in types]


def enclosing(node, *types: str):
    """The nearest ancestor of `node` of one of `types`, or None."""
    p = node.parent
    while p is not None and p.type not in types:
        p = p.parent
    return p


def function_name(tree: Tree, fn) -> str | None:
    """The declared name of a function_definition (`ns::Cls::f` -> `f`), or None."""
    decl = fn.child_by_field_name("declarator")
    while decl is not None and decl.type not in ("identifier", "field_identifier", "qualified_identifier",
                                                 "destructor_name", "operator_name"):
        decl = decl.child_by_field_name("declarator")
    if decl is None:
        return None
    if decl.type == "qualified_identifier":
        name = decl.child_by_field_name("name")
        while name is not None and name.type == "qualified_identifier":
            name = name.child_by_field_name("name")
        return tree.text_of(name) if name is not None else None
    return tree.text_of(decl)


_CONTAINER = re.compile(r"(?:const\s+)?(?:std\s*::\s*)?(?:vector|array)\s*<\s*([^,<>]+?)\s*(?:,[^<>]*)?>\s*")


def container_element(type_text: str) -> str:
    """`T` of `std::vector<T>` / `std::array<T, N>` ("" for any other type)."""
    m = _CONTAINER.fullmatch(" ".join(type_text.split()))
    return " ".join(m.group(1).split()) if m else ""


def container_of(node):
    """The container `v` of `v.data()` or `&v[0]` (a host container's data: a SYCL buffer made
    over it by class template argument deduction), else None."""
    while node is not None and node.type == "parenthesized_expression" and node.named_children:
        node = node.named_children[0]
    if node is None:
        return None
    if node.type == "call_expression":
        fn = node.child_by_field_name("function")
        args = node.child_by_field_name("arguments")
        if fn is not None and fn.type == "field_expression" and (args is None or not args.named_child_count):
            f = fn.child_by_field_name("field")
            held = fn.child_by_field_name("argument")
            if f is not None and f.text == b"data" and held is not None and held.type in ("identifier",
                                                                                      "type_identifier"):
                return held
        return None
    if node.type == "pointer_expression" and node.children and node.children[0].type == "&":
        arg = node.child_by_field_name("argument")
        if arg is not None and arg.type == "subscript_expression":
            held = arg.child_by_field_name("argument")
            return held if held is not None and held.type in ("identifier", "type_identifier") else None
    return None
