"""Running a `@kf reference` in the worker: the expected outputs from the same inputs.

A reference is user code. It runs only in the worker process that evaluates (never in the
language server, which only reads it: backends/kernel/pyref.py), under the evaluation's
deadline (a hang is a timeout like a kernel's), and an exception in it (or an exit) is
reported with the file and line of the Python traceback. Its prints and warnings are kept
out of kf's output. Each reference keeps the modules of its own it imports (its folder's
`helpers.py`) out of `sys.modules` between its runs, so two references of a long-lived
worker never share a `helpers`, and an edit of any of those files loads it afresh
(`_Loaded`). What it returns is checked, never converted silently (`_finish`).

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
  replaced by kf's inputs (`get_inputs()` runs on the meta device: shapes only).
  `forward`'s parameters take the `in`/`inout` buffers by name, else in order; parameters
  and buffers of the model named like an input buffer (`ln.weight`, `ln_weight`, `weight`,
  `w`) take that buffer's values, and one that takes none while it starts random (it differs
  when the model is built under another seed) is an error naming it; `forward`'s result (a
  tensor or a tuple) fills the `out`/`inout` buffers in order. The model is built under
  `torch.manual_seed(0)`.

Float inputs reach the reference in float64 unless the spec says `precision=float32` or
`precision=native`; the model is converted likewise. Outputs come back as float64 arrays
(integers as int64).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import inspect
import io
import os
import sys
import traceback
import warnings
from typing import Any, Mapping

import numpy as np

from backends.judge.launch import EvalFailure
from backends.kernel import dtypes
from backends.kernel.pyref import resolve_path
from backends.model import Diagnostic, Reference, Spec, Verdict

__all__ = ["expected_outputs", "reference_key", "describe"]

_MODELS: dict[tuple, Any] = {}  # (digest, env, precision) -> a built KernelBench model (the last few)
_RANDOM: dict[tuple, set[str]] = {}  # the same key -> the model's parameters that start random
_LOADED: dict[str, "_Loaded"] = {}  # reference file -> the module as last loaded, per worker process
_KF_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def describe(ref: Reference) -> str:
    """`ref.py:func` or `task.py (KernelBench module)`, for messages."""
    return f"{ref.path}:{ref.function}" if ref.function else f"{ref.path} (KernelBench module)"


def _file_digest(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return ""


def reference_key(kernel_path: str, ref: Reference) -> str:
    """What a stored reference output depends on: the bytes of the reference file and of the
    modules of its own it imports (helpers.py beside it: known once it has been loaded in
    this worker), the function and the precision."""
    full = resolve_path(kernel_path, ref.path)
    try:
        digest = _load(full).digest
    except _UserError:  # loading fails again, and is reported, when the outputs are asked for
        digest = _file_digest(full)
    h = hashlib.sha256(digest.encode())
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


# -- each reference with its own modules -------------------------------------------------------------


def _installed_dirs() -> tuple[str, ...]:
    dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, _KF_ROOT}
    try:
        import site

        dirs.update(site.getsitepackages())
        dirs.add(site.getusersitepackages())
    except (AttributeError, ImportError):
        pass
    return tuple(os.path.abspath(d) + os.sep for d in dirs if d)


_INSTALLED = _installed_dirs()


def _module_files(mod: Any) -> list[str]:
    file = getattr(mod, "__file__", None)
    if file:
        return [os.path.abspath(file)]
    return [os.path.abspath(p) for p in getattr(mod, "__path__", None) or []]  # a namespace package


def _is_users(mod: Any) -> bool:
    """A module of the user's (helpers.py beside the reference), not of Python, an installed
    package or kf itself: such modules belong to the reference that imported them."""
    files = _module_files(mod)
    return bool(files) and not any(f.startswith(_INSTALLED) or f.startswith(_KF_ROOT + os.sep) for f in files)


def _local_names(directory: str) -> set[str]:
    """The module names a file or package in `directory` provides (`helpers`, `utils`)."""
    names = set()
    try:
        for entry in os.listdir(directory):
            if entry.endswith(".py"):
                names.add(entry[:-3])
            elif os.path.isdir(os.path.join(directory, entry)) and entry.isidentifier():
                names.add(entry)
    except OSError:
        pass
    return names


class _Loaded:
    """A reference module and the user modules it imported, kept out of sys.modules between
    its runs; `files` holds every file they came from with its digest, to see an edit."""

    def __init__(self, full: str):
        self.full = full
        self.directory = os.path.dirname(full)
        self.module: Any = None
        self.own: dict[str, Any] = {}  # its own modules: name -> module
        self.files: dict[str, str] = {}  # file -> sha256
        self.path: list[str] = [self.directory]  # sys.path entries while it runs (its folder, what it added)
        self.printed = ""  # what its last run printed or warned

    @property
    def digest(self) -> str:
        return hashlib.sha256("\0".join(f"{k}\0{v}" for k, v in sorted(self.files.items())).encode()).hexdigest()

    def current(self) -> bool:
        return all(_file_digest(f) == d for f, d in self.files.items())

    @contextlib.contextmanager
    def active(self):
        """While the reference runs: its folder first on sys.path, its own modules in
        sys.modules, and any other module of the same name (another reference's `helpers`, an
        installed `utils`) out of the way; afterwards the modules it imported are taken back
        out, so the next reference imports its own. Its prints and warnings are kept
        (`self.printed`), not written into kf's output; exiting the process is refused."""
        saved_path = list(sys.path)
        local = _local_names(self.directory) | set(self.own)
        hidden = {n: m for n, m in list(sys.modules.items())
                  if n.split(".")[0] in local and n not in self.own and _is_users(m)}
        for n in hidden:
            del sys.modules[n]
        sys.modules.update(self.own)
        before = set(sys.modules)
        sys.path[:] = [p for p in self.path if p not in saved_path] + saved_path
        out = io.StringIO()
        real_exit = os._exit
        os._exit = _refuse_exit
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out), \
                    warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    yield
                finally:
                    self.printed = out.getvalue() + "".join(
                        f"{os.path.basename(w.filename)}:{w.lineno}: {w.category.__name__}: {w.message}\n"
                        for w in caught)
        finally:
            os._exit = real_exit
            self.path = [p for p in sys.path if p not in saved_path] or self.path
            if self.directory not in self.path:
                self.path.insert(0, self.directory)
            sys.path[:] = saved_path
            for n in set(sys.modules) - before | set(self.own):
                m = sys.modules.get(n)
                if m is not None and (n in self.own or _is_users(m)):
                    self.own[n] = m
                    del sys.modules[n]
                    for f in _module_files(m):
                        if os.path.isfile(f):
                            self.files.setdefault(f, _file_digest(f))
            sys.modules.update(hidden)


