"""The `kf` command line: a thin front over backends (and later the evolver).

Exit codes: 0 done (verified, or compiled where no device can run it); 1 the candidate
failed (its verdict says why); 2 bad input (one line naming the file and line).
`kf optimize`: 0 a verified, significantly faster variant was found; 1 none was (the
original stays the best) or the original could not be evaluated; 2 bad input
(docs/search.md).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, Callable, Sequence

import msgspec
from rich.console import Console

from backends.model import DeviceInfo, EvalOptions, EvalRequest, Verdict
from backends.run.local_pool import EvalPool, WorkerProcess
from backends.run.device_choice import SelectionError, choose, devices
from backends.kernel.load import UnitError, load_unit, split_target

from kf_lsp.core.apply import apply_variant
from kf_lsp.core.errors import EXIT_FAILED, EXIT_INPUT, EXIT_OK, InputError
from kf_lsp.core.preflight import nothing_to_try


def _assignments(items: Sequence[str] | None, value_of: Callable[[str], Any], malformed: str,
                 bad_value: str) -> dict[str, Any]:
    """The NAME=VALUE items of a repeatable flag (`--tune`, `--set`) as {NAME: value_of(VALUE)}.
    One splitter for every such flag, so they read items alike; each flag says what a value
    may be (`value_of` raises ValueError otherwise) and words its errors (exit 2, one line):
    `malformed` (no `=`, or NAME is no identifier) and `bad_value`, formatted with the
    item's `item`, `name` and `value`."""
    out: dict[str, Any] = {}
    for item in items or []:
        name, eq, value = item.partition("=")
        if not eq or not name.strip().isidentifier():
            raise InputError(malformed.format(item=item, name=name, value=value))
        try:
            out[name.strip()] = value_of(value)
        except ValueError:
            raise InputError(bad_value.format(item=item, name=name, value=value)) from None
    return out


def _tunable_value(value: str) -> int | float | str:
    """A `--tune` value: an integer, a float, or a type (`--tune T=half`)."""
    try:
        return int(value, 0)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            if not value.strip() or not all(c.isalnum() or c in "_:<>, *" for c in value.strip()):
                raise ValueError(value) from None
            return " ".join(value.split())


def _tunables(pairs: Sequence[str] | None) -> dict[str, int | float | str]:
    return _assignments(pairs, _tunable_value, "--tune expects NAME=VALUE, got {item!r}",
                        "--tune {name}: {value!r} is not a number or a type")


def _unit(target: str, tunables: dict | None = None, flags: Sequence[str] | None = None):
    """The Unit of FILE[:KERNEL], built with the file's compile_commands.json flags, else
    `--flags`, then its `@kf flags` lines."""
    path, name = split_target(target)
    try:
        return load_unit(path, name, tunables=tunables, flags=list(flags or []), flags_source="--flags")
    except UnitError as e:
        raise InputError(str(e)) from None


def _spec_problems(unit) -> None:
    errors = [d for d in unit.kernel.spec_errors if d.severity == "error"]
    if errors:
        raise InputError("\n".join(d.format() for d in errors))  # every one: the user fixes them in one go
    if unit.kernel.spec is None:
        k = unit.kernel
        raise InputError(
            f"{unit.path}:{k.name_range.start.line + 1}:{k.name_range.start.column + 1}: kernel {k.name} has no "
            f"`// @kf` spec; `kf spec {unit.path}:{k.name}` prints a draft to paste above it"
        )


def cmd_bench(args: argparse.Namespace, console: Console) -> int:
    ref = _unit(args.target, flags=args.flags)
    _spec_problems(ref)
    cand = _unit(args.candidate, _tunables(args.tune), flags=args.flags) if args.candidate else None
    _check_tunes(cand or ref, _tunables(args.tune))
    if cand is None and args.tune:
        ref = msgspec.structs.replace(ref, tunables=_tunables(args.tune))
    try:
        if getattr(args, "remote", None) and not args.fallback_local:  # the remote worker's device is used
            if args.backend not in (None, ref.kernel.language):
                raise SelectionError(f"a {ref.kernel.language} kernel runs on the {ref.kernel.language} backend, not {args.backend}")
            backend, device = ref.kernel.language, 0
        else:
            backend, device = choose(ref.kernel.language, args.backend, args.device)
    except SelectionError as e:
        raise InputError(str(e)) from None
    if not 0 <= args.min_effect < 1:
        raise InputError(f"--min-effect must be in [0, 1), e.g. 0.05 for 5%, got {args.min_effect:g}")
    if not 0 <= args.noise < 1:
        raise InputError(f"--noise must be in [0, 1), e.g. 0.01 for +-1%, got {args.noise:g}")
    options = EvalOptions(
        seeds=args.seeds,
        target_seconds=args.time_budget,
        timeout_s=args.timeout,
        ncu=args.ncu,
        noise_target=args.noise,
        min_effect=args.min_effect,
    )
    request = EvalRequest(ref, cand, backend, device if device is not None else -1, options, nonce=time.time_ns() & 0x7FFFFFFF)
    with console.status(f"evaluating {ref.kernel.name} on {backend}...", spinner="dots") if not args.json else _null():
        with _make_pool(args, backend, [device if device is not None else -1]) as pool:
            result = _remote_errors(pool.evaluate_sync, request)
    if args.json:
        sys.stdout.write(msgspec.json.format(msgspec.json.encode(result)).decode() + "\n")
    if result.verdict in (Verdict.SPEC_ERROR, Verdict.REFERENCE_FAILED):
        raise InputError(_bad_input_line(ref, result))  # the original or its spec: bad input, one line
    if not args.json:
        from kf_lsp.core.tables import render_result

        title = f"{ref.kernel.name}  {ref.path}:{ref.kernel.name_range.start.line + 1}"
        if cand is not None:
            title += f"  vs  {cand.path}:{cand.kernel.name_range.start.line + 1}"
        render_result(console, title, result)
    return EXIT_OK if result.verdict in (Verdict.CORRECT, Verdict.COMPILED) else EXIT_FAILED


