"""SYCL kernels written as functions in a header (HeCBench atomicReduction-sycl, laplace3d-sycl;
found by helper user20b, report-user20b.md "Not fixed").

`kf kernels atomicReduction-sycl/kernels.h` said `no CUDA (.cu/.cuh) or SYCL kernels here` (the
CUDA version lists its 5 kernels), so a SYCL user could not draft or bench atomic_reduction_v2..v16,
which reduction.cpp launches through its `benchmark(kernel_name, grid_size)` macro. The lambda
that calls the header's function (reduction.cpp main#1, laplace3d main.cpp eval) was drafted with
`inout` for buffers the function only reads and without `start 0` for its atomic sum.

The files are HeCBench's, unchanged (tests/corpus/hecbench, BSD-3-Clause, hecbench/LICENSE); a
test that edits one works on a copy. One real SYCL run (CPU device).
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

from backends.kernel.scanner import find_kernels, language_of

from test_cli import kf

HEC = Path(__file__).resolve().parent / "corpus" / "hecbench" / "src"
REDUCTION = HEC / "atomicReduction-sycl"
LAPLACE = HEC / "laplace3d-sycl"


def _kernels(path: Path) -> list[tuple[str, str, int]]:
    text = path.read_text()
    return [(k.name, k.form, k.name_range.start.line + 1) for k in find_kernels(text, str(path))]


def test_work_item_functions_of_a_header_are_kernels():
    """kernels.h defines 5 functions taking `const sycl::nd_item<1> &` and no parallel_for; its
    `atomicAdd(int&, int)` helper takes no work-item. laplace3d's kernel.h does not even include
    <sycl/sycl.hpp> (main.cpp does before including it)."""
    assert _kernels(REDUCTION / "kernels.h") == [
        ("atomic_reduction", "nd_item_function", 11), ("atomic_reduction_v2", "nd_item_function", 20),
        ("atomic_reduction_v4", "nd_item_function", 29), ("atomic_reduction_v8", "nd_item_function", 38),
        ("atomic_reduction_v16", "nd_item_function", 48)]
    assert language_of(str(LAPLACE / "kernel.h")) == "sycl"
    assert _kernels(LAPLACE / "kernel.h") == [("laplace3d", "nd_item_function", 29)]
    # main.cpp's lambdas hand it `sm.get_multi_ptr<...>().get()` of a local_accessor: work-group
    # local memory, not a parameter (a global buffer of the spec would be shared by every group)
    k = find_kernels((LAPLACE / "kernel.h").read_text(), str(LAPLACE / "kernel.h"))[0]
    assert [p.name for p in k.params] == ["NX", "NY", "NZ", "pitch", "d_u1", "d_u2"], k.params
    p = kf("kernels", "atomicReduction-sycl/kernels.h", cwd=HEC)
    assert p.returncode == 0, p.stderr
    assert "atomicReduction-sycl/kernels.h:20:6: atomic_reduction_v2 (SYCL function taking the work-item)" \
        in p.stdout, p.stdout


def test_a_helper_taking_the_work_item_is_not_a_kernel(tmp_path):
    """A header of dpct kernels often has helpers taking the item too (`warp_sum(v, item)`): one
    that another function of the header calls is part of that kernel, not a kernel."""
    h = tmp_path / "k.h"
    h.write_text("int warp_sum(int v, const sycl::nd_item<1> &item) {\n"
                 "  return sycl::reduce_over_group(item.get_sub_group(), v, sycl::plus<int>());\n}\n"
                 "void total(const int *in, int *out, const sycl::nd_item<1> &item) {\n"
                 "  int s = warp_sum(in[item.get_global_id(0)], item);\n"
                 "  if (item.get_local_id(0) == 0) out[item.get_group(0)] = s;\n}\n")
    assert [k.name for k in find_kernels(h.read_text(), str(h))] == ["total"]


def test_a_header_kernel_is_drafted_from_the_macro_launch_of_its_includer():
    """`kf spec kernels.h:atomic_reduction_v2` reads reduction.cpp's `benchmark(atomic_reduction_v2,
    blocks / 2)`, as the CUDA version's draft does."""
    p = kf("spec", "atomicReduction-sycl/kernels.h:atomic_reduction_v2", cwd=HEC)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0].startswith("// kf: drafted from the launch at reduction.cpp:117 (in macro `benchmark` "
                               "(reduction.cpp:88))"), lines
    assert "// @kf in  in: int[arrayLength]" in lines, lines
    assert "// @kf out out: int[1] start 0" in lines, lines
    assert "// @kf arrayLength = 52428800" in lines and "// @kf local 128" in lines, lines


def test_roles_follow_a_buffer_into_the_headers_function():
    """main#1 only hands `in` and `out` to kernels.h's atomic_reduction, which reads `in` and adds
    into `out[0]` atomically; laplace3d's eval hands `d_u1` (read) and `d_u2` (written) to kernel.h's
    laplace3d. They were all `inout`, and `out` had no start value."""
    p = kf("spec", "atomicReduction-sycl/reduction.cpp:main#1", cwd=HEC)
    assert p.returncode == 0, p.stderr
    assert "// @kf in  in: int[arrayLength]" in p.stdout and "// @kf out out: int[1] start 0" in p.stdout, p.stdout
    p = kf("spec", "laplace3d-sycl/main.cpp:eval", cwd=HEC)
    assert p.returncode == 0, p.stderr
    assert "// @kf in  d_u1: float[NX * NY * NZ]" in p.stdout, p.stdout
    assert "// @kf out d_u2: float[NX * NY * NZ]" in p.stdout, p.stdout


def test_a_header_kernel_runs_as_drafted(tmp_path):
    """The draft of atomic_reduction_v4, pasted above it in a copy of kernels.h at a small length,
    builds and runs on the SYCL device: the original is correct against itself at every size."""
    from backends.kernel.load import load_unit
    from backends.model import EvalOptions, EvalRequest
    from backends.run.local_pool import EvalPool

    work = tmp_path / "atomicReduction-sycl"
    shutil.copytree(REDUCTION, work)
    p = kf("spec", "kernels.h:atomic_reduction_v4", cwd=work)
    assert p.returncode == 0, p.stderr
    spec = [ln.replace("arrayLength = 52428800", "arrayLength = 1 << 14") for ln in p.stdout.splitlines()
            if "@kf" in ln]
    lines = (work / "kernels.h").read_text().split("\n")
    lines[28:28] = spec  # above `void atomic_reduction_v4(` (line 29)
    (work / "kernels.h").write_text("\n".join(lines))
    unit = load_unit(str(work / "kernels.h"), "atomic_reduction_v4")
    assert not [d for d in unit.kernel.spec_errors if d.severity == "error"], unit.kernel.spec_errors
    quick = EvalOptions(seeds=1, min_trials=2, max_trials=2, target_seconds=0.01, warmup_seconds=0.0,
                        timeout_s=60.0)
    with EvalPool("sycl", [0]) as pool:
        r = pool.evaluate_sync(EvalRequest(unit, unit, "sycl", 0, quick, nonce=time.time_ns() & 0xFFFF))
    assert r.verdict.value == "correct", r.message


def test_an_unguarded_header_tunable_of_laplace3d_is_a_spec_error(tmp_path):
    """user20b: `tune BLOCK_Y = 4, 8, 16` over laplace3d-sycl's kernel.h `#define BLOCK_Y 8` (no
    #ifndef) made `kf bench` say the evaluation process died (SIGSEGV). Fixed by hdr20: a spec
    error at the tune line naming kernel.h:21; checked here on the real files."""
    work = tmp_path / "laplace3d-sycl"
    shutil.copytree(LAPLACE, work)
    main = work / "main.cpp"
    lines = main.read_text().split("\n")
    at = next(i for i, ln in enumerate(lines) if "parallel_for<class eval>" in ln)
    lines[at:at] = ["      // @kf in  d_u1: float[NX * NY * NZ]", "      // @kf out d_u2: float[NX * NY * NZ]",
                    "      // @kf NX = 128", "      // @kf NY = 128", "      // @kf NZ = 128",
                    "      // @kf pitch = NX", "      // @kf global (1 + (NY - 1) // BLOCK_Y) * BLOCK_Y, "
                    "(1 + (NX - 1) // BLOCK_X) * BLOCK_X", "      // @kf local BLOCK_Y, BLOCK_X",
                    "      // @kf tune BLOCK_Y = 4, 8, 16"]
    text = "\n".join(lines)
    main.write_text(text)
    k = next(k for k in find_kernels(text, str(main)) if k.name == "eval")
    errors = [d.message for d in k.spec_errors if d.severity == "error"]
    assert any(m.startswith("BLOCK_Y is #defined at kernel.h:21 without #ifndef BLOCK_Y") for m in errors), errors


_ZEROED = """\
#include <sycl/sycl.hpp>
void add_into(const float *in, float *out, int n, const sycl::nd_item<1> &item) {
  int i = item.get_global_id(0);
  if (i < n) out[i] += in[i];
}
int main() {
  sycl::queue q;
  int n = 4096;
  float *in = sycl::malloc_device<float>(n, q), *out = sycl::malloc_device<float>(n, q);
  ZERO
  q.parallel_for(sycl::nd_range<1>(sycl::range<1>(n), sycl::range<1>(256)), [=](sycl::nd_item<1> item) {
    add_into(in, out, n, item);
  }).wait();
  AFTER
}
"""


def test_a_buffer_the_host_zeroes_before_the_launch_starts_at_zero(tmp_path):
    """atomicReduction's host does `q.memset(out, 0, sizeof(int))` before each launch: the program's
    kernel starts from zeros, which is `out ... start 0` (an `inout` would start from random data).
    A memset after the launch says nothing about it."""
    (tmp_path / "a.cpp").write_text(_ZEROED.replace("ZERO", "q.memset(out, 0, n * sizeof(float));")
                                    .replace("AFTER", ""))
    p = kf("spec", "a.cpp:add_into", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "// @kf out out: float[n] start 0" in p.stdout and "// @kf in  in: float[n]" in p.stdout, p.stdout
    (tmp_path / "b.cpp").write_text(_ZEROED.replace("ZERO", "").replace("AFTER", "q.memset(out, 0, n * sizeof(float));"))
    p = kf("spec", "b.cpp:add_into", cwd=tmp_path)
    assert "// @kf inout out: float[n]" in p.stdout, p.stdout
    (tmp_path / "c.cu").write_text(
        "__global__ void add_into(const float *in, float *out, int n) {\n"
        "  int i = blockIdx.x * blockDim.x + threadIdx.x;\n  if (i < n) out[i] += in[i];\n}\n"
        "int main() {\n  int n = 4096;\n  float *in, *out;\n  cudaMalloc(&in, n * sizeof(float));\n"
        "  cudaMalloc(&out, n * sizeof(float));\n  cudaMemset(out, 0, n * sizeof(float));\n"
        "  add_into<<<n / 256, 256>>>(in, out, n);\n}\n")
    p = kf("spec", "c.cu:add_into", cwd=tmp_path)
    assert "// @kf out out: float[n] start 0" in p.stdout, p.stdout


def test_laplace3d_evals_local_accessor_is_its_shared_memory():
    """user20b: `kf bench` showed `shared mem 0 B` for laplace3d-sycl's eval, whose command group
    has `sycl::local_accessor<float, 1> sm(3*KOFF, cgh)` (KOFF = (32+2)*(8+2): 4080 B) handed to
    kernel.h's laplace3d. Fixed by smem20 (the compiled kernel's local memory); checked here on
    the real files: the lifted kernel compiled for the SYCL device reports 4080 B."""
    from backends.kernel.lift import lift
    from backends.session import CompileUnit
    from backends.sycl.session import SyclSession

    path = str(LAPLACE / "main.cpp")
    text = (LAPLACE / "main.cpp").read_text()
    k = next(k for k in find_kernels(text, path) if k.name == "eval")
    lifted = lift(text, k, path)
    with SyclSession() as s:
        compiled = s.compile(CompileUnit(path, lifted.source, lifted.entry, "sycl",
                                       include_dirs=[str(LAPLACE), str(HEC / "laplace3d-cuda")]))
    assert compiled.resources.static_shared == 3 * 34 * 10 * 4


_LAPLACE_SPEC = """\
// @kf in  d_u1: float[NX * NY * NZ]
// @kf out d_u2: float[NX * NY * NZ]
// @kf NX = 64
// @kf NY = 40
// @kf NZ = 16
// @kf pitch = NX
// @kf global (1 + (NY - 1) // BLOCK_Y) * BLOCK_Y, (1 + (NX - 1) // BLOCK_X) * BLOCK_X
// @kf local BLOCK_Y, BLOCK_X
// @kf tune BLOCK_X = 32
// @kf tune BLOCK_Y = 8
// @kf require NX % 32 == 0
// @kf check NX = 64, NY = 53, NZ = 9"""


