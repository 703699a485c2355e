"""The `kf` command line: a thin front over backends (and later the evolver).

Exit codes: 0 done (verified, or compiled where no device can run it); 1 the candidate
failed (its verdict says why); 2 bad input (one line naming the file and line).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Sequence

import msgspec
from rich.console import Console

from backends.model import DeviceInfo, EvalOptions, EvalRequest, EvalResult, Verdict
from backends.pool import EvalPool, WorkerProcess
from backends.select import SelectionError, choose, devices
from backends.units import UnitError, load_unit, split_target

EXIT_OK, EXIT_FAILED, EXIT_INPUT = 0, 1, 2


class InputError(Exception):
    """Bad input: printed as one line, exit code 2."""


def _tunables(pairs: Sequence[str] | None) -> dict[str, int | float]:
    out: dict[str, int | float] = {}
    for pair in pairs or []:
        name, eq, value = pair.partition("=")
        if not eq or not name.strip().isidentifier():
            raise InputError(f"--tune expects NAME=VALUE, got {pair!r}")
        try:
            out[name.strip()] = int(value, 0)
        except ValueError:
            try:
                out[name.strip()] = float(value)
            except ValueError:
                raise InputError(f"--tune {name}: {value!r} is not a number") from None
    return out


def _unit(target: str, tunables: dict | None = None):
    path, name = split_target(target)
    try:
        return load_unit(path, name, tunables=tunables)
    except UnitError as e:
        raise InputError(str(e)) from None


def _spec_problems(unit) -> None:
    errors = [d for d in unit.kernel.spec_errors if d.severity == "error"]
    if errors:
        raise InputError(errors[0].format() + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""))
    if unit.kernel.spec is None:
        k = unit.kernel
        raise InputError(
            f"{unit.path}:{k.name_range.start.line + 1}:{k.name_range.start.column + 1}: kernel {k.name} has no "
            f"`// @kf` spec; `kf spec {unit.path}:{k.name}` prints a draft to paste above it"
        )


def cmd_bench(args: argparse.Namespace, console: Console) -> int:
    ref = _unit(args.target)
    _spec_problems(ref)
    cand = _unit(args.candidate, _tunables(args.tune)) if args.candidate else None
    if cand is None and args.tune:
        ref = msgspec.structs.replace(ref, tunables=_tunables(args.tune))
    try:
        backend, device = choose(ref.kernel.language, args.backend, args.device)
    except SelectionError as e:
        raise InputError(str(e)) from None
    options = EvalOptions(
        seeds=args.seeds,
        target_seconds=args.time_budget,
        timeout_s=args.timeout,
        ncu=args.ncu,
    )
    request = EvalRequest(ref, cand, backend, device if device is not None else -1, options, nonce=time.time_ns() & 0x7FFFFFFF)
    with console.status(f"evaluating {ref.kernel.name} on {backend}...", spinner="dots") if not args.json else _null():
        with EvalPool(backend, [device if device is not None else -1]) as pool:
            result = pool.evaluate_sync(request)
    if args.json:
        sys.stdout.write(msgspec.json.format(msgspec.json.encode(result)).decode() + "\n")
    else:
        from .tables import render_result

        title = f"{ref.kernel.name}  {ref.path}:{ref.kernel.name_range.start.line + 1}"
        if cand is not None:
            title += f"  vs  {cand.path}:{cand.kernel.name_range.start.line + 1}"
        render_result(console, title, result)
    return EXIT_OK if result.verdict in (Verdict.CORRECT, Verdict.COMPILED) else EXIT_FAILED


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def cmd_spec(args: argparse.Namespace, console: Console) -> int:
    from backends.spec import draft_spec

    unit = _unit(args.target)
    sys.stdout.write(draft_spec(unit.kernel))
    return EXIT_OK


def cmd_devices(args: argparse.Namespace, console: Console) -> int:
    found: list[DeviceInfo] = []
    for backend in ("cuda", "sycl"):
        for d in devices(backend):
            if args.measure:
                w = WorkerProcess(backend, d.index)
                try:
                    peak = w.peak_bandwidth()
                finally:
                    w.close()
                d = msgspec.structs.replace(d, peak_bandwidth=peak)
            else:
                from backends.harness import cached_peak

                d = msgspec.structs.replace(d, peak_bandwidth=cached_peak(d))
            found.append(d)
    if args.json:
        sys.stdout.write(msgspec.json.format(msgspec.json.encode(found)).decode() + "\n")
    else:
        from .tables import render_devices

        if not any(d.backend == "cuda" for d in found):
            console.print("cuda: no CUDA GPU found (CUDA kernels are compiled and resource-checked only)")
        render_devices(console, found)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kf", description="Find, measure and speed up CUDA and SYCL kernels.")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("bench", help="compile, verify, time and profile a kernel (optionally against a candidate)")
    b.add_argument("target", help="FILE[:KERNEL]")
    b.add_argument("--candidate", metavar="FILE[:KERNEL]", help="a variant to verify against TARGET and time")
    b.add_argument("--backend", choices=("cuda", "sycl"))
    b.add_argument("--device", type=int, help="device index (kf devices lists them)")
    b.add_argument("--tune", action="append", metavar="NAME=VALUE", help="bind a tunable (repeatable)")
    b.add_argument("--seeds", type=int, default=3, help="input seeds per problem size (default 3)")
    b.add_argument("--time-budget", type=float, default=1.0, metavar="S", help="seconds of timing per kernel")
    b.add_argument("--timeout", type=float, default=30.0, metavar="S", help="a launch longer than this is a hang")
    b.add_argument("--ncu", action="store_true", help="also collect Nsight Compute metrics (CUDA, where ncu exists)")
    b.add_argument("--json", action="store_true", help="print the result as JSON (docs/results.md)")
    b.set_defaults(func=cmd_bench)

    s = sub.add_parser("spec", help="print a draft spec for a kernel, inferred from its signature")
    s.add_argument("target", help="FILE[:KERNEL]")
    s.set_defaults(func=cmd_spec)

    d = sub.add_parser("devices", help="list backends and devices with their peak bandwidth")
    d.add_argument("--measure", action="store_true", help="measure peak bandwidth now (cached afterwards)")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_devices)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    console = Console(stderr=False, highlight=False)
    err = Console(stderr=True, highlight=False)
    try:
        return args.func(args, console)
    except InputError as e:
        err.print(f"kf: {e}", markup=False)
        return EXIT_INPUT
    except KeyboardInterrupt:
        err.print("kf: interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
