"""A stub kernel file drafted from a Python reference (`kf optimize ref.py:func --language L`).

The reference is user code: it is inspected in a separate Python process with a time limit
(never in kf's own process), which reports the shapes and types of its example inputs and of
its outputs:

- `ref.py:func`: the module's `get_inputs()` gives example inputs, in the order of the
  function's parameters (arrays or tensors for buffers, numbers for sizes); calling the
  function on them gives the outputs;
- `task.py` (KernelBench): `Model(*get_init_inputs())` and `get_inputs()`, run on PyTorch's
  "meta" device when it can (shapes without allocating 6 GB), for real otherwise.

Each dimension of a shape is named after a module-level integer of that value (KernelBench's
`batch_size`, `dim`), else `d0`, `d1`, ...; these become the spec's variables and the
kernel's `int` parameters, each buffer's length their product. Float outputs are `float`.
The launch is one thread / work-item per element of the first output. The body is
`// @kf stub`: the search's LLM writes the first kernel (docs/spec.md).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass

__all__ = ["DraftError", "draft_stub", "stub_path"]

INSPECT_SECONDS = 120.0
DRAFT_BYTES = 256 << 20
"""The buffers of a drafted stub take at most this much memory: KernelBench's GPU sizes
(4096 x 393216 floats: 6 GiB a buffer, twice that as the reference's float64 copy) are
scaled down to it, said in the stub, so that `kf bench` and a search run on any machine."""
_BYTES = {"float16": 2, "bfloat16": 2, "float64": 8, "int64": 8, "int16": 2, "int8": 1, "uint8": 1, "bool": 1}
_C_TYPE = {"float32": "float", "float64": "double", "float16": "half", "int32": "int", "int64": "long long",
           "uint8": "unsigned char", "int8": "signed char", "bool": "unsigned char", "int16": "short",
           "uint32": "unsigned", "bfloat16": "float"}


class DraftError(Exception):
    """Why no stub could be drafted: one line naming the file (and line where known)."""


@dataclass
class _Array:
    name: str
    shape: list[int]
    dtype: str


def stub_path(ref_path: str, function: str | None, language: str) -> str:
    stem = os.path.splitext(os.path.basename(ref_path))[0]
    ext = ".cu" if language == "cuda" else ".cpp"
    name = f"{stem}_{function}" if function else stem
    return os.path.join(os.path.dirname(os.path.abspath(ref_path)), name + ext)


def kernel_name(ref_path: str, function: str | None) -> str:
    if function:
        return function
    stem = os.path.splitext(os.path.basename(ref_path))[0]
    name = re.sub(r"\W+", "_", stem).strip("_").lower()
    name = re.sub(r"^[\d_]+", "", name) or "kernel"
    return name


def _inspect(ref_path: str, function: str | None) -> dict:
    cmd = [sys.executable, "-m", "backends.judge.stub_draft", os.path.abspath(ref_path), function or ""]
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=INSPECT_SECONDS, env=env,
                             stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise DraftError(f"{ref_path}: running its example inputs took longer than {INSPECT_SECONDS:g}s") from None
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
    if out.returncode != 0 or not lines:
        tail = (out.stderr.strip().splitlines() or ["no output"])[-1]
        raise DraftError(f"{ref_path}: could not inspect the reference: {tail}")
    data = json.loads(lines[-1])
    if "error" in data:
        where = f"{ref_path}:{data['line']}" if data.get("line") else ref_path
        raise DraftError(f"{where}: {data['error']}")
    return data


def _names(arrays: list[_Array], sizes: dict[str, int]) -> tuple[dict[int, list[str]], dict[str, int]]:
    """Each array's dimension names and the variables they need."""
    by_value: dict[int, list[str]] = {}
    for k, v in sizes.items():
        by_value.setdefault(v, []).append(k)
    variables: dict[str, int] = {}
    fresh = 0
    dims: dict[int, list[str]] = {}
    for i, a in enumerate(arrays):
        used: list[str] = []
        for d in a.shape:
            pick = next((n for n in by_value.get(d, []) if n not in used), None)
            if pick is None:
                pick = next((n for n, v in variables.items() if v == d and n.startswith("d") and n not in used), None)
            if pick is None:
                pick = f"d{fresh}"
                fresh += 1
            used.append(pick)
            variables[pick] = d
        dims[i] = used
    return dims, variables


def _buffer_bytes(arrays: list[_Array], dims: dict[int, list[str]], values: dict[str, int]) -> int:
    total = 0
    for i, a in enumerate(arrays):
        n = 1
        for d in dims[i]:
            n *= values[d]
        total += n * _BYTES.get(a.dtype, 4)
    return total


def _fit(arrays: list[_Array], dims: dict[int, list[str]], variables: dict[str, int],
         scalable: set[str], chosen: dict[str, int] | None = None) -> tuple[dict[str, int], str]:
    """The sizes halved, largest first, until the buffers take at most DRAFT_BYTES (only
    the sizes the reference takes from the spec: its module-level integers and parameters,
    never one the user `chosen`); and a note saying what changed, or ""."""
    chosen = chosen or {}
    values = {**variables, **chosen}
    scalable = scalable - set(chosen)
    need = _buffer_bytes(arrays, dims, values)
    if need <= DRAFT_BYTES:
        return values, _chosen_note(chosen, need)
    while _buffer_bytes(arrays, dims, values) > DRAFT_BYTES:
        big = max((k for k in values if k in scalable and values[k] > 1), key=lambda k: values[k], default=None)
        if big is None:
            break
        values[big] = (values[big] + 1) // 2
    changed = [k for k in values if values[k] != variables[k] and k not in chosen]
    got = _buffer_bytes(arrays, dims, values)
    if not changed:
        return values, _chosen_note(chosen, got)
    note = (f"the reference's sizes ({', '.join(f'{k} = {variables[k]}' for k in changed)}) need "
            f"{need / 2**30:.1f} GiB of buffers (more again as the reference's float64 copies); the "
            f"draft uses {', '.join(f'{k} = {values[k]}' for k in changed)} ({got / 2**20:.0f} MiB): edit them below "
            "to change the problem")
    return values, "; ".join(x for x in (_chosen_note(chosen, got), note) if x)


def _chosen_note(chosen: dict[str, int], got: int) -> str:
    if not chosen:
        return ""
    big = f" ({got / 2**30:.1f} GiB of buffers)" if got > DRAFT_BYTES else ""
    return f"sizes set with --set: {', '.join(f'{k} = {v}' for k, v in chosen.items())}{big}"


def _check_chosen(ref_path: str, chosen: dict[str, int], variables: dict[str, int], scalable: set[str]) -> None:
    """A size the user set must be one the spec passes to the reference (else the reference
    would run at its own value while the kernel ran at the user's)."""
    for k, v in chosen.items():
        if k not in variables:
            names = ", ".join(sorted(scalable)) or "none: its shapes are fixed in the code"
            raise DraftError(f"{ref_path}: --set {k}={v}: the reference has no size named {k} (sizes it takes: {names})")
        if k not in scalable:
            raise DraftError(f"{ref_path}: --set {k}={v}: {k} is a shape fixed in the reference's code, not a size it "
                             f"takes (sizes it takes: {', '.join(sorted(scalable)) or 'none'})")
        if v < 1:
            raise DraftError(f"{ref_path}: --set {k}={v}: a size must be at least 1")


def draft_stub(ref_path: str, function: str | None, language: str,
               chosen: dict[str, int] | None = None) -> tuple[str, str]:
    """(path of the stub file, its text). `chosen`: sizes the user set (`--set N=4096`), kept
    as given; the others are scaled to fit. Raises DraftError."""
    if language not in ("cuda", "sycl"):
        raise DraftError(f"--language must be cuda or sycl, not {language!r}")
    if not os.path.isfile(ref_path):
        raise DraftError(f"{ref_path}: no such file")
    data = _inspect(ref_path, function)
    inputs = [_Array(**a) for a in data["inputs"]]
    outputs = [_Array(**a) for a in data["outputs"]]
    scalars: dict[str, float | int] = data.get("scalars", {})
    sizes = {k: int(v) for k, v in data.get("sizes", {}).items()}
    if not outputs:
        raise DraftError(f"{ref_path}: the reference returned no array")
    arrays = inputs + outputs
    dims, variables = _names(arrays, sizes)
    _check_chosen(ref_path, chosen or {}, variables, set(sizes))
    variables, note = _fit(arrays, dims, variables, set(sizes), chosen)
    name = kernel_name(ref_path, function)
    path = stub_path(ref_path, function, language)
    out_names = {a.name for a in outputs}
    lines: list[str] = []
    target = os.path.basename(ref_path) + (f":{function}" if function else "")
    lines.append(f"@kf reference {target}")
    for i, a in enumerate(arrays):
        role = "out" if i >= len(inputs) else "in"
        if a.name in out_names and i < len(inputs):
            role = "inout"
        length = " * ".join(dims[i]) or "1"
        lines.append(f"@kf {role:<3} {a.name}: {_C_TYPE.get(a.dtype, 'float')}[{length}]")
    for k, v in variables.items():
        lines.append(f"@kf {k} = {v}")
    for k, v in scalars.items():
        if k not in variables:
            lines.append(f"@kf {k} = {v!r}")
    first_out = " * ".join(dims[len(inputs)]) or "1"
    if language == "cuda":
        lines += [f"@kf grid cdiv({first_out}, 256)", "@kf block 256"]
    else:
        lines += [f"@kf global roundup({first_out}, 256)", "@kf local 256"]
    params = [f"const {_C_TYPE.get(a.dtype, 'float')}* {a.name}" for a in inputs] + \
        [f"{_C_TYPE.get(a.dtype, 'float')}* {a.name}" for a in outputs] + \
        [f"int {k}" for k in variables] + \
        [f"{'float' if isinstance(v, float) else 'int'} {k}" for k, v in scalars.items() if k not in variables]
    head = (f"// {name}: a stub written by `kf optimize {target} --language {language}` from the Python reference.\n"
            "// The body is empty on purpose: the search's LLM writes the first kernel, and the first correct one\n"
            "// becomes the baseline for speedups (docs/spec.md, \"Starting from a reference\"). Edit the sizes below\n"
            "// to change the problem; run the same command again to continue the search.\n"
            + (f"// Note: {note}\n" if note else ""))
    spec = "".join(f"// {x}\n" for x in lines)
    if language == "cuda":
        body = (f"{spec}extern \"C\" __global__ void {name}({', '.join(params)}) {{\n  // @kf stub\n}}\n")
        text = head + ("#include <cuda_fp16.h>\n" if "half" in body else "") + "\n" + body
    else:
        body = (f"{spec}extern \"C\" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))\n"
                f"void {name}({', '.join(params).replace('half', 'sycl::half')}) {{\n  // @kf stub\n}}\n")
        text = head + ("#include <sycl/sycl.hpp>\nnamespace syclext = sycl::ext::oneapi;\n"
                       "namespace syclexp = sycl::ext::oneapi::experimental;\n\n") + body
    return path, text


# -- the inspection, in its own process ---------------------------------------------------------


def _describe(value, name: str) -> dict | None:
    torch = sys.modules.get("torch")
    import numpy as np

    if torch is not None and isinstance(value, torch.Tensor):
        return {"name": name, "shape": list(value.shape), "dtype": str(value.dtype).replace("torch.", "")}
    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        a = np.asarray(value)
        return {"name": name, "shape": list(a.shape), "dtype": str(a.dtype)}
    return None


def _main(path: str, function: str) -> dict:
    import importlib.util
    import inspect
    import traceback

    sys.path.insert(0, os.path.dirname(path))
    spec = importlib.util.spec_from_file_location("kf_reference_draft", path)
    mod = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(mod)
    except Exception as e:
        tb = [f for f in traceback.extract_tb(e.__traceback__) if os.path.abspath(f.filename) == path]
        return {"error": f"loading it raised {type(e).__name__}: {e}", "line": tb[-1].lineno if tb else None}
    sizes = {k: v for k, v in vars(mod).items() if isinstance(v, int) and not isinstance(v, bool)
             and not k.startswith("_") and v > 0}
    if not hasattr(mod, "get_inputs"):
        what = f"`{function}`" if function else "the module"
        return {"error": f"to draft a kernel for {what}, kf needs example inputs: define `get_inputs()` returning "
                         "them (arrays or tensors for the buffers, numbers for sizes), in the order of its parameters"}
    try:
        if function:
            fn = getattr(mod, function, None)
            if not callable(fn):
                return {"error": f"no function `{function}`"}
            example = list(mod.get_inputs())
            names = [p.name for p in inspect.signature(fn).parameters.values()]
            result = fn(*example)
        else:
            import torch

            names = None
            try:  # shapes only, nothing allocated
                with torch.device("meta"):
                    model = mod.Model(*(mod.get_init_inputs() if hasattr(mod, "get_init_inputs") else []))
                    example = list(mod.get_inputs())
                    result = model(*example)
            except Exception:
                model = mod.Model(*(mod.get_init_inputs() if hasattr(mod, "get_init_inputs") else []))
                example = list(mod.get_inputs())
                with torch.no_grad():
                    result = model(*example)
            names = [p.name for p in inspect.signature(model.forward).parameters.values()]
    except Exception as e:
        tb = [f for f in traceback.extract_tb(e.__traceback__) if os.path.abspath(f.filename) == path]
        return {"error": f"running it on get_inputs() raised {type(e).__name__}: {e}",
                "line": tb[-1].lineno if tb else None}
    inputs, scalars, params = [], {}, {}
    for i, value in enumerate(example):
        name = names[i] if names and i < len(names) else f"in{i}"
        d = _describe(value, name)
        if d is not None:
            inputs.append(d)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            scalars[name] = value  # a variable the reference takes by name
            if isinstance(value, int):
                params[name] = value
    sizes = {**params, **{k: v for k, v in sizes.items() if k not in params}}  # its own parameters name dims first
    if isinstance(result, dict):
        items = list(result.items())
    elif isinstance(result, (tuple, list)):
        items = [(f"out{i}" if len(result) > 1 else "out", r) for i, r in enumerate(result)]
    else:
        items = [("out", result)]
    outputs = [d for d in (_describe(v, str(k)) for k, v in items) if d is not None]
    for d in outputs:
        if not d["shape"]:
            d["shape"] = []
    return {"inputs": inputs, "outputs": outputs, "sizes": sizes, "scalars": scalars}


if __name__ == "__main__":
    print(json.dumps(_main(sys.argv[1], sys.argv[2])))
