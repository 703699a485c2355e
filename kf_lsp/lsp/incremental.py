"""Re-scan only what changed: edits that cannot change what the kernel scanner finds.

Typing in host code far from any kernel (identifiers and spaces on a line that holds no
comment, string, preprocessor directive or kernel marker) leaves every kernel's position,
region, spec and hashes as they were, so the index keeps its entry and only swaps the text:
no parse at all. Anything else (a newline, punctuation, an edit near a kernel) goes to a full
parse off the event loop (kf_lsp.parsing). The rules, and why each is enough:

* the edit is on one line and adds or removes only `[A-Za-z0-9_ \\t]`: no comment, string,
  bracket or statement boundary (`;` `{` `}`) appears or disappears, and no line moves;
* that line, before and after, holds none of `" ' / \\ # @` (no comment, string, raw string,
  directive or `@kf` marker to alter) and is not blank (a kernel's declaration starts at the
  first non-blank text after the previous `;`/`{`/`}`, so text there would be inside it);
* neither version of the line names a kernel marker (`__global__`, the SYCL property and
  kinds) or a tunable of the file's kernels (their values can be bound outside the kernel);
* the line is at least one line away from every kernel's definition and region;
* the file has no SYCL lambda or nd_item function kernel: what those take from the host
  (a captured variable's type, a local accessor's size) is declared anywhere in the function.
"""

from __future__ import annotations

import re

import msgspec

from kf_lsp.core.index import FileEntry

__all__ = ["inert"]

_PLAIN = re.compile(r"[A-Za-z0-9_ \t]*")
_UNSAFE_CHARS = re.compile(r"[\"'/\\#@]")
_MARKERS = ("__global__", "SYCL_EXT_ONEAPI_FUNCTION_PROPERTY", "nd_range_kernel", "single_task_kernel", "sycl",
            "parallel_for")


def inert(entry: FileEntry, edits: list) -> bool:
    """True when `edits` (kf_lsp.documents.Document.edits) cannot change `entry`'s kernels."""
    if not edits or any(e is None for e in edits):
        return False
    if any(k.form in ("lambda", "nd_item_function") for k in entry.kernels):
        return False
    names = {t.name for k in entry.kernels if k.spec is not None for t in k.spec.tunables}
    for line, old_line, new_line, removed, inserted in edits:
        if not (_PLAIN.fullmatch(removed) and _PLAIN.fullmatch(inserted)):
            return False
        for text in (old_line, new_line):
            if not text.strip() or _UNSAFE_CHARS.search(text) or any(m in text for m in _MARKERS):
                return False
            if names and any(n in text for n in names):
                return False
        for k in entry.kernels:
            lo = min(k.definition.start.line, k.region.start.line) - 1
            hi = max(k.definition.end.line, k.region.end.line) + 1
            if lo <= line <= hi:
                return False
    return True


def with_text(entry: FileEntry, text: str, version: int | None) -> FileEntry:
    return msgspec.structs.replace(entry, text=text, version=version)
