"""Columns between kf (code points, Python string indices) and LSP clients (UTF-16 code
units, the protocol's default and the only encoding VS Code speaks). They differ only on
lines with characters outside the Basic Multilingual Plane before the column (emoji...):
on ASCII and BMP text the two are the same number."""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=8)
def _line_starts(text: str) -> np.ndarray:
    """Where each line of `text` starts (cached per text: a str caches its hash, so a hit
    on a 5 MB document costs an identity check, not a scan)."""
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    return np.concatenate(([0], np.flatnonzero(codes == 10) + 1)).astype(np.int64)


def line_of(text: str, line: int) -> str:
    if len(text) < 4096:
        lines = text.split("\n")
        return lines[line].rstrip("\r") if 0 <= line < len(lines) else ""
    starts = _line_starts(text)
    if not 0 <= line < len(starts):
        return ""
    end = int(starts[line + 1]) - 1 if line + 1 < len(starts) else len(text)
    return text[int(starts[line]):end].rstrip("\r")


def to_client(line_text: str, column: int) -> int:
    """Code points -> UTF-16 units."""
    head = line_text[:column]
    if head.isascii():
        return column
    return column + sum(1 for ch in head if ord(ch) > 0xFFFF)


def from_client(line_text: str, units: int) -> int:
    """UTF-16 units -> code points (a position inside a surrogate pair rounds down)."""
    if line_text.isascii():
        return units
    count = 0
    for i, ch in enumerate(line_text):
        count += 2 if ord(ch) > 0xFFFF else 1
        if count > units:
            return i
    return len(line_text)
