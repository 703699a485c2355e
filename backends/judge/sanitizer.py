"""compute-sanitizer on a CUDA candidate before it is offered as best or applied.

Races between threads of a block on shared memory, reads of uninitialised global memory
and accesses outside an allocation are caught by the harness only when they change an
output on the runs it makes, which is chance (docs/evaluation.md, "What stays
undetectable"). NVIDIA's compute-sanitizer sees them whatever the output: racecheck (shared
memory hazards), initcheck (uninitialised global memory), memcheck (out of bounds and
misaligned accesses). It wraps a process, so each tool runs a separate probe process
(`python -m backends.judge.sanitizer REQUEST.json SIZES.json`) that compiles the candidate
as the harness does (with -lineinfo, so reports name source lines), allocates its buffers
with no guards (memcheck must see the real ends of the allocations), writes fresh inputs,
poisons the outputs, and launches it twice at each of the small sizes the harness chose.
The three tools run side by side; a finding is the candidate's verdict
(racecheck, initcheck: `nondeterministic`; memcheck: `out_of_bounds`).

Where the tool is not installed the check is skipped and the verdict says so.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import msgspec

from backends.model import EvalRequest, Verdict

__all__ = ["TOOLS", "Finding", "find_sanitizer", "command", "parse", "check", "DONE"]

TOOLS = ("racecheck", "initcheck", "memcheck")
DONE = "kf-sanitizer-probe: done"  # the probe's last line: it ran to the end
_VERDICT = {"racecheck": Verdict.NONDETERMINISTIC, "initcheck": Verdict.NONDETERMINISTIC,
            "memcheck": Verdict.OUT_OF_BOUNDS}
_RACE_SUMMARY = re.compile(r"RACECHECK SUMMARY:\s*(\d+) hazards? displayed \((\d+) errors?, (\d+) warnings?\)")
_ERROR_SUMMARY = re.compile(r"ERROR SUMMARY:\s*(\d+) errors?")
_REPORT = re.compile(r"^=+ (Error: Race reported|Warning: Race reported|Invalid __\w+__|Uninitialized __\w+__|"
                     r"Misaligned|Program hit|Malloc/Free|Address|Barrier error|Error:)")
_PREFIX = re.compile(r"^=+\s?")


class Finding(msgspec.Struct, frozen=True):
    """What one tool's run said: errors found, the first report, whether the probe ran to the end."""

    tool: str
    errors: int
    first: str = ""
    completed: bool = True
    problem: str = ""  # the tool could not check (did not start, the probe failed): why

    @property
    def verdict(self) -> Verdict:
        return _VERDICT[self.tool]


def find_sanitizer() -> str | None:
    found = shutil.which("compute-sanitizer")
    if found:
        return found
    for pattern in ("/usr/local/cuda/bin/compute-sanitizer", "/usr/local/cuda-*/bin/compute-sanitizer",
                    "/opt/nvidia/compute-sanitizer/compute-sanitizer", "/usr/local/cuda/compute-sanitizer/compute-sanitizer"):
        hits = sorted(glob.glob(pattern))
        if hits:
            return hits[-1]
    return None


def command(tool: str, sanitizer: str, request_path: str, sizes_path: str, python: str = sys.executable) -> list[str]:
    """The command line of one tool's run over the probe."""
    if tool not in TOOLS:
        raise ValueError(f"unknown compute-sanitizer tool {tool!r} (expected one of {', '.join(TOOLS)})")
    cmd = [sanitizer, "--tool", tool, "--print-limit", "8", "--error-exitcode", "86"]
    if tool == "racecheck":
        cmd += ["--racecheck-report", "analysis"]
    return cmd + [python, "-m", "backends.judge.sanitizer", request_path, sizes_path]


def parse(tool: str, text: str) -> Finding:
    """Read one tool's output: its summary's error count, its first report (the lines from the
    first `========= Invalid ...`/`Error: Race ...` on, without the `=========` prefix), and
    whether the probe printed DONE."""
    errors = 0
    m = _RACE_SUMMARY.search(text)
    if m:
        errors = int(m.group(2))
    else:
        counts = [int(x) for x in _ERROR_SUMMARY.findall(text)]
        errors = max(counts) if counts else 0
    lines = text.splitlines()
    first: list[str] = []
    for i, line in enumerate(lines):
        if _REPORT.match(line):
            first.append(_PREFIX.sub("", line).strip())
            for nxt in lines[i + 1: i + 6]:
                body = _PREFIX.sub("", nxt)
                if not nxt.startswith("=") or not body.startswith(" ") or not body.strip():
                    break
                first.append(body.strip())
            break
    summary = bool(m) or bool(_ERROR_SUMMARY.search(text))
    completed = DONE in text
    problem = ""
    if not summary:
        tail = [ln for ln in lines if ln.strip()][-3:]
        problem = "no summary from compute-sanitizer: " + " | ".join(tail)
    elif not completed and not errors:
        tail = [_PREFIX.sub("", ln).strip() for ln in lines if ln.strip() and DONE not in ln][-3:]
        problem = "the probe did not run to the end: " + " | ".join(tail)
    return Finding(tool, errors, "; ".join(first), completed, problem)


