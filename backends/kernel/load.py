"""From a path (and optionally unsaved text) to a Unit ready for evaluation."""

from __future__ import annotations

import os
import re

from backends.model import Unit
from backends.kernel.project_flags import ProjectFlags, file_flags, flags_for
from backends.kernel.scanner import KernelNotFound, find_kernel, find_kernels, language_of


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
              tunables: dict[str, int | float | str] | None = None, flags: str | list[str] | None = None,
              flags_source: str = "", workspace: str | None = None) -> Unit:
    """The Unit for kernel `name` of `path`, with the file's build flags: its
    compile_commands.json entry, else `flags` (from `flags_source`: "--flags",
    "kf.cuda.flags"...; relative paths from `workspace`), then the file's `@kf flags` lines."""
    if text is None:
        try:
            with open(path, encoding="utf-8", errors="replace", newline="") as f:
                text = f.read()
        except FileNotFoundError:
            raise UnitError(f"{path}: no such file") from None
        except OSError as e:
            raise UnitError(f"{path}: cannot read: {e.strerror}") from None
    if language_of(path, text) is None and not find_kernels(text, path):
        # a header (`kernels.h`) holding `__global__` kernels is CUDA by its contents, as `kf kernels` lists it
        raise UnitError(f"{path}:1:1: no CUDA (.cu/.cuh) or SYCL kernels here")
    try:
        kernel = find_kernel(text, path, name)
    except KernelNotFound as e:
        raise UnitError(str(e)) from None
    found = project_flags(path, text, kernel.language, flags, flags_source, workspace)
    return Unit(path=path, text=text, kernel=kernel, tunables=dict(tunables or {}), flags=found.flags,
                flags_source=found.source)


def project_flags(path: str, text: str, language: str | None = None, flags: str | list[str] | None = None,
                  flags_source: str = "", workspace: str | None = None) -> ProjectFlags:
    """The flags `path` is built with (backends/kernel/project_flags.py), `@kf flags` included."""
    kernels = find_kernels(text, path, language)  # type: ignore[arg-type]
    return flags_for(path, flags, flags_source, file_flags(kernels), workspace)