def test_a_header_kernel_gets_the_local_memory_its_includer_hands_it(tmp_path):
    """`kf bench kernel.h:laplace3d` (a spec above the function in a copy of the header, small
    sizes): u1 is the work-group local memory main.cpp's lambda makes (`local_accessor<float, 1>
    sm(3*KOFF, cgh)`), so the kernel runs correctly and the shared mem row says 4080 B."""
    shutil.copytree(LAPLACE, tmp_path / "laplace3d-sycl")
    shutil.copytree(HEC / "laplace3d-cuda", tmp_path / "laplace3d-cuda")
    header = tmp_path / "laplace3d-sycl" / "kernel.h"
    lines = header.read_text().split("\n")
    lines[28:28] = _LAPLACE_SPEC.split("\n")  # above `void laplace3d(` (line 29)
    header.write_text("\n".join(lines))
    p = kf("bench", "kernel.h:laplace3d", "--time-budget", "0.1", "--seeds", "1", cwd=header.parent)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "verdict: correct" in p.stdout, p.stdout
    assert re.search(r"shared mem\s*│\s*4080 B", p.stdout), p.stdout


def test_local_memory_sized_by_the_includers_variable_is_an_error_naming_the_launch(tmp_path):
    """The header alone cannot size local memory the including file sizes at run time."""
    (tmp_path / "k.h").write_text(
        "void block_sum(const float *in, float *out, float *scratch, const sycl::nd_item<1> &it) {\n"
        "  scratch[it.get_local_id(0)] = in[it.get_global_id(0)];\n"
        "  sycl::group_barrier(it.get_group());\n"
        "  if (it.get_local_id(0) == 0) out[it.get_group(0)] = scratch[0];\n}\n")
    (tmp_path / "main.cpp").write_text(
        "#include <sycl/sycl.hpp>\n#include \"k.h\"\nint main(int argc, char **argv) {\n"
        "  sycl::queue q;\n  int n = 1 << 16, wg = atoi(argv[1]);\n"
        "  float *in = sycl::malloc_device<float>(n, q), *out = sycl::malloc_device<float>(n / wg, q);\n"
        "  q.submit([&](sycl::handler &h) {\n    sycl::local_accessor<float, 1> s(wg, h);\n"
        "    h.parallel_for(sycl::nd_range<1>(n, wg), [=](sycl::nd_item<1> it) {\n"
        "      block_sum(in, out, s.get_multi_ptr<sycl::access::decorated::no>().get(), it);\n    });\n  });\n}\n")
    k = find_kernels((tmp_path / "k.h").read_text(), str(tmp_path / "k.h"))[0]
    assert [p.name for p in k.params] == ["in", "out"], k.params
    errors = [d.message for d in k.spec_errors if d.severity == "error"]
    assert errors == ["kf cannot lift 'block_sum': the launch at main.cpp:10 hands it local memory sized by "
                      "wg, a variable there: bench that lambda"], errors
