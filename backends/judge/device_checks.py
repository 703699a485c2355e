"""Checks of large buffers on the device: keyed digests and kf's comparison kernel instead
of copies to the host.

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
  other output of DEVICE_COMPARE_MIN_BYTES and more goes through kf's comparison kernel
  (backends/compare_kernel.py, `on_device`), which passes it where every element is within
  the tolerance, with the host comparison's figures; what it does not pass, and smaller
  outputs, are copied to the host and go through the full comparison
  (backends/judge/verify.py), so every failing verdict and message is what it was.

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

import numpy as np

from backends import compare_kernel
from backends.judge.verify import OutputCheck, compare_output, poison_mask, scale_sample, tolerance_params
from backends.kernel import dtypes
from backends.session import DeviceFault

DEVICE_MIN_BYTES = 1 << 20
DEVICE_COMPARE_MIN_BYTES = 16 << 20  # outputs this large are compared on the device where it can (on_device)
_DEVICE_ORACLE = {"scale_atol", "extra_atol", "extra_rtol", "extra_why", "magnitude"}
_KEY = int.from_bytes(os.urandom(8), "little")
_counts = {"digests": 0, "outputs_matched": 0, "outputs_on_device": 0, "outputs_on_host": 0}


def stats() -> dict[str, int]:
    """digests taken on the device, outputs passed by digest, outputs passed by the comparison
    kernel, outputs compared on the host."""
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
    run): by digest on the device when both have one and they agree; else by the comparison
    kernel on the device where it passes (on_device); else in full on the host, which says
    what differs and where. `oracle`: the keywords of verify.compare_output (a scaled or
    widened tolerance)."""
    want = getattr(reference, "digest", None)
    if want is not None:
        d_ref = want(name)
        if d_ref is not None:
            got = getattr(candidate, "digest", None)
            if got is not None and got(name) == d_ref:
                _counts["outputs_matched"] += 1
                return OutputCheck(True, rule="tolerance", rtol=rtol, atol=atol)
    passed = on_device(name, dtype, reference, candidate, rtol, atol, poisoned, oracle)
    if passed is not None:
        _counts["outputs_on_device"] += 1
        return passed
    _counts["outputs_on_host"] += 1
    return compare_output(name, dtype, reference.read(name, dtype), candidate.read(name, dtype), rtol, atol,
                          poisoned=poisoned, **oracle)


def comparable(session: Any, dtype: str, nbytes: int) -> bool:
    """Is an output of this type and size compared on the device (on_device) by this session?"""
    return (getattr(session, "compare_close", None) is not None and nbytes >= DEVICE_COMPARE_MIN_BYTES
            and dtypes.scalar(dtype) in compare_kernel.KINDS and os.environ.get("KF_DEVICE_CHECKS") != "0")


def on_device(name: str, dtype: str, reference: Any, candidate: Any, rtol: float, atol: float, poisoned: bool,
              oracle: dict[str, Any]) -> OutputCheck | None:
    """The candidate's output, live on the device, compared with the reference's there
    (backends/compare_kernel.py) under compare_output's rule and tolerance: the check
    compare_output returns where every element passes, with the same figures; None where
    any element fails or is unwritten, or where the device cannot take it (then the host
    compares, and its message says where). Elements the reference left unwritten ask nothing,
    as on the host.

    The reference's side is its live buffer, or a stored run's host copy written to a
    scratch allocation made after the candidate ran (nothing of the original is alive while
    a candidate runs). The scaled tolerance reads the same fixed sample as on the host
    (verify.scale_sample), gathered on the device from a live buffer."""
    if set(oracle) - _DEVICE_ORACLE:
        return None  # a Python reference's accuracy rule: the host's
    where = getattr(candidate, "device_range", None)
    c = where(name) if where is not None else None
    if c is None:
        return None
    session, c_buf, c_off, nbytes = c
    kind = dtypes.scalar(dtype)
    if not comparable(session, dtype, nbytes):
        return None
    size = compare_kernel.ITEMSIZE[kind]
    count = nbytes // size
    if nbytes % size:
        return None
    where = getattr(reference, "device_range", None)
    r = where(name) if where is not None else None
    scratch = None
    try:
        if r is not None and r[0] is session and r[3] == nbytes:
            _, r_buf, r_off, _ = r
            sample_at = scale_sample(count)
            sample = (session.gather(r_buf, r_off, kind, sample_at) if sample_at is not None else
                      session.read(r_buf, r_off, nbytes).view(dtypes.numpy_dtype(kind)))
        else:
            host = np.ascontiguousarray(reference.read(name, dtype))
            if host.nbytes != nbytes:
                return None
            scratch = session.alloc(nbytes)
            session.write(scratch, 0, host.reshape(-1).view(np.uint8))
            r_buf, r_off, sample = scratch, 0, host.reshape(-1)
        poison = dtypes.poison_pattern(dtype) if poisoned else None
        # the tolerance is scaled by the output (compare_output does it by the elements the reference wrote)
        scaled_by_written = bool(poisoned and oracle.get("scale_atol") and oracle.get("magnitude") is None)

        def written_scale() -> tuple[float, float]:
            # the reference left elements unwritten (a stencil's border): compare_output scales
            # by the elements it wrote, so the scale is taken from those, as there
            host = sample if scratch is not None else np.ascontiguousarray(reference.read(name, dtype)).reshape(-1)
            written = host[~poison_mask(host, dtype)]
            a, r, _ = tolerance_params(written, dtype, rtol, atol, True, oracle.get("extra_rtol", 0.0),
                                       oracle.get("extra_atol", 0.0), oracle.get("extra_why", ""), None)
            return a, r

        written_first = scaled_by_written and poison_mask(sample, dtype).any()
        if written_first:
            # the poison is in the reference's sample (all of a stored run): the scale of the
            # written elements at once, not first the whole sample's and a second pass
            atol_used, rtol_used = written_scale()
        else:
            atol_used, rtol_used, _ = tolerance_params(
                sample, dtype, rtol, atol, oracle.get("scale_atol", False), oracle.get("extra_rtol", 0.0),
                oracle.get("extra_atol", 0.0), oracle.get("extra_why", ""), oracle.get("magnitude"))
        found = session.compare_close(r_buf, r_off, c_buf, c_off, count, kind, atol_used, rtol_used, poison)
        if scaled_by_written and not written_first and found.ref_poison and found.compared:
            # unwritten elements the sample missed: the scale of the written ones, and the pass again
            atol_used, rtol_used = written_scale()
            found = session.compare_close(r_buf, r_off, c_buf, c_off, count, kind, atol_used, rtol_used, poison)
    except DeviceFault:
        raise
    except Exception:  # no room for the scratch copy, a range the kernel cannot take: the host's way
        return None
    finally:
        if scratch is not None:
            session.free(scratch)
    if found.unwritten or found.bad or not found.compared or found.compared + found.ref_poison != count:
        return None
    max_abs = found.max_abs if np.isfinite(found.max_abs) else float(np.finfo(np.float64).max)
    return OutputCheck(True, rule="tolerance", max_abs_err=max_abs, max_rel_err=found.max_rel, rtol=rtol_used,
                       atol=atol_used, excess=found.excess)
