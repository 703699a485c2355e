"""What a large output's comparison costs on the SYCL CPU device: the host's (verify.compare_output
on the copy back) against kf's comparison kernel (device_checks.on_device, docs/evaluation.md,
"Large outputs compared on the device"), and the kernel and its sample gather alone.

An output of 16 M elements (64 MiB of float, 32 MiB of half) that is not bit for bit the
reference's, with the default scaled tolerance (so the scale's 4 M-element sample is gathered
from the live reference). Medians of --repeat runs after one warm-up, with the range.

    PYTHONPATH=. .venv/bin/python benchmarks/device_compare_cpu.py [--repeat 7]

Run it with another tree first on PYTHONPATH to compare (same machine, same hour).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from backends.judge import device_checks, verify
from backends.kernel import dtypes


class _Live:
    """One output in a device allocation, as the harness's live Buffers offer it."""

    def __init__(self, session, values: np.ndarray):
        self.session, self.nbytes, self.dtype = session, values.nbytes, values.dtype
        self.buf = session.alloc(values.nbytes)
        session.write(self.buf, 0, values.view(np.uint8))

    def device_range(self, name):
        return self.session, self.buf, 0, self.nbytes

    def read(self, name, dtype):
        return self.session.read(self.buf, 0, self.nbytes).view(self.dtype)

    def digest(self, name):
        return None


def _times(fn, repeat: int) -> str:
    fn()
    ts = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return f"{statistics.median(ts):.3f} s ({min(ts):.3f}-{max(ts):.3f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--elements", type=int, default=1 << 24)
    args = ap.parse_args()
    from backends.sycl.session import SyclSession

    s = SyclSession(0)
    n = args.elements
    rng = np.random.default_rng(0)
    print(f"SYCL device: {s.info.name}; {n} elements")
    print("| output | host comparison | on the device (on_device) | comparison kernel | sample gather |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for kind in ("f32", "f16"):
        t = dtypes.numpy_dtype(kind)
        e = (rng.standard_normal(n) * 10).astype(t)
        g = (e.astype(np.float64) * (1 + 2e-5 * rng.uniform(-1, 1, n))).astype(t)
        g[::7] = np.nextafter(e[::7], np.array(np.inf, dtype=t))  # not bit for bit the reference's
        rtol, atol = dtypes.default_tolerance(kind)
        ref, cand = _Live(s, e), _Live(s, g)
        host = verify.compare_output("y", kind, ref.read("y", kind), cand.read("y", kind), rtol, atol,
                                     scale_atol=True)
        dev = device_checks.on_device("y", kind, ref, cand, rtol, atol, True, {"scale_atol": True})
        assert host.ok and dev is not None and dev.max_abs_err == host.max_abs_err, (host, dev)
        row = [
            _times(lambda: verify.compare_output("y", kind, ref.read("y", kind), cand.read("y", kind), rtol, atol,
                                                 scale_atol=True), args.repeat),
            _times(lambda: device_checks.on_device("y", kind, ref, cand, rtol, atol, True, {"scale_atol": True}),
                   args.repeat),
            _times(lambda: s.compare_close(ref.buf, 0, cand.buf, 0, n, kind, atol, rtol, dtypes.poison_pattern(kind)),
                   args.repeat),
            _times(lambda: s.gather(ref.buf, 0, kind, verify.scale_sample(n)), args.repeat),
        ]
        print(f"| {kind}, {e.nbytes >> 20} MiB | " + " | ".join(row) + " |")
        s.free(ref.buf)
        s.free(cand.buf)
    s.close()


if __name__ == "__main__":
    main()