def _refuse_exit(code: int = 0) -> None:
    raise SystemExit(code)


def _load(full: str) -> _Loaded:
    """The reference module, loaded again when it or any module of its own changed."""
    loaded = _LOADED.get(full)
    if loaded is not None and loaded.current():
        return loaded
    if not os.path.isfile(full):
        raise _UserError(f"cannot read the reference {full}: no such file")
    loaded = _Loaded(full)
    loaded.files[full] = _file_digest(full)
    name = f"kf_reference_{hashlib.sha256(full.encode()).hexdigest()[:16]}"
    spec = importlib.util.spec_from_file_location(name, full)
    if spec is None or spec.loader is None:
        raise _UserError(f"{full} cannot be loaded as a Python module")
    mod = importlib.util.module_from_spec(spec)
    try:
        with loaded.active():
            spec.loader.exec_module(mod)
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise
        file, line = _user_frame(e.__traceback__, loaded.directory)
        if isinstance(e, SyntaxError) and e.lineno:
            file, line = e.filename or full, e.lineno
        raise _UserError(_raised("loading it", e) + _printed(loaded), file or full, line) from None
    loaded.module = mod
    _LOADED[full] = loaded
    for key in [k for k in _MODELS if k[0] == full]:
        del _MODELS[key]
    return loaded


