"""Tunables #defined in a header the kernel's file includes (user20b, HeCBench laplace3d-sycl).

laplace3d-sycl's kernel.h has `#define BLOCK_X 32` / `#define BLOCK_Y 8`; main.cpp's lambda
spec said `local BLOCK_Y, BLOCK_X` and `tune BLOCK_Y = 4, 8, 16`. kf looked for the #define
only in main.cpp: the original ran at 4 (the first listed) in the launch while the header
made the kernel 8, and `kf bench` said the evaluation process died (SIGSEGV). Now the header
is read: unguarded, the tune line is a spec error naming the header's line; under
`#ifndef`, the original runs at the header's value and a tuned value reaches the kernel
and the header's own functions (laplace3d's kernel body lives in kernel.h).
Files are written like the real ones; one real SYCL run (CPU).
"""

from __future__ import annotations

import time

import msgspec
import pytest

from backends.kernel.scanner import find_kernels
from backends.kernel.splice import write_variant
from backends.kernel.text import range_to_offsets
from backends.kernel.tunables import TunableError, bind, defaults

from test_cli import kf

_MAIN = """\
#include <sycl/sycl.hpp>
#include "kernel.h"
namespace syclext = sycl::ext::oneapi;
namespace syclexp = sycl::ext::oneapi::experimental;

// @kf in  x: float[n]
// @kf out y: float[n]
// @kf n = 4096
// @kf global roundup(n, BLOCK)
// @kf local BLOCK
// @kf tune BLOCK = 4, 8, 16
// @kf check n = 1000
extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
void twice(const float* x, float* y, int n) {
  auto it = syclext::this_work_item::get_nd_item<1>();
  size_t i = group_start(it.get_group(0)) + it.get_local_id(0);  // right only when the launch's group is BLOCK
  if (i < n) y[i] = 2.0f * x[i];
}
"""

_UNGUARDED = ("// block size\n\n#define BLOCK 8\n#define HALO (BLOCK+2)\n"
              "static inline size_t group_start(size_t g) { return g * BLOCK; }\n")
_GUARDED = ("// block size\n\n#ifndef BLOCK\n#define BLOCK 8\n#endif\n"
            "static inline size_t group_start(size_t g) { return g * BLOCK; }\n")


def _kernel(tmp_path, header: str, folder: str = "."):
    d = tmp_path / folder
    d.mkdir(exist_ok=True)
    (d / "kernel.h").write_text(header)
    main = tmp_path / "main.cpp"
    text = _MAIN if folder == "." else _MAIN.replace('"kernel.h"', f'"{folder}/kernel.h"')
    main.write_text(text)
    return main, text, find_kernels(text, str(main))[0]


def test_an_unguarded_header_define_is_a_spec_error_at_the_tune_line(tmp_path):
    main, text, k = _kernel(tmp_path, _UNGUARDED)
    errors = [d for d in k.spec_errors if d.severity == "error"]
    assert [(d.line + 1, d.column + 1) for d in errors] == [(11, 13)], errors  # `BLOCK` of `tune BLOCK`
    assert errors[0].message.startswith("BLOCK is #defined at kernel.h:3 without #ifndef BLOCK: "
                                        "kf cannot set it from outside; wrap it in #ifndef BLOCK"), errors
    with pytest.raises(TunableError, match="kernel.h:3"):  # never a run whose launch and kernel disagree
        bind(text, k, {})
    proc = kf("bench", f"{main}:twice", "--seeds", "1", cwd=tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "main.cpp:11:13: error: BLOCK is #defined at kernel.h:3 without #ifndef BLOCK" in proc.stderr
    assert "SIGSEGV" not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr


def test_a_header_in_a_subfolder_is_found_as_the_compiler_finds_it(tmp_path):
    _, _, k = _kernel(tmp_path, _UNGUARDED, folder="inc")
    assert any("inc/kernel.h:3 without #ifndef BLOCK" in d.message for d in k.spec_errors), k.spec_errors


def test_a_guarded_header_define_is_the_originals_value_and_can_be_tuned(tmp_path):
    from backends.kernel.load import load_unit
    from backends.model import EvalOptions, EvalRequest
    from backends.run.local_pool import EvalPool

    main, text, k = _kernel(tmp_path, _GUARDED)
    assert not [d for d in k.spec_errors if d.severity == "error"], k.spec_errors
    assert defaults(text, k) == {"BLOCK": 8}  # the header's, not the first listed (4)
    bound = bind(text, k, {"BLOCK": 16})  # above `#include "kernel.h"`: the header's code sees it too
    assert (bound.prelude, bound.before) == ("", [(1, "#define BLOCK 16\n")])
    a, b = range_to_offsets(text, k.region)  # applying the variant writes it there too
    assert write_variant(text, k, text[a:b], {"BLOCK": 16}).splitlines()[1:3] == ["#define BLOCK 16",
                                                                                  '#include "kernel.h"']
    reference = load_unit(str(main), "twice")
    candidate = msgspec.structs.replace(reference, tunables={"BLOCK": 16})
    quick = EvalOptions(seeds=1, min_trials=3, max_trials=3, target_seconds=0.02, warmup_seconds=0.0,
                        timeout_s=60.0)
    with EvalPool("sycl", [0]) as pool:
        r = pool.evaluate_sync(EvalRequest(reference, candidate, "sycl", 0, quick, nonce=time.time_ns() & 0xFFFF))
    assert r.verdict.value == "correct", r.message