def _check_tunes(unit, values: dict) -> None:
    """`--tune NAME=V` for a name the spec does not list: one line at the spec, before any work."""
    spec = unit.kernel.spec
    known = [t.name for t in spec.tunables] if spec else []
    for name in values:
        if name not in known:
            line = spec.range.start.line + 1 if spec and spec.range else unit.kernel.name_range.start.line + 1
            raise InputError(f"{unit.path}:{line}:1: --tune {name}: not a tunable of '{unit.kernel.name}' "
                             f"(tunables: {', '.join(known) or 'none'}; add `// @kf tune {name} = ...`)")


def _bad_input_line(unit, result) -> str:
    """A failed original or spec as one line `FILE:LINE:COL: message` (its first error diagnostic)."""
    errors = [d for d in result.diagnostics if d.severity == "error"]
    if errors:
        return "\n".join(d.format() for d in errors)
    k = unit.kernel
    message = " ".join(result.message.split())
    return f"{unit.path}:{k.name_range.start.line + 1}:{k.name_range.start.column + 1}: error: {message}"


def _make_pool(args: argparse.Namespace, backend: str, devices: list[int]):
    """Local EvalPool, or a RemotePool with --remote (backends/run/pool.py)."""
    if not getattr(args, "remote", None):
        return EvalPool(backend, devices)
    from backends.run.pool import pool_from_args
    from backends.run.cluster import RemoteError

    try:
        return pool_from_args(args, backend, devices, on_fallback=lambda m: sys.stderr.write(f"kf: {m}\n"))
    except RemoteError as e:
        raise InputError(str(e)) from None


def _remote_errors(fn, *args):
    """A cluster that cannot run it (no worker with the hardware...): one line, exit 2."""
    from backends.run.cluster import RemoteError

    try:
        return fn(*args)
    except RemoteError as e:
        raise InputError(str(e)) from None


def cmd_worker(args: argparse.Namespace, console: Console) -> int:
    """`kf worker SCHEDULER`: Dask worker processes on this host, one per device."""
    from backends.run.cluster import RemoteError, WorkerSupervisor, check_address, make_security

    try:
        security = make_security(args.tls_ca, args.tls_cert, args.tls_key, role="worker")
        scheduler = check_address(args.scheduler, security)
    except RemoteError as e:
        raise InputError(str(e)) from None
    found: list[DeviceInfo] = []
    for backend in ([args.backend] if args.backend else ["cuda", "sycl"]):
        found += devices(backend)
    if args.devices:
        want = [w.strip() for w in ",".join(args.devices).split(",") if w.strip()]
        picked = []
        for w in want:
            backend, _, index = w.rpartition(":")
            match = [d for d in found if str(d.index) == index and (not backend or d.backend == backend)]
            if not match:
                listed = ", ".join(f"{d.backend}:{d.index} ({d.tag})" for d in found) or "none"
                raise InputError(f"--devices {w}: no such device here (devices: {listed})")
            picked.append(match[0])
        found = picked
    if not found:
        raise InputError("no CUDA or SYCL device on this host to serve (kf devices lists them)")
    console.print(f"kf worker: serving {len(found)} device(s) to {scheduler}: "
                  + ", ".join(f"{d.backend}:{d.index} {d.tag}" for d in found), highlight=False)
    sup = WorkerSupervisor(scheduler, found, nthreads=args.nthreads, tls=(args.tls_ca, args.tls_cert, args.tls_key),
                           host=args.host, restart=not args.no_restart, name=args.name)
    return sup.run(lambda m: console.print(f"kf worker: {m}", highlight=False))


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def cmd_spec(args: argparse.Namespace, console: Console) -> int:
    """A draft spec for each kernel (FILE) or one (FILE:KERNEL); `--check` runs the original
    with the spec it has and reports what makes the spec unable to verify anything."""
    from backends.kernel.project_flags import include_dirs
    from backends.kernel.scanner import find_kernels
    from backends.kernel.spec import draft_spec

    path, name = split_target(args.target)
    if name is None and not args.check:  # every kernel of the file
        try:
            with open(path, encoding="utf-8", errors="replace", newline="") as f:
                text = f.read()
        except OSError as e:
            raise InputError(f"{path}: {'no such file' if isinstance(e, FileNotFoundError) else e.strerror}") from None
        kernels = find_kernels(text, path)
        if not kernels:
            raise InputError(f"{path}:1:1: no CUDA (.cu/.cuh) or SYCL kernels here")
        dirs = _include_dirs(args.flags)
    else:
        unit = _unit(args.target, flags=args.flags)
        if args.check:
            return _check_spec(args, unit, console)
        text, kernels = unit.text, [unit.kernel]
        dirs = include_dirs(unit.flags)  # the flags the unit compiles with: as the editor and MCP draft
    for i, k in enumerate(kernels):
        if len(kernels) > 1:
            sys.stdout.write(("\n" if i else "") + f"// kernel {k.name} ({path}:{k.name_range.start.line + 1})\n")
        if k.spec is not None:
            sys.stderr.write(f"kf: {path}:{k.name_range.start.line + 1}:{k.name_range.start.column + 1}: {k.name} "
                             f"already has a spec; `kf spec {path}:{k.name} --check` runs the original with it\n")
        sys.stdout.write(draft_spec(k, text=text, path=path, include_dirs=dirs))
    return EXIT_OK


def _include_dirs(flags: list[str] | None) -> list[str]:
    """The `-I` directories of `--flags` (from the working folder): where the drafter finds the
    project's headers when the file has no compile_commands.json entry."""
    from backends.kernel.project_flags import include_dirs, normalize, split

    return include_dirs(normalize(split(flags or []), os.getcwd()))


_FORMS = {"global": "CUDA __global__", "free_function": "SYCL free-function kernel",
          "lambda": "SYCL parallel_for lambda", "nd_item_function": "SYCL function taking the work-item"}