def _raised(doing: str, e: BaseException) -> str:
    if isinstance(e, SystemExit):
        return f"{doing} exited the process (exit({e.code!r})): a reference returns its outputs instead"
    return f"{doing} raised {type(e).__name__}: {e}"


def _printed(loaded: _Loaded) -> str:
    text = getattr(loaded, "printed", "").strip()
    if not text:
        return ""
    text = " | ".join(text.splitlines()[-4:])
    return f" (it printed: {text[-300:]})"


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


def _collect(result: Any, outputs: list, given: dict[str, Any], what: str,
             where: tuple[str | None, int | None] = (None, None)) -> dict[str, Any]:
    """The value for each output buffer from what the reference returned (errors at `where`)."""
    try:
        return _collect_at(result, outputs, given, what)
    except _UserError as e:
        raise _UserError(str(e), *where) from None


def _collect_at(result: Any, outputs: list, given: dict[str, Any], what: str) -> dict[str, Any]:
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


def _finish(values: dict[str, Any], outputs: list, lengths: Mapping[str, int], what: str,
            where: tuple[str | None, int | None] = (None, None)) -> dict[str, np.ndarray]:
    """Each output as a flat float64 (int64) array, after the checks that a silent conversion
    would skip: booleans, complex numbers, non-integers for an integer buffer, values outside
    its type, and NaN everywhere are errors of the reference (at `where`: its function)."""
    out: dict[str, np.ndarray] = {}
    for b in outputs:
        a = _to_numpy(values[b.name]).reshape(-1)
        if a.size != lengths[b.name]:
            raise _UserError(f"{what} gave {a.size} value(s) for `{b.name}`, but the buffer has {lengths[b.name]} "
                             "at this size (`" + b.length + "`)", *where)
        kind = "float" if dtypes.is_float(b.dtype) else "integer"
        if a.dtype == np.bool_:
            raise _UserError(f"{what} gave `{b.name}` as booleans (a mask?), but it is a {b.dtype} buffer: return "
                             f"the {kind} values the kernel writes", *where)
        if np.iscomplexobj(a):
            raise _UserError(f"{what} gave `{b.name}` as complex numbers, but it is a {b.dtype} buffer: return "
                             "the real values the kernel writes (.real, or abs())", *where)
        if not np.issubdtype(a.dtype, np.number):
            raise _UserError(f"{what} gave `{b.name}` as {a.dtype}, not numbers", *where)
        if dtypes.is_float(b.dtype):
            v = np.ascontiguousarray(a, dtype=np.float64)
            if v.size and np.isnan(v).all():
                raise _UserError(f"{what} gave NaN for every element of `{b.name}`: no value to compare with",
                                 *where)
            out[b.name] = v
            continue
        if np.issubdtype(a.dtype, np.floating):
            v = a.astype(np.float64)
            bad = ~np.isfinite(v) | (v != np.round(v))
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise _UserError(f"{what} gave non-integer values for `{b.name}`, a {b.dtype} buffer "
                                 f"({int(bad.sum())} of them, first at index {i}: {v[i]:g}): round them as the "
                                 "kernel does, or make the buffer a float type", *where)
        info = np.iinfo(dtypes.numpy_dtype(b.dtype))
        with np.errstate(invalid="ignore", over="ignore"):
            v = a.astype(np.float64) if np.issubdtype(a.dtype, np.floating) else a
            outside = (v < info.min) | (v > info.max)
        if outside.any():
            i = int(np.flatnonzero(outside)[0])
            raise _UserError(f"{what} gave values outside the range of `{b.name}` ({b.dtype}, {info.min} to "
                             f"{info.max}), first at index {i}: {v[i]}", *where)
        out[b.name] = np.ascontiguousarray(a, dtype=np.int64)
    return out


def _def_line(obj: Any, full: str) -> tuple[str | None, int | None]:
    """Where `obj` (a function, a method) is defined, when that is in the reference's file."""
    try:
        file = inspect.getsourcefile(obj)
        line = inspect.getsourcelines(obj)[1]
    except (TypeError, OSError):
        return None, None
    return (file, line) if file and os.path.abspath(file) == full else (None, None)


