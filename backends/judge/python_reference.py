"""Running a `@kf reference` in the worker: the expected outputs from the same inputs.

A reference is user code. It runs only in the worker process that evaluates (never in the
language server, which only reads it: backends/kernel/pyref.py), under the evaluation's
deadline (a hang is a timeout like a kernel's), and an exception in it is reported with the
file and line of the Python traceback.

Two kinds (docs/spec.md, "Python references"):

- `ref.py:func`, a function. Its parameters are matched by name: a parameter named like a
  buffer gets that buffer's contents (a 1-D array of the buffer's length; for an `out`
  buffer, zeros to fill in place), one named like a variable gets its value at this size.
  When no parameter is named like a buffer or a variable, the `in` and `inout` buffers are
  passed in the spec's order. It returns the outputs: one array (one `out`/`inout` buffer),
  a tuple or list (the `out`/`inout` buffers in the spec's order), a dict by buffer name, or
  None (the arrays it was given for `out`/`inout` buffers, filled in place). Arrays are NumPy
  arrays, or torch tensors when the module imports torch and not numpy, or when the
  function's parameters are annotated `torch.Tensor`.
- `task.py`, a KernelBench-style module (`Model`, `get_inputs`, `get_init_inputs`). Its
  module-level numbers named like spec variables are set to the spec's values first, so
  `get_inputs()` gives tensors of the checked size; their shapes are kept and their values
  replaced by kf's inputs. `forward`'s parameters take the `in`/`inout` buffers by name,
  else in order; parameters and buffers of the model named like an input buffer (`weight`,
  `ln.weight` or `ln_weight`) take that buffer's values; `forward`'s result (a tensor or a
  tuple) fills the `out`/`inout` buffers in order. The model is built under
  `torch.manual_seed(0)`.

Float inputs reach the reference in float64 unless the spec says `precision=float32` or
`precision=native`; the model is converted likewise. Outputs come back as float64 arrays
(integers as int64).
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import os
import sys
import traceback
from typing import Any, Mapping

import numpy as np

from backends.judge.launch import EvalFailure
from backends.kernel import dtypes
from backends.kernel.pyref import resolve_path
from backends.model import Diagnostic, Reference, Spec, Verdict

__all__ = ["expected_outputs", "reference_key", "describe"]

_MODULES: dict[str, Any] = {}  # content digest -> module, per worker process
_MODELS: dict[tuple, Any] = {}  # (digest, env, precision) -> a built KernelBench model (the last few)


def describe(ref: Reference) -> str:
    """`ref.py:func` or `task.py (KernelBench module)`, for messages."""
    return f"{ref.path}:{ref.function}" if ref.function else f"{ref.path} (KernelBench module)"


def reference_key(kernel_path: str, ref: Reference) -> str:
    """What a stored reference output depends on: the file's bytes, the function, precision."""
    full = resolve_path(kernel_path, ref.path)
    try:
        with open(full, "rb") as f:
            data = f.read()
    except OSError:
        data = b""
    h = hashlib.sha256(data)
    h.update(f"\0{full}\0{ref.function}\0{ref.precision}".encode())
    return h.hexdigest()


class _UserError(Exception):
    """An error in the reference or in how it maps to the spec, with where to point."""

    def __init__(self, message: str, file: str | None = None, line: int | None = None):
        super().__init__(message)
        self.file, self.line = file, line


def _user_frame(tb, directory: str) -> tuple[str | None, int | None]:
    """The innermost traceback frame in the reference's own directory (the user's code)."""
    found = (None, None)
    for frame in traceback.extract_tb(tb):
        if os.path.abspath(frame.filename).startswith(directory + os.sep):
            found = (frame.filename, frame.lineno)
    return found