def describe(f: Finding) -> str:
    what = {"racecheck": "a shared-memory race", "initcheck": "a read of uninitialised global memory",
            "memcheck": "an access outside an allocation"}[f.tool]
    return (f"compute-sanitizer {f.tool} found {what} ({f.errors} error{'s' if f.errors != 1 else ''})"
            + (f": {f.first}" if f.first else ""))


def probe_env() -> dict[str, str]:
    """This checkout first on the probe's path (as backends/judge/ncu.py)."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    return env


def check(request: EvalRequest, sizes: list[dict[str, str]], timeout: float = 600.0,
          tools: tuple[str, ...] = TOOLS) -> list[Finding] | str:
    """Run every tool over the probe of `request`'s candidate at `sizes` (variable overrides),
    side by side. The findings, or why nothing could be checked (no tool)."""
    sanitizer = find_sanitizer()
    if sanitizer is None:
        return "compute-sanitizer is not installed"
    with tempfile.TemporaryDirectory(prefix="kf-sanitizer-") as tmp:
        req_path, sizes_path = os.path.join(tmp, "request.json"), os.path.join(tmp, "sizes.json")
        Path(req_path).write_bytes(msgspec.json.encode(request))
        Path(sizes_path).write_bytes(msgspec.json.encode(sizes))
        procs = {}
        for tool in tools:
            procs[tool] = subprocess.Popen(command(tool, sanitizer, req_path, sizes_path), stdout=subprocess.PIPE,
                                           stderr=subprocess.STDOUT, text=True, env=probe_env())
        out: list[Finding] = []
        for tool, p in procs.items():
            try:
                text, _ = p.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.communicate()
                out.append(Finding(tool, 0, completed=False, problem=f"took longer than {timeout:.0f} s"))
                continue
            out.append(parse(tool, text or ""))
        return out


def _probe(request_path: str, sizes_path: str) -> int:
    """Inside compute-sanitizer: compile the candidate with -lineinfo and launch it twice at
    each size, on unguarded buffers with fresh inputs."""
    from backends.cuda.session import CudaSession
    from backends.judge.inputs import InputSet
    from backends.judge.launch import Buffers, LaunchableKernel, compile_unit_for

    req = msgspec.json.decode(Path(request_path).read_bytes(), type=EvalRequest)
    sizes = msgspec.json.decode(Path(sizes_path).read_bytes(), type=list[dict[str, str]])
    unit = req.candidate
    if unit is None:
        print("kf sanitizer probe: no candidate", file=sys.stderr)
        return 2
    contract = req.reference.kernel.spec
    session = CudaSession(req.device)
    like = compile_unit_for(req.reference, "reference")[0]
    cu, values = compile_unit_for(unit, "candidate", like=like)  # compiled as the harness compiles it
    if "-lineinfo" not in cu.options:
        cu = msgspec.structs.replace(cu, options=list(cu.options) + ["-lineinfo"])
    compiled = session.compile(cu)
    if not hasattr(compiled, "entry"):
        print("kf sanitizer probe: the candidate does not compile", file=sys.stderr)
        return 2
    k = LaunchableKernel("candidate", unit, unit.kernel.spec, compiled, values, cu.source)
    launches = 0
    for i, overrides in enumerate(sizes):
        env = k.env(contract, overrides)
        bufs = Buffers(session, contract, env, guard=0)
        try:
            bufs.load(InputSet(contract, env, (req.nonce, 0x5A, i)))
            grid, block, shared = k.launch_shape(env)
            args = bufs.args(unit.kernel.params, env, k.param_types)
            for _ in range(2):
                session.launch(compiled, grid, block, shared, args)
                launches += 1
        finally:
            bufs.free()
    session.close()
    print(f"{DONE} ({launches} launches at {len(sizes)} sizes)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(_probe(sys.argv[1], sys.argv[2]))