def _call_function(loaded: _Loaded, ref: Reference, spec: Spec, env: Mapping[str, Any], inputs, lengths, what: str):
    mod = loaded.module
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
        signature = inspect.signature(fn)
        params = list(signature.parameters.values())
    except (TypeError, ValueError):
        signature, params = None, []
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
                raise _UserError(f"parameter `{p.name}` of `{ref.function}` is neither a buffer nor a variable of the spec "
                                 f"(buffers: {', '.join(buffers)}; variables: "
                                 f"{', '.join(k for k in env if k.isidentifier()) or 'none'})",
                                 *_def_line(fn, loaded.full))
            if p.kind is p.POSITIONAL_ONLY:
                args.append(v)
            else:
                kwargs[p.name] = v
    else:  # by order: the inputs as the spec lists them
        ins = [b for b in spec.buffers if b.role != "out"]
        args = [value_of(b) for b in ins]
        given = {b.name: a for b, a in zip(ins, args) if b.role == "inout"}
        if signature is not None:
            try:
                signature.bind(*args)
            except TypeError as e:
                unfilled = [p.name for p in named[len(args):] if p.default is p.empty]
                raise _UserError(f"no parameter of `{ref.function}` is named like a buffer or a variable of the spec, so its "
                                 f"in/inout buffers were passed by position ({', '.join(b.name for b in ins) or 'none'})"
                                 + (f"; {', '.join(f'`{n}`' for n in unfilled)} got nothing" if unfilled else
                                    f": {e}")
                                 + f": name its parameters like the buffers ({', '.join(buffers)}) and variables "
                                 f"({', '.join(k for k in env if k.isidentifier()) or 'none'})",
                                 *_def_line(fn, loaded.full)) from None
    with loaded.active():
        result = fn(*args, **kwargs)
    where = _def_line(fn, loaded.full)
    return _finish(_collect(result, outputs, given, what, where), outputs, lengths, what, where)