def cmd_kernels(args: argparse.Namespace, console: Console) -> int:
    """The kernels kf finds in each file, one line each (`FILE:LINE:COL: NAME (form) spec: ...`):
    the names `kf bench FILE:NAME` and `kf spec FILE:NAME` take, and whether a spec is there."""
    import json as _json

    from backends.kernel.scanner import find_kernels

    rows, missing = [], 0
    for path in args.files:
        try:
            with open(path, encoding="utf-8", errors="replace", newline="") as f:
                text = f.read()
        except OSError as e:
            raise InputError(f"{path}: {'no such file' if isinstance(e, FileNotFoundError) else e.strerror}") from None
        kernels = find_kernels(text, path)
        if not kernels:
            missing += 1
            sys.stderr.write(f"kf: {path}:1:1: no CUDA (.cu/.cuh) or SYCL kernels here\n")
        for k in kernels:
            errors = [d for d in k.spec_errors if d.severity == "error"]
            spec = "none" if k.spec is None and not errors else \
                (f"{len(errors)} error{'s' if len(errors) > 1 else ''}" if errors else "ok")
            rows.append({"file": path, "line": k.name_range.start.line + 1, "column": k.name_range.start.column + 1,
                         "name": k.name, "language": k.language, "form": k.form, "spec": spec})
    if args.json:
        sys.stdout.write(_json.dumps(rows, indent=1) + "\n")
    else:
        for r in rows:
            sys.stdout.write(f"{r['file']}:{r['line']}:{r['column']}: {r['name']} ({_FORMS.get(r['form'], r['form'])}) "
                             f"spec: {r['spec']}\n")
    return EXIT_OK if rows or not missing else EXIT_INPUT


def _check_spec(args: argparse.Namespace, unit, console: Console) -> int:
    """`kf spec FILE:KERNEL --check`: the original with its own spec, checked, not timed."""
    _spec_problems(unit)
    try:
        backend, device = choose(unit.kernel.language, getattr(args, "backend", None), getattr(args, "device", None))
    except SelectionError as e:
        raise InputError(str(e)) from None
    options = EvalOptions(seeds=1, time=False, profile=False, timeout_s=args.timeout)
    request = EvalRequest(unit, None, backend, device if device is not None else -1, options,
                          nonce=time.time_ns() & 0x7FFFFFFF)
    with EvalPool(backend, [device if device is not None else -1]) as pool:
        result = pool.evaluate_sync(request)
    if result.verdict in (Verdict.SPEC_ERROR, Verdict.REFERENCE_FAILED):
        raise InputError(_bad_input_line(unit, result))
    for d in result.diagnostics:
        if d.severity == "warning" and d.source == "kf":
            sys.stderr.write(f"kf: {d.format()}\n")
    k = unit.kernel
    if result.verdict is Verdict.COMPILED:
        console.print(f"{unit.path}:{k.name_range.start.line + 1}: {k.name}: compiled; not run here "
                      f"({result.message}): the original's checks need a device", highlight=False)
        return EXIT_OK
    console.print(f"{unit.path}:{k.name_range.start.line + 1}: {k.name}: the spec verifies the original: "
                  + result.message.replace("correct (not timed); ", ""), highlight=False, markup=False)
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
                from backends.judge.harness import cached_peak

                d = msgspec.structs.replace(d, peak_bandwidth=cached_peak(d))
            found.append(d)
    if args.json:
        sys.stdout.write(msgspec.json.format(msgspec.json.encode(found)).decode() + "\n")
    else:
        from kf_lsp.core.tables import render_devices

        if not any(d.backend == "cuda" for d in found):
            console.print("cuda: no CUDA GPU found (CUDA kernels are compiled and resource-checked only)")
        render_devices(console, found)
    return EXIT_OK


# -- kf optimize / kf archive ---------------------------------------------------------

EXAMPLES_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")
DEFAULT_EXAMPLE = os.path.join(EXAMPLES_DIR, "sycl", "transpose.cpp") + ":transpose"


def _llm_operator(config, seed: int = 0):
    """The LLM operator (evolver.llm_operator.LLMOperator), when that module is present, over
    the fronts' watched client: a failure is said once on stderr, and a refused key or an
    unknown model ends the LLM's part of the search after that one request."""
    try:
        from evolver.llm_operator import LLMOperator  # type: ignore[import-not-found]
    except ImportError:
        raise InputError("--llm-base-url: the LLM operator is not available in this installation") from None
    from kf_lsp.core.failures import WatchedClient

    def said(f) -> None:
        sys.stderr.write(f"kf: {f.summary()}: {f.message}; the search goes on with tuning only\n")

    client = WatchedClient(config, said, seed=seed)
    op = LLMOperator(config, client=client, seed=seed)
    op.close = client.close  # the operator closes only a client it made; the search's end closes this one
    return op


def _show(path: str) -> str:
    rel = os.path.relpath(path)
    return path if rel.startswith("..") else rel


def _describe(grid):
    def describe(cell):
        if cell is None:
            return ""
        try:
            return grid.describe_cell(list(cell))
        except (ValueError, IndexError):
            return str(cell)
    return describe


