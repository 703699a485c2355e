"""The original's verification outputs reused across evaluations, in the worker process.

In a search every evaluation checks a new candidate against the same original on
`seeds` x (default size + every `@kf check` size) input sets. The original's outputs on
those inputs are a function of the inputs alone, so computing them once and comparing each
candidate against the stored copy removes half of the verification work (and the input
generation), without weakening a check. Why this keeps every defence is written out in
docs/evaluation.md ("Reusing the original's outputs"); in short:

- the inputs come from a secret drawn from os.urandom when the worker starts (never sent
  anywhere) and differ for every (size, seed): a candidate cannot predict them, and one that
  replays answers it stored itself (device globals) still meets new inputs at the next seed;
- a set is reused for at most REUSE_EVALUATIONS evaluations, then new inputs are drawn, so
  a long search is verified on many independent input sets;
- every evaluation still meets inputs nobody has seen before: the timing runs use inputs
  drawn from the request's nonce, and the output of the last timed run is verified against
  the original's output on those inputs, run fresh;
- candidates are always compiled fresh, get freshly allocated buffers, poisoned outputs and
  guards as before; the stored arrays are read-only host copies, and the original's own
  device buffers are freed before the candidate runs;
- inputs are not stored: an InputSet is a key (backends/judge/inputs.py), and every run
  regenerates its values on the device, bit for bit the ones the original ran on.

Bounded by bytes (KF_REFERENCE_CACHE_MB, default min(8 GiB, RAM/8)); KF_REFERENCE_REUSE=0
turns it off (every evaluation runs the original on nonce-derived inputs, as before).
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import OrderedDict
from typing import Any, Callable, Mapping

import msgspec
import numpy as np

from backends.judge.inputs import SECRET, InputSet
from backends.model import Spec

REUSE_EVALUATIONS = int(os.environ.get("KF_REFERENCE_REUSE_EVALUATIONS", "8") or 8)
_SECRET = SECRET  # per worker process (backends/judge/inputs.py); never leaves it
SPECIAL_TAG = 0x5350  # tells the inputs of an epoch's kept results apart from its verification sets'


def _default_budget() -> int:
    env = os.environ.get("KF_REFERENCE_CACHE_MB")
    if env:
        return int(float(env) * (1 << 20))
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        ram = 8 << 30
    # 8 GiB at most: a 256 MiB problem verified at 3 seeds plus its derived sizes needs
    # about 2.5 GiB of stored runs; a 2 GiB cap made every set a miss (seen on the H200)
    return min(8 << 30, ram // 8)


def secret_key(*words: int) -> tuple[int, ...]:
    """An input key (backends/judge/inputs.py) from the worker's secret and `words` (the nonce,
    a size, a seed): inputs for a size met once (the random size), which nobody outside the
    worker can know."""
    return (_SECRET, 0x52414E44) + tuple(int(w) for w in words)


def enabled() -> bool:
    return os.environ.get("KF_REFERENCE_REUSE") != "0"


class ReuseStats(msgspec.Struct):
    hits: int = 0  # input sets whose original outputs came from the store
    misses: int = 0  # input sets on which the original was run (and stored)
    too_large: int = 0  # sets larger than the budget: run every time, not stored
    epochs: int = 0  # fresh input epochs started
    bytes: int = 0
    python_hits: int = 0  # a Python reference's outputs on a set taken from the store
    python_runs: int = 0  # ... computed (and stored)
    special_hits: int = 0  # the scale of the original's outputs for the special values taken from the store
    special_runs: int = 0  # ... measured (and stored)


class StoredRun:
    """The original's outputs on one input set, read back to the host. Offers what the
    harness reads from a reference run (`read`, `free`), so a stored run and a live one are
    compared the same way."""

    __slots__ = ("inputs", "outputs", "digests", "nbytes")

    def __init__(self, inputs: Mapping[str, np.ndarray], outputs: Mapping[str, np.ndarray],
                 digests: Mapping[str, int | None] | None = None):
        self.inputs = inputs  # an InputSet: a key, regenerated on the device for every run
        self.outputs = dict(outputs)
        self.digests = dict(digests or {})  # device digests of the outputs (device_checks)
        for a in self.outputs.values():
            a.setflags(write=False)
        # with the host values the input set keeps once computed (InputSet.kept_bytes)
        self.nbytes = sum(a.nbytes for a in self.outputs.values()) + getattr(inputs, "kept_bytes", 0)

    def read(self, name: str, dtype: str) -> np.ndarray:
        return self.outputs[name]

    def digest(self, name: str) -> int | None:
        return self.digests.get(name)

    def free(self) -> None:
        pass


def _env_key(env: Mapping[str, Any]) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in env.items()))


def _contract_key(contract: Spec) -> bytes:
    return msgspec.msgpack.encode(contract.buffers)


class ReferenceStore:
    """Stored original runs of one device session: LRU by bytes, epochs per original."""

    def __init__(self, budget: int | None = None):
        self.budget = _default_budget() if budget is None else budget
        self.stats = ReuseStats()
        self._runs: OrderedDict[tuple, StoredRun] = OrderedDict()
        self._epochs: dict[str, list[int]] = {}  # original's key -> [epoch, evaluations in it]
        self._lock = threading.Lock()
        # original's key -> what its self-checks found (spread per buffer, notes, the oracle's
        # widening per buffer: backends/judge/original.py); successes only
        self.checked: dict[str, tuple] = {}

    def begin(self, original_key: str) -> int:
        """One evaluation of `original_key` starts: the input epoch it uses."""
        with self._lock:
            state = self._epochs.get(original_key)
            if state is None or state[1] >= REUSE_EVALUATIONS:
                epoch = (state[0] + 1) if state else 0
                self._epochs[original_key] = state = [epoch, 0]
                self.stats.epochs += 1
                for k in [k for k in self._runs if k[0] == original_key and k[1] != epoch]:
                    self.stats.bytes -= self._runs.pop(k).nbytes
            state[1] += 1
            return state[0]

    def inputs(self, epoch: int, contract: Spec, env: Mapping[str, Any], size_index: int,
               seed: int) -> InputSet:
        """The worker-secret inputs of one (size, seed) of an epoch: the same the original's
        stored run was made on (for a stub, which has no original, they are drawn here)."""
        return InputSet(contract, env, (_SECRET, epoch, size_index, seed))

    def expected(self, key: tuple, compute: Callable[[], Mapping[str, np.ndarray]]) -> Mapping[str, np.ndarray]:
        """A Python reference's outputs on one input set, computed once and kept like the
        original's (`key` starts with the original's key and the epoch, so a new epoch drops them)."""
        with self._lock:
            stored = self._runs.get(key)
            if stored is not None:
                self._runs.move_to_end(key)
                self.stats.python_hits += 1
                return stored.outputs
        outputs = dict(compute())
        run = StoredRun({}, outputs)
        with self._lock:
            self.stats.python_runs += 1
        if run.nbytes > self.budget:
            with self._lock:
                self.stats.too_large += 1
            return run.outputs
        with self._lock:
            self._runs[key] = run
            self.stats.bytes += run.nbytes
            while self.stats.bytes > self.budget and self._runs:
                self.stats.bytes -= self._runs.popitem(last=False)[1].nbytes
        return run.outputs

    def kept(self, key: tuple, contract: Spec, env: Mapping[str, Any], compute: Callable[[InputSet], Any]) -> Any:
        """A small result about the original computed once per epoch (`key` holds the original's
        key and the epoch; an epoch's end drops it): `compute(inputs)` on this epoch's secret
        inputs (at `env`), e.g. the scale of its outputs on ordinary inputs that the special
        values' tolerance uses (backends/judge/harness.py `_ordinary_scale`)."""
        full = (key[1], key[2], "kept", key[0], _contract_key(contract), _env_key(env))
        with self._lock:
            stored = self._runs.get(full)
            if stored is not None:
                self._runs.move_to_end(full)
                self.stats.special_hits += 1
                return stored.outputs["value"]
        value = compute(InputSet(contract, env, (_SECRET, key[2], SPECIAL_TAG)))
        run = StoredRun({}, {})
        run.outputs["value"], run.nbytes = value, 256
        with self._lock:
            self.stats.special_runs += 1
            self._runs[full] = run
            self.stats.bytes += run.nbytes
            while self.stats.bytes > self.budget and self._runs:
                self.stats.bytes -= self._runs.popitem(last=False)[1].nbytes
        return value

    def run(self, original_key: str, epoch: int, contract: Spec, env: Mapping[str, Any], size_index: int,
            seed: int, run_original: Callable[[Mapping[str, np.ndarray]], Any]) -> tuple[Mapping[str, np.ndarray], Any]:
        """(inputs, the original's run on them) for one (size, seed) of this epoch. The run is
        a StoredRun when stored, else the live buffers `run_original` returned (the caller
        frees them, as before)."""
        key = (original_key, epoch, _contract_key(contract), _env_key(env), size_index, seed)
        with self._lock:
            stored = self._runs.get(key)
            if stored is not None:
                self._runs.move_to_end(key)
                self.stats.hits += 1
                return stored.inputs, stored
        inputs = InputSet(contract, env, (_SECRET, epoch, size_index, seed))
        live = run_original(inputs)
        outs = [b for b in contract.buffers if b.role != "in"]
        size = sum(live.nbytes[b.name] for b in outs)
        if size > self.budget:
            with self._lock:
                self.stats.too_large += 1
            return inputs, live
        try:
            stored = StoredRun(inputs, {b.name: live.read_owned(b.name, b.dtype) for b in outs},
                               {b.name: live.digest(b.name) for b in outs})
        finally:
            live.free()  # the original's device buffers are gone before a candidate runs
        with self._lock:
            self.stats.misses += 1
            self._runs[key] = stored
            self.stats.bytes += stored.nbytes
            while self.stats.bytes > self.budget and self._runs:
                self.stats.bytes -= self._runs.popitem(last=False)[1].nbytes
        return inputs, stored


_stores: "weakref.WeakKeyDictionary[Any, ReferenceStore]" = weakref.WeakKeyDictionary()
_stores_lock = threading.Lock()


def store_for(session: Any) -> ReferenceStore:
    with _stores_lock:
        store = _stores.get(session)
        if store is None:
            store = _stores[session] = ReferenceStore()
        return store


def stats() -> dict[str, int]:
    total = ReuseStats()
    with _stores_lock:
        stores = list(_stores.values())
    for s in stores:
        for f in total.__struct_fields__:
            setattr(total, f, getattr(total, f) + getattr(s.stats, f))
    return msgspec.to_builtins(total)
