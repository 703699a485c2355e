"""Nsight Compute metrics for a CUDA kernel, on request, where `ncu` is installed.

ncu profiles a separate probe process (`python -m backends.judge.ncu REQUEST.json ROLE`) that
compiles the kernel exactly as the harness does, loads fresh inputs and launches it
twice at the default problem size; ncu profiles the second launch only (by kernel
name, so the harness's fill and flush kernels are never measured). Clocks are left as
they are (`--clock-control none`) and caches are flushed (`--cache-control all`), the
conditions of kf's own timing, so ncu's gpu__time_duration can be held against kf's
median.
"""

from __future__ import annotations

import csv
import glob
import io
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import msgspec

from backends.model import EvalRequest

METRICS = (
    "gpu__time_duration.sum",
    "dram__bytes.sum",
    "dram__throughput.avg.pct_of_peak_sustained_elapsed",
    "sm__throughput.avg.pct_of_peak_sustained_elapsed",
    "sm__warps_active.avg.pct_of_peak_sustained_active",
    "launch__registers_per_thread",
    "launch__occupancy_limit_registers",
)
_SCALE = {"nsecond": 1e-9, "usecond": 1e-6, "msecond": 1e-3, "second": 1.0,
          "ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0,
          "byte": 1.0, "Kbyte": 1e3, "Mbyte": 1e6, "Gbyte": 1e9, "B": 1.0, "KB": 1e3, "MB": 1e6, "GB": 1e9}


def find_ncu() -> str | None:
    found = shutil.which("ncu")
    if found:
        return found
    for pattern in ("/usr/local/cuda/bin/ncu", "/opt/nvidia/nsight-compute/*/ncu", "/usr/local/cuda-*/bin/ncu"):
        hits = sorted(glob.glob(pattern))
        if hits:
            return hits[-1]
    return None


def parse_csv(text: str) -> dict[str, float]:
    """ncu --csv --page raw output -> {metric: value in base units (seconds, bytes, %)}."""
    lines = [ln for ln in text.splitlines() if ln.startswith('"')]
    if len(lines) < 3:
        return {}
    rows = list(csv.reader(io.StringIO("\n".join(lines))))
    header, units, values = rows[0], rows[1], rows[-1]
    out: dict[str, float] = {}
    for name, unit, value in zip(header, units, values):
        if name not in METRICS:
            continue
        try:
            v = float(value.replace(",", ""))
        except ValueError:
            continue
        out[name] = v * _scale(unit, name)
    return out


def _scale(unit: str, metric: str) -> float:
    u = unit.strip()
    if u in _SCALE:
        return _SCALE[u]
    if "duration" in metric:  # ncu versions spell time units differently; durations are in ns by default
        for prefix, factor in (("n", 1e-9), ("u", 1e-6), ("m", 1e-3)):
            if u.lower().startswith(prefix):
                return factor
        return 1e-9
    return 1.0


def collect(request: EvalRequest, role: str, kernel_name: str, timeout: float = 300.0) -> dict[str, float] | str:
    """Metrics for the reference or the candidate of `request`; an error message on failure."""
    ncu = find_ncu()
    if ncu is None:
        return "ncu is not installed"
    with tempfile.TemporaryDirectory(prefix="kf-ncu-") as tmp:
        path = os.path.join(tmp, "request.json")
        with open(path, "wb") as f:
            f.write(msgspec.json.encode(request))
        cmd = [ncu, "--csv", "--page", "raw", "--print-units", "base", "--metrics", ",".join(METRICS),
               "--kernel-name-base", "function", "--kernel-name", kernel_name, "--launch-skip", "1",
               "--launch-count", "1", "--clock-control", "none", "--cache-control", "all",
               sys.executable, "-m", "backends.judge.ncu", path, role]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=probe_env())
        except subprocess.TimeoutExpired:
            return f"ncu took longer than {timeout:.0f} s"
        metrics = parse_csv(proc.stdout)
        if not metrics:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
            return "ncu gave no metrics: " + " | ".join(tail)
        return metrics


def probe_env() -> dict[str, str]:
    """The probe's environment: this checkout first on the path, so `python -m
    backends.judge.ncu` imports the same kf as the caller (and `cuda` is cuda-python)."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])  # the directory holding `backends`
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _probe(path: str, role: str) -> int:
    """Inside ncu: compile and launch the kernel twice, as the harness would."""
    from backends.cuda.session import CudaSession
    from backends.judge.launch import Buffers, LaunchableKernel, compile_unit_for
    from backends.judge.inputs import InputSet

    with open(path, "rb") as f:
        req = msgspec.json.decode(f.read(), type=EvalRequest)
    unit = req.reference if role == "reference" else req.candidate
    contract = req.reference.kernel.spec
    session = CudaSession(req.device)
    like = compile_unit_for(req.reference, "reference")[0] if role == "candidate" else None
    cu, values = compile_unit_for(unit, role, like=like)  # compiled as the harness compiles it
    compiled = session.compile(cu)
    if not hasattr(compiled, "entry"):
        print(f"kf ncu probe: {role} does not compile", file=sys.stderr)
        return 1
    k = LaunchableKernel(role, unit, unit.kernel.spec, compiled, values)
    env = k.env(contract, {})
    bufs = Buffers(session, contract, env)
    bufs.load(InputSet(contract, env, (req.nonce, 7)))
    grid, block, shared = k.launch_shape(env)
    args = k.args(bufs, env)
    for _ in range(2):
        session.launch(compiled, grid, block, shared, args)
    bufs.free()
    session.close()
    return 0


if __name__ == "__main__":
    sys.exit(_probe(sys.argv[1], sys.argv[2]))
