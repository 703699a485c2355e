"""Checks of large buffers on the device: keyed digests instead of copies to the host.

Copying a 256 MiB buffer to the host and comparing it there costs ~0.1-0.3 s; checking
that an input is unchanged and that an output equals the original's, several times per
evaluation, made most of a large GPU evaluation's time. Where the session can digest a
device range (CudaSession.keyed_digest: one pass at memory bandwidth), kf compares 64-bit
digests instead:

- an input's digest is taken right after kf wrote it (no kernel has run yet) and kept on
  the host; after a run the input is digested again: equal means unchanged. A kernel cannot
  rewrite the host-held value, and cannot craft a different content with the same digest
  without the key, a secret drawn from os.urandom in the worker and handed only to kf's own
  digest kernel;
- an output whose digest equals the original's is the original's output bit for bit (with
  probability 1 - 2^-64 against chance; crafted collisions need the key): it passes. Any
  other output is copied to the host and goes through the full comparison
  (backends/judge/verify.py), so every verdict and message is what it was.

Both backends digest on the device (CudaSession and SyclSession.keyed_digest: the same keyed
construction, SYCL's over 64-bit blocks, 4x faster on a CPU; a digest is only compared with one
from the same session): on the SYCL CPU device, where device memory is host memory, it still saves the
copy back and the host's comparison (a 64 MiB input: 0.15 s against 0.6 s, measured on the
loaded 2-core machine). Buffers smaller than DEVICE_MIN_BYTES, sessions without a digest and
ranges the digest cannot take are checked on the host as before.
"""

from __future__ import annotations

import os
from typing import Any

from backends.judge.verify import OutputCheck, compare_output
from backends.session import DeviceFault

DEVICE_MIN_BYTES = 1 << 20
_KEY = int.from_bytes(os.urandom(8), "little")
_counts = {"digests": 0, "outputs_matched": 0, "outputs_on_host": 0}


def stats() -> dict[str, int]:
    """digests taken on the device, outputs passed by digest, outputs compared on the host."""
    return dict(_counts)


def digest(session: Any, buffer: object, offset: int, nbytes: int) -> int | None:
    """The keyed digest of a device range, or None where it is checked on the host instead."""
    fn = getattr(session, "keyed_digest", None)
    if fn is None or nbytes < DEVICE_MIN_BYTES or os.environ.get("KF_DEVICE_CHECKS") == "0":
        return None
    try:
        value = int(fn(buffer, offset, nbytes, _KEY))
        _counts["digests"] += 1
        return value
    except DeviceFault:
        raise
    except Exception:
        return None


def compare(name: str, dtype: str, reference: Any, candidate: Any, rtol: float, atol: float,
            poisoned: bool = True, **oracle: Any) -> OutputCheck:
    """One output buffer of the candidate against the reference's (live Buffers or a stored
    run): by digest on the device when both have one and they agree, else in full on the host.
    `oracle`: the keywords of verify.compare_output (a scaled or widened tolerance)."""
    want = getattr(reference, "digest", None)
    if want is not None:
        d_ref = want(name)
        if d_ref is not None:
            got = getattr(candidate, "digest", None)
            if got is not None and got(name) == d_ref:
                _counts["outputs_matched"] += 1
                return OutputCheck(True, rule="tolerance", rtol=rtol, atol=atol)
    _counts["outputs_on_host"] += 1
    return compare_output(name, dtype, reference.read(name, dtype), candidate.read(name, dtype), rtol, atol,
                          poisoned=poisoned, **oracle)
