"""A compiler that crashes on a candidate (the SYCL runtime compiler on bfloat16 code kills its
process with SIGSEGV) gives that candidate a compile error carrying the compiler's last
words, and the pool goes on with a fresh worker (issue 17). Real SYCL on the CPU."""

from __future__ import annotations

from pathlib import Path

import pytest

from backends.kernel.load import load_unit
from backends.model import EvalOptions, EvalRequest, Verdict
from backends.run.local_pool import EvalPool

HERE = Path(__file__).resolve().parent / "kernels" / "sycl_crash"
FAST = EvalOptions(seeds=1, check_extra_sizes=False, time=False, profile=False)

try:
    import dpctl  # noqa: F401
except ImportError:  # pragma: no cover
    pytest.skip("the SYCL runtime (dpctl) is not installed", allow_module_level=True)


def test_a_compiler_crash_is_a_compile_error_of_the_candidate_and_the_pool_goes_on():
    ref = load_unit(str(HERE / "scale.cpp"))
    crashing = load_unit(str(HERE / "scale_bf16.cpp"))
    with EvalPool("sycl", [0]) as pool:
        result = pool.evaluate_sync(EvalRequest(ref, crashing, "sycl", 0, FAST))
        if result.verdict is Verdict.CORRECT:
            pytest.skip("this SYCL runtime compiles bfloat16 code (the crash is fixed)")
        assert result.verdict is Verdict.COMPILE_ERROR, result.message
        assert "compiler crashed" in result.message and "SIGSEGV" in result.message
        assert "while compiling the candidate: " in result.message  # with the compiler's last words
        assert result.diagnostics and result.diagnostics[0].file == crashing.path
        assert result.diagnostics[0].line == crashing.kernel.name_range.start.line
        again = pool.evaluate_sync(EvalRequest(ref, ref, "sycl", 0, FAST))  # a fresh worker takes over
        assert again.verdict is Verdict.CORRECT, again.message
