"""Columns between kf (code points, Python string indices) and LSP clients (UTF-16 code
units, the protocol's default and the only encoding VS Code speaks). They differ only on
lines with characters outside the Basic Multilingual Plane before the column (emoji...):
on ASCII and BMP text the two are the same number."""

from __future__ import annotations


def line_of(text: str, line: int) -> str:
    lines = text.split("\n")
    return lines[line].rstrip("\r") if 0 <= line < len(lines) else ""


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