def cmd_optimize(args: argparse.Namespace, console: Console) -> int:
    bundled = args.target is None
    if args.budget < 1:
        raise InputError(f"--budget must be at least 1, got {args.budget}")
    if args.time is not None and args.time <= 0:
        raise InputError(f"--time must be positive, got {args.time:g}")
    if args.min_effect is not None and not 0 <= args.min_effect < 1:
        raise InputError(f"--min-effect must be in [0, 1), e.g. 0.05 for 5%, got {args.min_effect:g}")
    if args.blocks < 1:
        raise InputError(f"--blocks must be at least 1, got {args.blocks}")
    if args.apply and bundled:
        raise InputError("--apply needs an explicit FILE:KERNEL (the bundled example is left as it is)")
    if bool(args.llm_base_url) != bool(args.model):
        raise InputError("--llm-base-url and --model go together")
    if args.target and _is_python_target(args.target):
        args.target = _stub_from_reference(args, console)
    elif getattr(args, "language", None):
        raise InputError("--language is for a Python reference (kf optimize ref.py:FUNCTION --language cuda|sycl)")
    elif getattr(args, "set", None):
        raise InputError("--set is for the stub drafted from a Python reference (kf optimize ref.py:FUNCTION --language "
                         "cuda|sycl --set NAME=VALUE); a kernel file's sizes are its `// @kf NAME = VALUE` lines")
    ref = _unit(args.target or DEFAULT_EXAMPLE, flags=args.flags)
    _spec_problems(ref)
    refusal = nothing_to_try(ref, bool(args.llm_base_url), "cli")  # before any compile (kf_lsp/core/preflight.py)
    if refusal is not None:
        raise InputError(refusal.message)

    import asyncio

    from evolver.descriptors import SEARCH_GRID
    from evolver.engine import Search
    from evolver.records import Budget, LLMConfig, SearchConfig
    from evolver.store import Store, default_path, workspace_of
    from evolver.tuning import TuningOperator

    from evolver.records import Finished

    from .progress import SearchProgress

    remote = getattr(args, "remote", None)
    try:
        if remote and not args.fallback_local:  # a device of a matching remote worker runs it
            if args.backend not in (None, ref.kernel.language):
                raise SelectionError(f"a {ref.kernel.language} kernel runs on the {ref.kernel.language} backend, not {args.backend}")
            backend, device = ref.kernel.language, 0
        else:
            backend, device = choose(ref.kernel.language, args.backend, args.device)
    except SelectionError as e:
        raise InputError(str(e)) from None
    if device is None:
        raise InputError(f"no {backend} device here: optimizing needs one to run on (kf devices lists them)")
    if remote and not args.fallback_local:
        device_name = f"remote {args.remote_target or backend} at {remote}"
    else:
        device_name = next((f"{d.kind}: {d.name}" for d in devices(backend) if d.index == device), f"{backend}:{device}")
    db = args.db or default_path(workspace_of(ref.path))
    llm = LLMConfig(base_url=args.llm_base_url, model=args.model or "") if args.llm_base_url else LLMConfig()
    config = SearchConfig(budget=Budget(evaluations=args.budget, wall_seconds=args.time), tuning=args.tuning,
                          llm=llm, eval_seconds=args.eval_seconds, seed=args.seed, min_effect=args.min_effect,
                          final_blocks=args.blocks)
    operators = [TuningOperator(args.tuning, seed=args.seed)]
    if args.llm_base_url:
        operators.append(_llm_operator(llm, args.seed))
    try:
        store = Store(db)
    except Exception as e:  # sqlite3.Error, OSError
        raise InputError(f"{db}: cannot open the database: {e}") from None
    k = ref.kernel
    where = f"{os.path.relpath(ref.path)}:{k.name_range.start.line + 1}"
    if bundled and not args.json:
        console.print(f"no FILE given: optimizing the bundled example {os.path.relpath(ref.path)}:{k.name}")
    with store, _make_pool(args, backend, [device]) as pool:
        search = Search(ref, pool, store, config, operators, SEARCH_GRID, backend=backend, device=device,
                        device_name=device_name)
        if not args.json:
            console.print(f"optimizing [bold]{k.name}[/bold] ({where}) on {backend} {device_name}; "
                          f"database {_show(db)}", highlight=False)
        interrupted = False
        with SearchProgress(console, k.name, args.budget, enabled=not args.json) as progress:
            async def go():
                try:
                    return await search.run(progress)
                finally:
                    for op in operators:
                        close = getattr(op, "close", None)
                        if close is not None and asyncio.iscoroutinefunction(close):
                            await close()

            try:
                finished = asyncio.run(go())
            except KeyboardInterrupt:  # Ctrl-C: the search recorded "cancelled"; report the best so far
                interrupted = True
                finished = progress.finished or Finished("cancelled", None, search.done)
        return _report_optimize(args, console, ref, search, operators, finished, interrupted, bundled)


def _is_python_target(target: str) -> bool:
    path = target.rpartition(":")[0] if ":" in target and not os.path.exists(target) else target
    return path.endswith(".py")


def _sizes_set(items: list[str]) -> dict[str, int]:
    """`--set NAME=VALUE` (repeatable) as {NAME: VALUE}; one clear message for a malformed one."""
    wrong = "--set {item}: expected NAME=INTEGER, e.g. --set batch_size=16"
    return _assignments(items, lambda v: int(v.strip().replace("_", ""), 0), wrong, wrong)


def _stub_from_reference(args: argparse.Namespace, console: Console) -> str:
    """`kf optimize ref.py[:func] --language L`: the stub kernel file next to the reference
    (drafted once; an existing one is used as it is), as the FILE:KERNEL to optimize."""
    from backends.judge.stub_draft import DraftError, draft_stub, kernel_name, stub_path

    target = args.target
    path, sep, function = target.rpartition(":")
    if not sep or not function.isidentifier() or os.path.exists(target):
        path, function = target, ""
    if not getattr(args, "language", None):
        raise InputError(f"{path}: a Python reference: say which kernel language to write with --language cuda|sycl")
    if not os.path.isfile(path):
        raise InputError(f"{path}: no such file")
    stub = stub_path(path, function or None, args.language)
    name = kernel_name(path, function or None)
    chosen = _sizes_set(getattr(args, "set", None) or [])
    if os.path.exists(stub):
        if chosen:
            raise InputError(f"{_show(stub)}: the stub exists, so --set does not redraft it: edit its `// @kf NAME = "
                             "VALUE` lines, or delete it to draft it again with --set")
        if not args.json:
            console.print(f"using the existing {_show(stub)} (delete it to draft it again)", highlight=False)
        return f"{stub}:{name}"
    try:
        stub, text = draft_stub(path, function or None, args.language, chosen)
    except DraftError as e:
        raise InputError(str(e)) from None
    with open(stub, "w", encoding="utf-8") as f:
        f.write(text)
    if not args.json:
        console.print(f"wrote {_show(stub)}: a stub kernel `{name}` with a spec drafted from {_show(path)} "
                      "(edit its sizes to change the problem)", highlight=False)
        for line in text.splitlines():  # the sizes scaled down to fit memory (backends/judge/stub_draft.py)
            if line.startswith("// Note: "):
                console.print("note: " + line[len("// Note: "):], markup=False, highlight=False)
    return f"{stub}:{name}"


