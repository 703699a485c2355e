"""tests/test_redteam_device_compare.py's kernel-level case on CUDA (marked gpu): 64-bit
integers off by one beyond 2^53 are outside an exact comparison in CudaSession.compare_close
too, with the host's message. The kernel's CUDA form compiles in CI
(tests/test_device_compare_cuda.py::test_the_comparison_kernels_compile_for_the_gpu)."""

from __future__ import annotations

import pytest

from backends.judge import device_checks
from backends.run.device_choice import devices

from test_redteam_device_compare import integers_off_by_one


@pytest.fixture(scope="module")
def session():
    from backends.cuda.session import CudaSession

    s = CudaSession(0)
    yield s
    s.close()


@pytest.mark.gpu
@pytest.mark.skipif(not devices("cuda"), reason="no CUDA GPU")
@pytest.mark.parametrize("dtype", ["i64", "u64"])
def test_64_bit_integers_off_by_one_beyond_2_53_are_wrong_on_the_gpu(session, monkeypatch, dtype):
    monkeypatch.setattr(device_checks, "DEVICE_COMPARE_MIN_BYTES", 1 << 20)
    integers_off_by_one(session, dtype)