def _replaced(mod: Any, env: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    """The module-level numbers a spec variable of the same name replaces: (name, was, now)."""
    out = []
    for k, v in env.items():
        cur = vars(mod).get(k)
        if isinstance(cur, (int, float)) and not isinstance(cur, bool) and isinstance(v, (int, float)):
            out.append((k, cur, type(cur)(v) if isinstance(cur, int) and float(v).is_integer() else v))
    return out


def _fixed_shapes(mod: Any, env: Mapping[str, Any], dims: tuple[int, ...]) -> tuple[list[str], list[str]]:
    """Module-level numbers and tuples no spec variable replaces that hold one of `dims`
    (`batch_size = 4096`, `input_shape = (32768,)`): why get_inputs() keeps a size kf changed."""
    numbers, tuples = [], []
    for k, v in vars(mod).items():
        if k.startswith("_") or k in env:
            continue
        values = v if isinstance(v, tuple) else (v,)
        if all(isinstance(x, int) and not isinstance(x, bool) for x in values) and values \
                and any(x in dims and x > 1 for x in values):
            (tuples if isinstance(v, tuple) else numbers).append(f"`{k} = {v!r}`")
    return numbers, tuples


_ALIASES = {"weight": ("w",), "bias": ("b",)}


def _names_for(parameter: str) -> list[str]:
    """The buffer names a model parameter takes its values from: `conv2d.weight`,
    `conv2d_weight`, `weight`, and for a weight or bias `w` / `b` (docs/spec.md)."""
    last = parameter.rsplit(".", 1)[-1]
    return list(dict.fromkeys([parameter, parameter.replace(".", "_"), last, *_ALIASES.get(last, ())]))


def _build_model(mod: Any, seed: int, fdtype: Any) -> Any:
    torch = _torch()
    torch.manual_seed(seed)
    init = mod.get_init_inputs() if hasattr(mod, "get_init_inputs") else []
    model = mod.Model(*init)
    if hasattr(model, "eval"):
        model.eval()
    if fdtype is not None and hasattr(model, "to"):
        model = model.to(fdtype)
    return model


def _state(model: Any) -> dict[str, Any]:
    if not hasattr(model, "named_parameters"):
        return {}
    state = dict(model.named_parameters())
    state.update(dict(model.named_buffers()))
    return state


def _call_module(loaded: _Loaded, ref: Reference, spec: Spec, env: Mapping[str, Any], inputs, lengths, what: str):
    mod = loaded.module
    torch = _torch()
    if torch is None:
        raise _UserError(f"{ref.path} is a KernelBench-style module, which needs PyTorch; it is not installed "
                         "in the worker's Python (pip install torch)")
    for name in ("Model", "get_inputs"):
        if not hasattr(mod, name):
            raise _UserError(f"{ref.path} has no `{name}`: a KernelBench-style module defines Model, get_inputs "
                             "and get_init_inputs")
    replaced = _replaced(mod, env)
    for k, _, now in replaced:  # the module's sizes become the spec's
        setattr(mod, k, now)
    changed = [f"`{k} = {was!r}` by the spec's {now!r}" for k, was, now in replaced if was != now]
    try:
        return _run_module(loaded, ref, spec, env, inputs, lengths, what)
    except _UserError:
        raise
    except Exception as e:  # the module's own code failed: say which of its numbers kf changed
        if changed:
            try:
                e.kf_note = f" (kf replaced the module's {', '.join(changed)})"
            except AttributeError:
                pass
        raise


def _run_module(loaded: _Loaded, ref: Reference, spec: Spec, env: Mapping[str, Any], inputs, lengths, what: str):
    mod = loaded.module
    torch = _torch()
    fdtype = {"float64": torch.float64, "float32": torch.float32}.get(ref.precision)
    key = (loaded.full, loaded.digest, tuple(sorted((k, repr(v)) for k, v in env.items())), ref.precision)
    model = _MODELS.get(key)
    with loaded.active():
        if model is None:
            model = _build_model(mod, 0, fdtype)
            while len(_MODELS) >= 4:
                _MODELS.pop(next(iter(_MODELS)))
            _MODELS[key] = model
        torch.manual_seed(0)
        try:  # the shapes alone: kf's inputs replace the values, so nothing large need be allocated
            with torch.no_grad(), torch.device("meta"):
                examples = list(mod.get_inputs())
        except Exception:
            torch.manual_seed(0)
            with torch.no_grad():
                examples = list(mod.get_inputs())
    forward = getattr(model, "forward", model)
    try:
        names = [p.name for p in inspect.signature(forward).parameters.values()
                 if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        names = []
    where = _def_line(forward, loaded.full)
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
                numbers, tuples = _fixed_shapes(mod, env, tuple(ex.shape))
                why = []
                if numbers or not tuples:
                    why.append(f"give the module's sizes ({', '.join(numbers or sizes) or 'its globals'}) as spec "
                               "variables of the same names, which replace them")
                if tuples:
                    why.append(f"the module fixes it with {', '.join(tuples)}, which no spec variable replaces "
                               "(only module-level numbers named like spec variables are replaced)")
                raise _UserError(f"get_inputs() gives `{pname}` of shape {tuple(ex.shape)} ({ex.numel()} elements), "
                                 f"but buffer `{b.name}` has {lengths[b.name]} at this size: " + "; ".join(why))
            t = tensor_for(b, tuple(ex.shape))
            if b.role == "inout":
                given[b.name] = t
            args.append(t)
        elif pname in env:
            args.append(env[pname])
        else:
            args.append(ex)
    state = _state(model)
    unmapped = []
    with torch.no_grad():  # weights named like an input buffer take its values
        for pname, p in state.items():
            b = next((by_name[n] for n in _names_for(pname) if n in by_name and n not in used), None)
            if b is None:
                unmapped.append(pname)
                continue
            if p.numel() != lengths[b.name]:
                raise _UserError(f"the model's `{pname}` has {p.numel()} elements {tuple(p.shape)}, "
                                 f"buffer `{b.name}` {lengths[b.name]}")
            p.copy_(torch.from_numpy(_input_array(b, inputs[b.name], ref.precision)).reshape(p.shape))
            used.add(b.name)
    if unmapped:
        _check_unmapped(loaded, key, model, unmapped, fdtype, [b.name for b in ins if b.name not in used])
    outputs = [b for b in spec.buffers if b.role != "in"]
    with torch.no_grad(), loaded.active():
        result = model(*args)
    if isinstance(result, torch.Tensor):
        result = (result,) if len(outputs) != 1 else result
    return _finish(_collect(result, outputs, given, what, where), outputs, lengths, what, where)


def _check_unmapped(loaded: _Loaded, key: tuple, model: Any, unmapped: list[str], fdtype: Any,
                    unused: list[str]) -> None:
    """A parameter no buffer gives values to keeps its initial value: fine when that is a
    constant (LayerNorm's ones, BatchNorm's running statistics), an error when it is drawn at
    random (a convolution's weight): a kernel cannot know it, and a wrong kernel could pass
    against those random weights. Tells random from constant by building the model under a
    second seed."""
    torch = _torch()
    mine = _state(model)
    if key not in _RANDOM:
        with loaded.active():
            other = _state(_build_model(loaded.module, 1, fdtype))
        _RANDOM[key] = {n for n, p in mine.items()
                        if n in other and p.shape == other[n].shape and not torch.equal(p.detach(), other[n].detach())}
        for k in [k for k in _RANDOM if k not in _MODELS]:
            del _RANDOM[k]
    random = [n for n in unmapped if n in _RANDOM[key]]
    if not random:
        return
    described = ", ".join(f"`{n}` {tuple(mine[n].shape)}" for n in random)
    names = " or ".join(f"`{x}`" for x in _names_for(random[0])[1:])
    text = (f"the model's {'parameters' if len(random) > 1 else 'parameter'} {described} "
            f"{'take' if len(random) > 1 else 'takes'} no buffer's values and "
            f"{'start' if len(random) > 1 else 'starts'} random, so no kernel can match it: give the kernel an "
            f"`in` buffer named like it ({names} for `{random[0]}`)")
    if unused:
        text += f"; buffer(s) {', '.join(f'`{n}`' for n in unused)} reach neither forward() nor a parameter"
    raise _UserError(text, *_def_line(type(model).__init__, loaded.full))


def expected_outputs(kernel_path: str, spec: Spec, env: Mapping[str, Any], inputs: Mapping[str, np.ndarray],
                     lengths: Mapping[str, int], where: str) -> dict[str, np.ndarray]:
    """The reference's outputs for every `out`/`inout` buffer on `inputs` (flat float64 or
    int64 arrays). Raises EvalFailure(REFERENCE_FAILED) naming the Python file and line."""
    ref = spec.reference
    assert ref is not None
    full = resolve_path(kernel_path, ref.path)
    what = f"the reference {describe(ref)}"
    loaded = None
    try:
        loaded = _load(full)
        if ref.function:
            return _call_function(loaded, ref, spec, env, inputs, lengths, what)
        return _call_module(loaded, ref, spec, env, inputs, lengths, what)
    except _UserError as e:
        file, line = e.file or full, e.line
        if line is None:
            line = ref.line + 1
            file = kernel_path
        text = str(e) if str(e).startswith(what) else f"{what}: {e}"
        raise _failure(file, line, f"{text} ({where})") from None
    except EvalFailure:
        raise
    except BaseException as e:  # the user's code raised (or tried to exit): point at its line
        if isinstance(e, KeyboardInterrupt):
            raise
        file, line = _user_frame(e.__traceback__, os.path.dirname(full))
        if file is None:
            file, line = kernel_path, ref.line + 1
        text = _raised(what, e) + getattr(e, "kf_note", "") + (_printed(loaded) if loaded is not None else "")
        raise _failure(file, line, f"{text} ({where})") from None


def _failure(file: str, line: int, message: str) -> EvalFailure:
    shown = os.path.relpath(file) if not os.path.relpath(file).startswith("..") else file
    d = Diagnostic(file, max(0, line - 1), 0, "error", message, source="python")
    return EvalFailure(Verdict.REFERENCE_FAILED, f"{shown}:{line}: {message}", [d])