def _load(full: str) -> Any:
    try:
        with open(full, "rb") as f:
            data = f.read()
    except OSError as e:
        raise _UserError(f"cannot read the reference {full}: {e.strerror}") from None
    digest = hashlib.sha256(data + full.encode()).hexdigest()
    mod = _MODULES.get(digest)
    if mod is not None:
        return mod
    directory = os.path.dirname(full)
    if directory not in sys.path:
        sys.path.insert(0, directory)  # its own helper modules import as they would for the user
    name = f"kf_reference_{digest[:16]}"
    spec = importlib.util.spec_from_file_location(name, full)
    if spec is None or spec.loader is None:
        raise _UserError(f"{full} cannot be loaded as a Python module")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    try:
        spec.loader.exec_module(mod)
    except BaseException as e:
        sys.modules.pop(name, None)
        if isinstance(e, (KeyboardInterrupt, SystemExit)) and not isinstance(e, SystemExit):
            raise
        file, line = _user_frame(e.__traceback__, directory)
        if isinstance(e, SyntaxError) and e.lineno:
            file, line = e.filename or full, e.lineno
        raise _UserError(f"loading it raised {type(e).__name__}: {e}", file or full, line) from None
    _MODULES[digest] = mod
    return mod


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _wants_torch(mod: Any, fn: Any) -> bool:
    torch = sys.modules.get("torch")
    if torch is None:
        return False
    try:
        params = inspect.signature(fn).parameters.values()
        if any(p.annotation is torch.Tensor or p.annotation in ("torch.Tensor", "Tensor") for p in params):
            return True
    except (TypeError, ValueError):
        pass
    values = vars(mod).values()
    return any(v is torch for v in values) and not any(v is np for v in values)


def _float_type(precision: str, dtype: str):
    if precision == "float64":
        return np.float64
    if precision == "float32":
        return np.float32
    return dtypes.numpy_dtype(dtype)


def _input_array(b, data: np.ndarray, precision: str) -> np.ndarray:
    if dtypes.is_float(b.dtype):
        return np.array(data, dtype=_float_type(precision, b.dtype))  # a copy: kf's inputs stay as they are
    return np.array(data)


def _to_numpy(value: Any) -> np.ndarray:
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype in (torch.bfloat16, torch.float16):
            value = value.float()
        return value.numpy()
    return np.asarray(value)


def _collect(result: Any, outputs: list, given: dict[str, Any], what: str) -> dict[str, Any]:
    """The value for each output buffer from what the reference returned."""
    names = [b.name for b in outputs]
    torch = sys.modules.get("torch")
    single = isinstance(result, np.ndarray) or np.isscalar(result) or \
        (torch is not None and isinstance(result, torch.Tensor))
    if result is None:
        missing = [n for n in names if n not in given]
        if missing:
            raise _UserError(f"{what} returned None, so its outputs are the arrays it was given; "
                             f"`{missing[0]}` is not among its parameters: return it, or take it as a parameter "
                             "and fill it in place")
        return {n: given[n] for n in names}
    if isinstance(result, dict):
        out = {}
        for n in names:
            if n in result:
                out[n] = result[n]
            elif n in given:
                out[n] = given[n]
            else:
                raise _UserError(f"{what} returned a dict without `{n}` (keys: {', '.join(map(str, result)) or 'none'})")
        return out
    if single:
        rest = [n for n in names if n not in given] or names
        if len(names) == 1:
            return {names[0]: result}
        if len(rest) == 1:
            return {**{n: given[n] for n in names if n in given}, rest[0]: result}
        raise _UserError(f"{what} returned one array, but the spec has {len(names)} outputs "
                         f"({', '.join(names)}): return a tuple in that order, or a dict by name")
    if isinstance(result, (tuple, list)):
        if len(result) != len(names):
            raise _UserError(f"{what} returned {len(result)} values, but the spec has {len(names)} outputs "
                             f"({', '.join(names)}, in the spec's order)")
        return dict(zip(names, result))
    raise _UserError(f"{what} returned a {type(result).__name__}: return an array, a tuple of arrays "
                     "or a dict by buffer name")


def _finish(values: dict[str, Any], outputs: list, lengths: Mapping[str, int], what: str) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for b in outputs:
        a = _to_numpy(values[b.name]).reshape(-1)
        if a.size != lengths[b.name]:
            raise _UserError(f"{what} gave {a.size} value(s) for `{b.name}`, but the buffer has {lengths[b.name]} "
                             "at this size (`" + b.length + "`)")
        if not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
            raise _UserError(f"{what} gave `{b.name}` as {a.dtype}, not numbers")
        kind = np.float64 if dtypes.is_float(b.dtype) else np.int64
        with np.errstate(invalid="ignore", over="ignore"):
            out[b.name] = np.ascontiguousarray(a, dtype=kind)
    return out