def _report_optimize(args, console: Console, ref, search, operators, finished, interrupted: bool,
                     bundled: bool) -> int:
    """The end of `kf optimize`: one table from one measurement (the final re-time measures
    the original and the top variants together), the tuning summary from the same figures."""
    from evolver.descriptors import grid_for

    from .progress import cell_legend, results_table

    k = ref.kernel
    reference = search.final_reference or search.reference_variant
    if search.finals:
        rows = ([reference] if reference else []) + list(search.finals)
    else:  # no re-time (nothing faster, or interrupted): the search's own figures, said so
        rows = ([search.reference_variant] if search.reference_variant else []) + \
            [v for v in search.archive.elites() if v.operator != "reference"][:3]
    if getattr(search, "stub", False):  # no original: the stub's own entry is no kernel to show
        rows = [v for v in rows if v.operator != "reference"]
    cell_len = next((len(v.cell) for v in rows if v.cell), 3)
    describe = _describe(grid_for(cell_len))
    applied = None
    baseline = getattr(search, "baseline", None)
    if args.apply and finished.best is not None and not interrupted:
        applied = apply_variant(ref, finished.best)
    elif args.apply and baseline is not None and not interrupted:  # a stub: the first correct kernel is a result
        applied = apply_variant(ref, baseline)
    tuning = next((_summary(op, finished.best) for op in operators if hasattr(op, "summary")), "")
    if args.json:
        out = {"search": search.key, "reason": finished.reason, "evaluations": finished.evaluations,
               "stub": bool(getattr(search, "stub", False)), "baseline": baseline,
               "confirmations": search.confirmations, "known": search.known,
               "evaluated_here": search.evaluated_here, "rejected": search.rejected,
               "best": finished.best, "reference": reference, "finals": search.finals,
               "min_effect": finished.min_effect, "note": finished.note,
               "tuning": tuning, "applied": applied is not None}
        sys.stdout.write(msgspec.json.format(msgspec.json.encode(out)).decode() + "\n")
    else:
        extra = [f"{search.confirmations} second looks"] if search.confirmations else []
        if search.rejected:
            extra.append(f"{search.rejected} replies rejected")
        if getattr(search, "unanswered", 0):
            extra.append(f"{search.unanswered} LLM requests failed")
        if search.known:
            extra.append(f"{search.known} known proposals not repeated")
        title = (f"{k.name}: {finished.evaluations} evaluations ({finished.reason})"
                 + (f", {', '.join(extra)}" if extra else "")
                 + ("; figures re-timed together" if search.finals else ""))
        if rows or finished.reason != "error":
            console.print(results_table(title, rows, describe))
        else:
            console.print(title, highlight=False)
        for line in cell_legend(rows, describe):
            console.print(line, markup=False, highlight=False)
        if finished.reason == "budget" and not search.generation_count:
            console.print(f"(this search already had {finished.evaluations} evaluations: pass a larger "
                          "--budget to continue it)", highlight=False)
        if tuning:
            console.print("tuning: " + tuning.replace("\n", "\n        "), markup=False, highlight=False)
        b = finished.best
        effect = f"; min effect {finished.min_effect * 100:.0f}%" if finished.min_effect is not None else ""
        if getattr(search, "stub", False):
            if baseline is not None:
                console.print(f"no original kernel ({k.name} was a stub): the first correct kernel, variant "
                              f"{baseline.id[:10]} by {baseline.operator}, is the baseline; speedups are relative to "
                              "it", highlight=False)
            elif not interrupted and finished.reason != "error":
                console.print(f"no original kernel ({k.name} is a stub) and no correct kernel was written: nothing "
                              "to measure yet (more --budget, or a more capable model)", highlight=False)
        if interrupted:
            if b is not None:
                console.print(f"interrupted: best so far {b.speedup:.2f}x [{b.speedup_low:.2f}-{b.speedup_high:.2f}] "
                              f"(confirmed by a second measurement, not re-timed): {b.operator} "
                              + ", ".join(f"{n}={v}" for n, v in b.tunables.items()), highlight=False)
            else:
                console.print("interrupted: no confirmed improvement so far", highlight=False)
            console.print("the search is recorded as cancelled; run the same command to continue it",
                          highlight=False)
        elif b is not None:
            change = ", ".join(f"{n}={v}" for n, v in b.tunables.items())
            blocks = sum(1 for x in b.blocks if x.stage == "final")
            console.print(f"[green]best: {b.speedup:.2f}x faster[/green] (interval {b.speedup_low:.2f}-"
                          f"{b.speedup_high:.2f} over {blocks} interleaved re-time blocks{effect}; verified "
                          f"against the original on fresh inputs): {b.operator} {change}", highlight=False)
            if applied:
                console.print(f"applied to {os.path.relpath(ref.path)} (original kept in "
                              f"{os.path.relpath(applied)})", highlight=False)
            elif not args.apply:
                target = args.target or os.path.relpath(ref.path) + ":" + k.name
                console.print(f"kf optimize {target} --apply writes it into the file", highlight=False)
        elif finished.reason == "error":
            console.print("[red]the search could not start[/red]: see the error above")
        elif getattr(search, "stub", False):
            if baseline is not None:
                console.print("no variant was verified faster than the baseline" + (
                    f"; applied the baseline to {os.path.relpath(ref.path)}" if applied else
                    f"; kf optimize {args.target} --apply writes the baseline into the file"), highlight=False)
        else:
            console.print("no verified improvement: the original stays the best" + (
                f" ({effect[2:]})" if effect else ""), highlight=False)
        if finished.note and not interrupted:
            console.print(f"note: {finished.note}", markup=False, highlight=False)
    if interrupted:
        return 130
    if finished.reason == "error":  # the original, its spec or the LLM configuration: bad input
        return EXIT_INPUT
    if getattr(search, "stub", False) and getattr(search, "baseline", None) is not None:
        return EXIT_OK  # from a stub, a verified first kernel is the result
    return EXIT_OK if finished.best is not None else EXIT_FAILED


