"""A candidate that moves a `parallel_for<class eval>` lambda's work into a helper of the same file
(HeCBench laplace3d-sycl, whose own helper lives in kernel.h) no longer has a kernel `eval`: kf
reads the helper as the kernel. `FILE:eval` then says why and how to keep the lambda, instead
of only listing the file's kernels."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from backends.kernel.scanner import KernelNotFound, find_kernel

SRC = Path(__file__).resolve().parent / "corpus" / "hecbench" / "src" / "laplace3d-sycl"

_HELPER = '''
void laplace3d_direct(sycl::nd_item<2> &item, int NX, int NY, int NZ, int pitch,
                      const float *__restrict d_u1, float *__restrict d_u2)
{
  const int i = item.get_global_id(1), j = item.get_global_id(0);
  if (i >= NX || j >= NY) return;
  for (int k = 0; k < NZ; k++) d_u2[i + j * pitch + k * pitch * NY] = d_u1[i + j * pitch + k * pitch * NY];
}
'''
_CALL = '''        laplace3d(item, NX, NY, NZ, pitch,
                  d_u1, d_u2,
                  sm.get_multi_ptr<sycl::access::decorated::no>().get());
      });
    });
    std::swap'''


def _candidate(tmp_path: Path, helper_in_header: bool) -> Path:
    for f in SRC.iterdir():
        shutil.copy(f, tmp_path / f.name)
    text = (SRC / "main.cpp").read_text()
    assert text.count(_CALL) == 1
    text = text.replace(_CALL, _CALL.replace(_CALL.split("\n      });")[0],
                                             "        laplace3d_direct(item, NX, NY, NZ, pitch, d_u1, d_u2);"))
    if helper_in_header:
        (tmp_path / "direct.h").write_text("#pragma once\n#include <sycl/sycl.hpp>\n" + _HELPER)
        text = text.replace("\nint main(", '\n#include "direct.h"\n\nint main(', 1)
    else:
        text = text.replace("\nint main(", _HELPER + "\nint main(", 1)
    path = tmp_path / "cand.cpp"
    path.write_text(text)
    return path


def test_a_lambda_whose_work_moved_into_a_helper_of_the_file_says_so(tmp_path):
    path = _candidate(tmp_path, helper_in_header=False)
    text = path.read_text()
    with pytest.raises(KernelNotFound) as e:
        find_kernel(text, str(path), "eval")
    line = text[: text.index("parallel_for<class eval>")].count("\n") + 1
    msg = str(e.value)
    assert "(kernels: laplace3d_direct, warmup)" in msg, msg
    assert f"the lambda `eval` (line {line}) hands its work-item to `laplace3d_direct`, a function of this file, " \
           "so kf reads `laplace3d_direct` as the kernel; to keep the kernel `eval`, write the work in the " \
           "lambda's body or keep the function in a header the file includes" in msg, msg


def test_with_the_helper_in_a_header_the_lambda_stays_the_kernel(tmp_path):
    path = _candidate(tmp_path, helper_in_header=True)
    k = find_kernel(path.read_text(), str(path), "eval")
    assert k.name == "eval" and k.form == "lambda"
    with pytest.raises(KernelNotFound) as e:  # a name that is nowhere: the plain message
        find_kernel(path.read_text(), str(path), "evil")
    assert str(e.value).endswith("(kernels: warmup, eval)"), str(e.value)
