"""Writing a verified variant into the user's file: the one path every front applies by.

`variant_text` is the file with the variant's region and tunable values written in (the
editor turns it into a TextEdit, the agent tools into a diff); `apply_variant` writes it to
disk as `kf optimize --apply` does, keeping FILE.kf-orig.
"""

from __future__ import annotations

import difflib
import os

from backends.model import KernelSource
from evolver.records import Variant

from .errors import InputError

__all__ = ["ApplyError", "variant_text", "variant_diff", "apply_variant"]


class ApplyError(ValueError):
    """A variant cannot be written into the file (the message says why)."""


def variant_text(text: str, kernel: KernelSource, v: Variant) -> str:
    """The whole file with the variant's region and tunable values written in. Raises
    ApplyError when the kernel's text is not what the variant was measured against."""
    from backends.kernel.scanner import KernelNotFound
    from backends.kernel.splice import StaleKernel, write_variant
    from backends.kernel.tunables import TunableError

    try:
        return write_variant(text, kernel, v.region, v.tunables)
    except StaleKernel as e:
        raise ApplyError(str(e)) from None
    except (KernelNotFound, TunableError) as e:
        raise ApplyError(f"the variant cannot be written into the file: {e}") from None


def variant_diff(path: str, old: str, new: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        fromfile=f"a/{path.lstrip('/')}", tofile=f"b/{path.lstrip('/')}"))


def apply_variant(unit, variant) -> str:
    """Write `variant` (region + tunable values) into the unit's file, keeping FILE.kf-orig.
    Refuses when the file changed since `unit` was read. Returns the backup's path."""
    from backends.kernel.splice import write_variant

    try:
        with open(unit.path, encoding="utf-8", errors="replace", newline="") as f:
            now = f.read()
    except OSError as e:
        raise InputError(f"{unit.path}: cannot read: {e.strerror}") from None
    if now != unit.text:
        raise InputError(f"{unit.path}: the file changed since the search started; not applied "
                         f"(the variants are kept: kf archive {unit.path}:{unit.kernel.name})")
    out = write_variant(now, unit.kernel, variant.region, variant.tunables)
    backup = unit.path + ".kf-orig"
    if not os.path.exists(backup):
        with open(backup, "w", encoding="utf-8", newline="") as f:
            f.write(now)
    tmp = unit.path + ".kf-tmp"
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write(out)
    os.replace(tmp, unit.path)
    return backup