def _summary(op, best) -> str:
    try:
        return op.summary(best)
    except TypeError:
        return op.summary()


def _grid_tables(grid, cells: dict, best_id: str | None) -> list:
    """Tables of two axes each, one per combination of the other axes' levels that holds
    an elite. The two axes are the ones along which the elites differ most (a tuning-only
    search spreads over the launch axes, an LLM search over the code axes)."""
    from rich.table import Table

    dims = grid.grid_dims()
    n = len(dims)
    spread = [len({c[i] for c in cells}) for i in range(n)]
    order = sorted(range(n), key=lambda i: (-spread[i], i))
    a, b = order[0], (order[1] if n > 1 else None)
    rest_axes = sorted(order[2:])
    combos = sorted({tuple(c[i] for i in rest_axes) for c in cells}) or [tuple(0 for _ in rest_axes)]
    tables = []
    for rest in combos:
        title = ", ".join(f"{grid.axes[i].name}: {grid.axes[i].levels[r]}" for i, r in zip(rest_axes, rest))
        t = Table(title=title or None, title_justify="left")
        t.add_column(f"{grid.axes[a].name} \\ {grid.axes[b].name}" if b is not None else grid.axes[a].name)
        cols = range(dims[b]) if b is not None else range(1)
        for j in cols:
            t.add_column(grid.axes[b].levels[j] if b is not None else "", justify="center")
        for i in range(dims[a]):
            row = [grid.axes[a].levels[i]]
            for j in cols:
                key = [0] * n
                key[a] = i
                if b is not None:
                    key[b] = j
                for ax, r in zip(rest_axes, rest):
                    key[ax] = r
                v = cells.get(tuple(key))
                if v is None:
                    row.append("[dim]·[/dim]")
                else:
                    mark = " *" if v.id == best_id else ""
                    row.append(f"{v.speedup:.2f}x{mark}" if v.speedup is not None else "?")
            t.add_row(*row)
        tables.append(t)
    return tables


def cmd_archive(args: argparse.Namespace, console: Console) -> int:
    from evolver.archive import best_history
    from evolver.descriptors import grid_for
    from evolver.store import Store, default_path, workspace_of

    path, name = split_target(args.target)
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    db = args.db or default_path(workspace_of(path))
    if not os.path.exists(db):
        raise InputError(f"{db}: no kf database here (kf optimize creates it)")
    with Store(db) as store:
        keys = store.searches(path, name)
        if not keys:
            raise InputError(f"{path}{':' + name if name else ''}: no search in {db} (run kf optimize first)")
        key = keys[0]
        elites = store.elites(key.id)
        finals = store.finals(key.id)
        final_reference = store.final_reference(key.id)
        variants = store.variants(key.id)
        status = store.search_status(key.id)
        attempts = store.attempts(key.id)
    cell_len = next((len(c) for c, _ in elites if c), 3)
    grid = grid_for(cell_len)
    describe = _describe(grid)
    cells = {tuple(c): v for c, v in elites}
    best = next((v for v in finals if v.ok and v.significant), None)
    # the best is marked only where the grid holds it (the final re-time puts it in its cell)
    best_id = best.id if best is not None and any(v.id == best.id for v in cells.values()) else None
    evaluated = [v for v in variants if v.result is not None and v.operator != "reference"]
    failed = sum(1 for v in evaluated if not v.ok)
    rejected = [v for v in variants if v.result is None and v.operator != "reference"]
    known = [a for a in attempts if a.kind == "known"]
    evolutions = [a for a in attempts if a.kind == "prompt-evolution"]
    doc = {
        "search": key, "status": status, "dims": grid.grid_dims(), "axes": [a.to_dict() for a in grid.axes],
        "evaluated": len(evaluated), "failures": failed,
        "rejected": sum(v.count for v in rejected), "rejected_distinct": len(rejected),
        "known": sum(a.count for a in known),
        "variants": len(evaluated),
        "cells": [{"cell": list(c), "description": describe(list(c)), "variant": v.id, "operator": v.operator,
                   "speedup": v.speedup, "speedup_low": v.speedup_low, "speedup_high": v.speedup_high,
                   "re_timed": any(b.stage == "final" for b in v.blocks), "confirmed": v.confirmed,
                   "time_median": v.time_median, "tunables": v.tunables, "best": v.id == best_id}
                  for c, v in elites],
        "reference": None if final_reference is None else {"time_median": final_reference.time_median},
        "finals": [{"variant": v.id, "verdict": v.verdict.value, "speedup": v.speedup, "speedup_low": v.speedup_low,
                    "speedup_high": v.speedup_high, "significant": v.significant, "tunables": v.tunables,
                    "operator": v.operator, "cell": v.cell, "time_median": v.time_median,
                    "blocks": [msgspec.to_builtins(b) for b in v.blocks]} for v in finals],
        "rejections": [{"operator": v.operator, "verdict": v.verdict.value, "reason": v.message, "count": v.count}
                       for v in rejected],
        "attempts": [msgspec.to_builtins(a) for a in known + evolutions],
        "history": best_history(variants, finals if finals or status in ("budget", "time", "tokens", "patience",
                                                                         "exhausted") else None),
    }
    if args.json:
        data = msgspec.json.format(msgspec.json.encode(doc)).decode() + "\n"
        if args.json == "-":
            sys.stdout.write(data)
            return EXIT_OK
        with open(args.json, "w", encoding="utf-8") as f:
            f.write(data)
    counts = f"{len(evaluated)} variants evaluated ({failed} failed)"
    if rejected:
        total = sum(v.count for v in rejected)
        counts += f", {total} replies rejected" + (f" ({len(rejected)} distinct)" if total != len(rejected) else "")
    if known:
        counts += f", {sum(a.count for a in known)} known proposals not repeated"
    console.print(f"[bold]{key.kernel}[/bold] in {os.path.relpath(key.path)} on {key.backend} {key.device}: "
                  f"{counts}, {len(elites)} cells filled, status {status}", highlight=False)
    try:
        for t in _grid_tables(grid, cells, best_id):
            console.print(t)
    except (IndexError, ValueError):  # cells from another grid
        for c, v in elites:
            console.print(f"  {list(c)}: {v.speedup:.2f}x")
    for c, v in elites:
        tag = "re-timed" if any(b.stage == "final" for b in v.blocks) else \
            ("confirmed" if v.confirmed else "one measurement")
        console.print(f"  cell {','.join(str(x) for x in c)}: {v.speedup:.2f}x "
                      f"[{(v.speedup_low or 0):.2f}-{(v.speedup_high or 0):.2f}] {tag}  {_change(v)}"
                      + ("  *" if v.id == best_id else ""), markup=False, highlight=False)
    if best is not None:
        where = "  (* in the grid)" if best_id else ""
        console.print(f"best (re-timed): {best.speedup:.2f}x [{best.speedup_low:.2f}-{best.speedup_high:.2f}] "
                      + _change(best) + where, highlight=False)
    elif finals:
        console.print("no variant was verified faster on the final re-time", highlight=False)
    if evolutions:
        console.print(f"prompt evolution: {len(evolutions)} rounds: "
                      + "; ".join(f"{a.detail}: {a.outcome}" for a in evolutions[-3:]), markup=False, highlight=False)
    if args.json and args.json != "-":
        console.print(f"wrote {args.json}", highlight=False)
    return EXIT_OK


