"""From a path (and optionally unsaved text) to a Unit ready for evaluation."""

from __future__ import annotations

import os
import re

from backends.model import Unit
from backends.kernel.scanner import KernelNotFound, find_kernel, language_of


_KERNEL_NAME = re.compile(r"[A-Za-z_]\w*(?:#\d+)?|#\d+")


class UnitError(Exception):
    """Bad input from the user (missing file, unknown kernel, not a kernel file): one line."""


def split_target(target: str) -> tuple[str, str | None]:
    """'path/k.cu:saxpy' -> ('path/k.cu', 'saxpy'); 'k.cu' -> ('k.cu', None); a SYCL lambda
    without a kernel name is FUNC#K: 'main.cpp:main#2' -> ('main.cpp', 'main#2')."""
    if ":" in target:
        path, _, name = target.rpartition(":")
        if path and _KERNEL_NAME.fullmatch(name) and not os.path.exists(target):
            return path, name
    return target, None


def load_unit(path: str, name: str | None = None, text: str | None = None,
              tunables: dict[str, int | float] | None = None) -> Unit:
    if text is None:
        try:
            with open(path, encoding="utf-8", errors="replace", newline="") as f:
                text = f.read()
        except FileNotFoundError:
            raise UnitError(f"{path}: no such file") from None
        except OSError as e:
            raise UnitError(f"{path}: cannot read: {e.strerror}") from None
    if language_of(path, text) is None:
        raise UnitError(f"{path}:1:1: no CUDA (.cu/.cuh) or SYCL kernels here")
    try:
        kernel = find_kernel(text, path, name)
    except KernelNotFound as e:
        raise UnitError(str(e)) from None
    return Unit(path=path, text=text, kernel=kernel, tunables=dict(tunables or {}))