def _call_function(mod: Any, ref: Reference, spec: Spec, env: Mapping[str, Any], inputs, lengths, what: str):
    fn = getattr(mod, ref.function or "", None)
    if not callable(fn):
        raise _UserError(f"{ref.path} has no function `{ref.function}`")
    use_torch = _wants_torch(mod, fn)
    torch = _torch() if use_torch else None
    buffers = {b.name: b for b in spec.buffers}
    outputs = [b for b in spec.buffers if b.role != "in"]

    def value_of(b) -> Any:
        if b.role == "out":
            arr = np.zeros(lengths[b.name], dtype=_float_type(ref.precision, b.dtype)
                           if dtypes.is_float(b.dtype) else dtypes.numpy_dtype(b.dtype))
        else:
            arr = _input_array(b, inputs[b.name], ref.precision)
        return torch.from_numpy(arr) if torch is not None else arr

    try:
        params = [p for p in inspect.signature(fn).parameters.values()]
    except (TypeError, ValueError):
        params = []
    named = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    given: dict[str, Any] = {}
    if any(p.name in buffers or p.name in env for p in named):
        for p in named:
            if p.name in buffers:
                v = value_of(buffers[p.name])
                if buffers[p.name].role != "in":
                    given[p.name] = v
            elif p.name in env:
                v = env[p.name]
            elif p.default is not p.empty:
                continue
            else:
                raise _UserError(f"parameter `{p.name}` of {what} is neither a buffer nor a variable of the spec "
                                 f"(buffers: {', '.join(buffers)}; variables: "
                                 f"{', '.join(k for k in env if k.isidentifier()) or 'none'})")
            if p.kind is p.POSITIONAL_ONLY:
                args.append(v)
            else:
                kwargs[p.name] = v
    else:  # by order: the inputs as the spec lists them
        ins = [b for b in spec.buffers if b.role != "out"]
        args = [value_of(b) for b in ins]
        given = {b.name: a for b, a in zip(ins, args) if b.role == "inout"}
    result = fn(*args, **kwargs)
    return _finish(_collect(result, outputs, given, what), outputs, lengths, what)