def _change(v) -> str:
    if v.operator == "reference":
        return "original"
    tun = ", ".join(f"{n}={x}" for n, x in v.tunables.items())
    return f"{v.operator} {tun}".strip()


def build_parser(fronts: Sequence[Callable[[Any], None]] = ()) -> argparse.ArgumentParser:
    """The `kf` parser; `fronts` add the subcommands of the other fronts (kf_lsp/main.py)."""
    p = argparse.ArgumentParser(prog="kf", description="Find, measure and speed up CUDA and SYCL kernels.")
    sub = p.add_subparsers(dest="command", required=True)

    b = sub.add_parser("bench", help="compile, verify, time and profile a kernel (optionally against a candidate)")
    b.add_argument("target", help="FILE[:KERNEL]")
    b.add_argument("--candidate", metavar="FILE[:KERNEL]", help="a variant to verify against TARGET and time")
    b.add_argument("--backend", choices=("cuda", "sycl"))
    b.add_argument("--device", type=int, help="device index (kf devices lists them)")
    b.add_argument("--tune", action="append", metavar="NAME=VALUE", help="bind a tunable (repeatable)")
    b.add_argument("--seeds", type=int, default=3, help="input seeds per problem size (default 3)")
    b.add_argument("--time-budget", type=float, default=1.0, metavar="S",
                   help="the most seconds of timed trials (default 1; timing stops earlier once --noise is met)")
    b.add_argument("--noise", type=float, default=0.02, metavar="F",
                   help="stop timing once every median's 95%% interval is within +-F (default 0.02; 0: time the "
                        "whole budget)")
    b.add_argument("--min-effect", type=float, default=0.02, metavar="F",
                   help="smallest speedup called significant, e.g. 0.05 for 5%% (default 0.02, the search's floor)")
    b.add_argument("--timeout", type=float, default=30.0, metavar="S", help="a launch longer than this is a hang")
    b.add_argument("--ncu", action="store_true", help="also collect Nsight Compute metrics (CUDA, where ncu exists)")
    b.add_argument("--json", action="store_true", help="print the result as JSON (docs/results.md)")
    b.add_argument("--flags", action="append", metavar='"FLAGS"', help="compiler flags for files without a compile_commands.json entry, e.g. "
                        '--flags="-DENABLE_BF16 -Iinclude" (repeatable; a file\'s `// @kf flags` lines are added)')
    from backends.run.pool import add_remote_arguments

    add_remote_arguments(b)
    b.set_defaults(func=cmd_bench)

    w = sub.add_parser("worker", help="serve this host's devices to a Dask scheduler (one worker process per device)")
    w.add_argument("scheduler", help="the scheduler's address: tls://HOST:PORT (tcp:// only on loopback)")
    w.add_argument("--devices", action="append", metavar="LIST",
                   help="devices to serve, e.g. 0,1 or cuda:0,sycl:0 (default: all; kf devices lists them)")
    w.add_argument("--backend", choices=("cuda", "sycl"), help="serve only this backend's devices")
    w.add_argument("--nthreads", type=int, default=1, help="threads per worker process (default 1)")
    w.add_argument("--tls-ca", metavar="PEM", default=os.environ.get("KF_TLS_CA"), help="CA certificate (default $KF_TLS_CA)")
    w.add_argument("--tls-cert", metavar="PEM", default=os.environ.get("KF_TLS_CERT"), help="this worker's certificate")
    w.add_argument("--tls-key", metavar="PEM", default=os.environ.get("KF_TLS_KEY"), help="its private key")
    w.add_argument("--host", help="interface to listen on (default: loopback for tcp://, else the one facing the scheduler)")
    w.add_argument("--name", help="worker name prefix (default: hostname-pid)")
    w.add_argument("--no-restart", action="store_true", help="do not restart a worker process that dies")
    w.set_defaults(func=cmd_worker)

    kl = sub.add_parser("kernels", help="list the kernels kf finds in files (the names bench and spec take)")
    kl.add_argument("files", nargs="+", metavar="FILE")
    kl.add_argument("--json", action="store_true", help="print the list as JSON")
    kl.set_defaults(func=cmd_kernels)

    s = sub.add_parser("spec", help="print a draft spec for a kernel, read from the host code that launches it "
                                    "and its body")
    s.add_argument("target", help="FILE[:KERNEL]")
    s.add_argument("--check", action="store_true",
                   help="run the original with its existing spec and report what keeps it from verifying anything")
    s.add_argument("--backend", choices=("cuda", "sycl"))
    s.add_argument("--device", type=int, help="device index (kf devices lists them)")
    s.add_argument("--timeout", type=float, default=30.0, metavar="S", help="a launch longer than this is a hang")
    s.add_argument("--flags", action="append", metavar='"FLAGS"', help="compiler flags for files without a compile_commands.json entry, e.g. "
                        '--flags="-DENABLE_BF16 -Iinclude" (repeatable; a file\'s `// @kf flags` lines are added)')
    s.set_defaults(func=cmd_spec)

    d = sub.add_parser("devices", help="list backends and devices with their peak bandwidth")
    d.add_argument("--measure", action="store_true", help="measure peak bandwidth now (cached afterwards)")
    d.add_argument("--json", action="store_true")
    d.set_defaults(func=cmd_devices)
    o = sub.add_parser("optimize", help="search for a faster variant of a kernel (tuning, and an LLM when configured)")
    o.add_argument("target", nargs="?", help="FILE:KERNEL (default: the bundled SYCL transpose example), or a Python "
                   "reference ref.py:FUNCTION or a KernelBench task.py with --language: a stub kernel is drafted "
                   "next to it and the LLM writes the first kernel")
    o.add_argument("--language", choices=("cuda", "sycl"), help="the kernel language to write for a Python reference")
    o.add_argument("--set", action="append", metavar="NAME=VALUE",
                   help="a size of the stub drafted from a Python reference (repeatable, e.g. --set batch_size=16): "
                        "kept as given, where the draft would otherwise scale the reference's sizes to fit 256 MiB")
    o.add_argument("--budget", type=int, default=16, metavar="N", help="evaluations (default 16)")
    o.add_argument("--time", type=float, metavar="SECONDS", help="wall-time budget")
    o.add_argument("--backend", choices=("cuda", "sycl"))
    o.add_argument("--device", type=int, help="device index (kf devices lists them)")
    o.add_argument("--tuning", choices=("auto", "exhaustive", "random", "bayes"), default="auto",
                   help="how tunables are searched (default auto: exhaustive when the space fits the budget)")
    o.add_argument("--llm-base-url", metavar="URL", help="an OpenAI-compatible endpoint for the LLM operator")
    o.add_argument("--model", metavar="NAME", help="the model name at --llm-base-url")
    o.add_argument("--db", metavar="PATH", help="the database (default: <workspace>/.kf/kf.db)")
    o.add_argument("--eval-seconds", type=float, default=0.5, metavar="S", help="timing per kernel per evaluation")
    o.add_argument("--seed", type=int, default=0)
    o.add_argument("--min-effect", type=float, metavar="F",
                   help="smallest speedup claimed as faster, e.g. 0.05 for 5%% (default: the noise measured "
                        "between re-time blocks, 2-10%%; docs/search.md)")
    o.add_argument("--blocks", type=int, default=3, metavar="N",
                   help="interleaved re-time blocks behind the final claim (default 3)")
    o.add_argument("--apply", action="store_true", help="write the best variant into the file (backup FILE.kf-orig)")
    o.add_argument("--json", action="store_true", help="print the result as JSON")
    o.add_argument("--flags", action="append", metavar='"FLAGS"', help="compiler flags for files without a compile_commands.json entry, e.g. "
                        '--flags="-DENABLE_BF16 -Iinclude" (repeatable; a file\'s `// @kf flags` lines are added)')
    add_remote_arguments(o)
    o.set_defaults(func=cmd_optimize)

    a = sub.add_parser("archive", help="show a kernel's search archive as a grid of cells; export JSON")
    a.add_argument("target", help="FILE[:KERNEL]")
    a.add_argument("--db", metavar="PATH", help="the database (default: <workspace>/.kf/kf.db)")
    a.add_argument("--json", metavar="FILE", help="also write the archive as JSON to FILE ('-': stdout only)")
    a.set_defaults(func=cmd_archive)

    for add in fronts:
        add(sub)
    return p


def _joined_flags(argv: list[str]) -> list[str]:
    """`--flags "-I../include"` as `--flags=-I../include`: argparse takes a value starting with
    `-` for an option and refused the usage line's own form (`kf bench: error: argument --flags:
    expected one argument`)."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] == "--flags" and i + 1 < len(argv):
            out.append("--flags=" + argv[i + 1])
            i += 2
            continue
        if argv[i] == "--":
            out += argv[i:]
            break
        out.append(argv[i])
        i += 1
    return out


def main(argv: Sequence[str] | None = None, fronts: Sequence[Callable[[Any], None]] = ()) -> int:
    parser = build_parser(fronts)
    args = parser.parse_args(_joined_flags(list(sys.argv[1:] if argv is None else argv)))
    console = Console(stderr=False, highlight=False)
    try:
        return args.func(args, console)
    except InputError as e:
        for line in str(e).splitlines() or [""]:  # one line per problem, never wrapped: editors and scripts parse them
            sys.stderr.write(f"kf: {line}\n")
        return EXIT_INPUT
    except KeyboardInterrupt:
        sys.stderr.write("kf: interrupted\n")
        return 130

