"""Functions a kernel's code calls, defined in its file or in a header it includes with quotes.

A buffer a kernel hands to a function is read or written there: a dpct-style lambda
`[=](sycl::nd_item<1> item) { atomic_reduction(in, out, n, item); }` whose function lives in
kernels.h, a CUDA kernel calling a `__device__` helper. The draft (backends/kernel/draft.py)
follows the buffer to the callee's parameter and reads its role there, as a person reading the
code would, instead of calling every buffer passed to a function `inout`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from backends.kernel import syntax
from backends.kernel.text import mask

__all__ = ["Callee", "Callees"]


@dataclass(frozen=True)
class Callee:
    name: str
    params: list[str]  # parameter names in order ("" for an unnamed one)
    body: str  # the body between its braces, comments and strings blanked


class Callees:
    """Function definitions by name, read on first use from a file and its quoted headers."""

    def __init__(self, text: str, path: str):
        self._text, self._path = text, path
        self._found: dict[str, Callee] | None = None

    def get(self, name: str) -> Callee | None:
        if self._found is None:
            self._found = {}
            sources = [(self._path, self._text)]
            if self._path and os.path.isfile(self._path):
                from backends.kernel.header_defines import included_headers

                try:
                    sources += included_headers(self._text, self._path)
                except OSError:
                    pass
            for _, t in sources:
                for n, c in _definitions(t).items():
                    self._found.setdefault(n, c)
        return self._found.get(name)


def _definitions(text: str) -> dict[str, Callee]:
    from backends.kernel.sycl_forms import declarations_of, function_params, top_functions

    try:
        t = syntax.parse_code(text)
    except Exception:  # an unparsable header gives nothing to follow, never an error
        return {}
    code = mask(text)
    out: dict[str, Callee] = {}
    for name, defs in top_functions(t).items():
        fdef = defs[0]
        body = fdef.child_by_field_name("body")
        if body is None:
            continue
        params = []
        for pn in function_params(fdef):
            ds = declarations_of(t, pn)
            params.append(ds[0].name if ds else "")
        a, b = t.span(body)
        out[name] = Callee(name, params, code[a + 1:b - 1])
    return out
