"""The adversarial candidates of tests/kernels and the verdict each must get.

Shared by the SYCL end-to-end tests (CI, CPU) and the CUDA ones (GPU machine)."""

from __future__ import annotations

import time
from pathlib import Path

from backends.model import EvalOptions, EvalRequest, Verdict
from backends.kernel.load import load_unit

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
KERNELS = ROOT / "tests" / "kernels"
EXT = {"cuda": ".cu", "sycl": ".cpp"}

CASES: dict[str, set[Verdict]] = {
    "good": {Verdict.CORRECT},
    "wrong": {Verdict.WRONG},
    "oob_write": {Verdict.OUT_OF_BOUNDS},
    "input_modified": {Verdict.INPUT_MODIFIED},
    "stale_output": {Verdict.UNWRITTEN},
    "partial_write": {Verdict.UNWRITTEN},
    "constant_output": {Verdict.CONSTANT},
    "hang": {Verdict.TIMEOUT},
    "crash": {Verdict.CRASH},
    "compile_error": {Verdict.COMPILE_ERROR},
    "contract_change": {Verdict.CONTRACT},
    "cache_attack": {Verdict.WRONG, Verdict.UNWRITTEN},
}

FAST = EvalOptions(seeds=2, min_trials=5, max_trials=40, target_seconds=0.2, warmup_seconds=0.02, timeout_s=10.0)


def request(language: str, case: str | None, backend: str, device: int = 0, options: EvalOptions = FAST,
            reference: str = "saxpy") -> EvalRequest:
    ref = load_unit(str(EXAMPLES / language / f"{reference}{EXT[language]}"))
    cand = load_unit(str(KERNELS / language / f"{case}{EXT[language]}")) if case else None
    return EvalRequest(ref, cand, backend, device, options, nonce=time.time_ns() & 0xFFFF)


def cases_for(language: str) -> list[str]:
    return [c for c in CASES if (KERNELS / language / f"{c}{EXT[language]}").exists()]