def _call_module(mod: Any, ref: Reference, spec: Spec, env: Mapping[str, Any], inputs, lengths, what: str,
                 digest: str):
    torch = _torch()
    if torch is None:
        raise _UserError(f"{ref.path} is a KernelBench-style module, which needs PyTorch; it is not installed "
                         "in the worker's Python (pip install torch)")
    for name in ("Model", "get_inputs"):
        if not hasattr(mod, name):
            raise _UserError(f"{ref.path} has no `{name}`: a KernelBench-style module defines Model, get_inputs "
                             "and get_init_inputs")
    for k, v in env.items():  # the module's sizes become the spec's
        cur = vars(mod).get(k)
        if isinstance(cur, (int, float)) and not isinstance(cur, bool) and isinstance(v, (int, float)):
            setattr(mod, k, type(cur)(v) if isinstance(cur, int) and float(v).is_integer() else v)
    fdtype = {"float64": torch.float64, "float32": torch.float32}.get(ref.precision)
    key = (digest, tuple(sorted((k, repr(v)) for k, v in env.items())), ref.precision)
    model = _MODELS.get(key)
    if model is None:
        torch.manual_seed(0)
        init = mod.get_init_inputs() if hasattr(mod, "get_init_inputs") else []
        model = mod.Model(*init)
        if hasattr(model, "eval"):
            model.eval()
        if fdtype is not None and hasattr(model, "to"):
            model = model.to(fdtype)
        while len(_MODELS) >= 4:
            _MODELS.pop(next(iter(_MODELS)))
        _MODELS[key] = model
    torch.manual_seed(0)
    with torch.no_grad():
        examples = list(mod.get_inputs())
    try:
        names = [p.name for p in inspect.signature(model.forward).parameters.values()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError, AttributeError):
        names = []
    ins = [b for b in spec.buffers if b.role != "out"]
    by_name = {b.name: b for b in ins}
    used: set[str] = set()
    given: dict[str, Any] = {}
    args: list[Any] = []

    def tensor_for(b, shape) -> Any:
        arr = _input_array(b, inputs[b.name], ref.precision)
        t = torch.from_numpy(arr)
        return t.reshape(shape)

    for i, ex in enumerate(examples):
        pname = names[i] if i < len(names) else f"input {i}"
        if isinstance(ex, torch.Tensor):
            b = by_name.get(pname) if pname in by_name and pname not in used else \
                next((x for x in ins if x.name not in used and x.name not in names), None)
            if b is None:
                raise _UserError(f"get_inputs() gives {len(examples)} tensors, but the spec has only "
                                 f"{len(ins)} input buffer(s) ({', '.join(x.name for x in ins) or 'none'})")
            used.add(b.name)
            if ex.numel() != lengths[b.name]:
                sizes = [k for k, v in vars(mod).items() if isinstance(v, int) and not k.startswith("_")
                         and not isinstance(v, bool)]
                raise _UserError(f"get_inputs() gives `{pname}` of shape {tuple(ex.shape)} ({ex.numel()} elements), "
                                 f"but buffer `{b.name}` has {lengths[b.name]} at this size: give the module's sizes "
                                 f"({', '.join(sizes) or 'its globals'}) as spec variables of the same names, which "
                                 "replace them")
            t = tensor_for(b, tuple(ex.shape))
            if b.role == "inout":
                given[b.name] = t
            args.append(t)
        elif pname in env:
            args.append(env[pname])
        else:
            args.append(ex)
    if hasattr(model, "named_parameters"):  # weights named like an input buffer take its values
        state = dict(model.named_parameters())
        state.update(dict(model.named_buffers()))
        with torch.no_grad():
            for pname, p in state.items():
                for cand in (pname, pname.replace(".", "_"), pname.rsplit(".", 1)[-1]):
                    b = by_name.get(cand)
                    if b is None or b.name in used:
                        continue
                    if p.numel() != lengths[b.name]:
                        raise _UserError(f"the model's `{pname}` has {p.numel()} elements {tuple(p.shape)}, "
                                         f"buffer `{b.name}` {lengths[b.name]}")
                    p.copy_(torch.from_numpy(_input_array(b, inputs[b.name], ref.precision)).reshape(p.shape))
                    used.add(b.name)
                    break
    outputs = [b for b in spec.buffers if b.role != "in"]
    with torch.no_grad():
        result = model(*args)
    if isinstance(result, torch.Tensor):
        result = (result,) if len(outputs) != 1 else result
    return _finish(_collect(result, outputs, given, what), outputs, lengths, what)


def expected_outputs(kernel_path: str, spec: Spec, env: Mapping[str, Any], inputs: Mapping[str, np.ndarray],
                     lengths: Mapping[str, int], where: str) -> dict[str, np.ndarray]:
    """The reference's outputs for every `out`/`inout` buffer on `inputs` (flat float64 or
    int64 arrays). Raises EvalFailure(REFERENCE_FAILED) naming the Python file and line."""
    ref = spec.reference
    assert ref is not None
    full = resolve_path(kernel_path, ref.path)
    what = f"the reference {describe(ref)}"
    try:
        mod = _load(full)
        if ref.function:
            return _call_function(mod, ref, spec, env, inputs, lengths, what)
        return _call_module(mod, ref, spec, env, inputs, lengths, what, reference_key(kernel_path, ref))
    except _UserError as e:
        file, line = e.file or full, e.line
        if line is None:
            line = ref.line + 1
            file = kernel_path
        raise _failure(file, line, f"{what}: {e} ({where})") from None
    except EvalFailure:
        raise
    except Exception as e:  # the user's code raised: point at its line
        file, line = _user_frame(e.__traceback__, os.path.dirname(full))
        text = f"{type(e).__name__}: {e}"
        if file is None:
            file, line = kernel_path, ref.line + 1
        raise _failure(file, line, f"{what} raised {text} ({where})") from None


def _failure(file: str, line: int, message: str) -> EvalFailure:
    shown = os.path.relpath(file) if not os.path.relpath(file).startswith("..") else file
    d = Diagnostic(file, max(0, line - 1), 0, "error", message, source="python")
    return EvalFailure(Verdict.REFERENCE_FAILED, f"{shown}:{line}: {message}", [d])
