"""Replacing a kernel's region in a file, leaving every other byte as it was.

Variants are whole regions (spec lines + definition); splicing one into the user's
file must not touch anything else, so diffs show only the kernel and line endings
stay what the file uses.
"""

from __future__ import annotations

import hashlib

from backends.model import KernelSource
from backends.kernel.scanner import find_kernel
from backends.kernel.text import range_to_offsets
from backends.kernel.tunables import bind

__all__ = ["StaleKernel", "region_text", "splice", "write_variant"]


class StaleKernel(ValueError):
    """The text no longer holds the kernel where it was found (the file changed)."""


def region_text(text: str, kernel: KernelSource) -> str:
    a, b = range_to_offsets(text, kernel.region)
    return text[a:b]


def splice(text: str, kernel: KernelSource, new_region: str) -> str:
    """`text` with the kernel's region replaced by `new_region`.

    The new region takes the file's line endings (CRLF when the file uses them). When
    the old region ends without a newline (it ends at the closing brace), one trailing
    newline of `new_region` is dropped, so repeated splices do not add blank lines.
    Raises StaleKernel when the region's text no longer matches `kernel.content_hash`.
    """
    a, b = range_to_offsets(text, kernel.region)
    old = text[a:b]
    if kernel.content_hash and \
            hashlib.sha256(old.encode("utf-8", "surrogatepass")).hexdigest() != kernel.content_hash:
        raise StaleKernel(f"kernel '{kernel.name}' changed in {kernel.file} since it was "
                          "read: find it again")
    if new_region == old:
        return text
    new = new_region.replace("\r\n", "\n")
    if not old.endswith("\n") and new.endswith("\n"):
        new = new[:-1]
    if "\r\n" in text:
        new = new.replace("\n", "\r\n")
    return text[:a] + new + text[b:]


def write_variant(text: str, kernel: KernelSource, region: str, tunables: dict[str, int | float]) -> str:
    """The whole file with a variant written in: its region spliced over the kernel's, and
    its tunable values bound where the code defines them (a `#define` or `constexpr`
    anywhere in the file, a template default); a tunable the code does not define gets a
    `#define` just above the region, or just above the file's #include of a header that
    defines it under `#ifndef` (where the header's code sees it too). Raises StaleKernel when the kernel's text is not what
    `kernel` describes, KernelNotFound / TunableError when the variant cannot be written."""
    new = splice(text, kernel, region)
    placed = find_kernel(new, kernel.file, kernel.name)
    bound = bind(new, placed, tunables)
    out = bound.text
    if bound.prelude:
        start, _ = range_to_offsets(out, placed.region)
        out = out[:start] + bound.prelude + out[start:]
    if bound.before:
        region_line = placed.region.start.line
        shift = bound.prelude.count("\n")
        lines = out.splitlines(keepends=True)
        for line, define in sorted(bound.before, reverse=True):
            at = line + (shift if line >= region_line else 0)
            lines.insert(at, define)
        out = "".join(lines)
    return out
