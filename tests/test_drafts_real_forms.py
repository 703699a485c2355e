"""Issue 18, the real-file forms drafts could not read: launches written inside a project's
macros, launch sizes computed from device queries, values held by class members. A draft
reads what it can and, for the rest, says at FILE:LINE what it could not read and what to
write. All on unchanged public files of tests/corpus (licences there)."""

from __future__ import annotations

import re
from pathlib import Path

from backends.kernel.preprocess import expand_launch_macros, launch_macros
from backends.kernel.scanner import find_kernels
from backends.kernel.spec import draft_spec

CORPUS = Path(__file__).resolve().parent / "corpus"


def _draft(rel: str, kernel: str) -> str:
    path = CORPUS / rel
    text = path.read_text()
    k = next(k for k in find_kernels(text, str(path)) if k.name == kernel)
    return draft_spec(k, text=text, path=str(path))


def test_a_launch_inside_the_projects_macros_is_read_where_the_macro_is_used():
    """HeCBench bincount launches only through HANDLE_SWITCH_CASE -> HANDLE_CASE, a macro holding
    `bincount<...><<<grid, block, SHARED_MEM>>>(...)`: the draft is made from it and says so."""
    rel = "hecbench/src/bincount-cuda/main.cu"
    draft = _draft(rel, "bincount")
    assert "drafted from the launch at line 192 (in macro `HANDLE_SWITCH_CASE` (line 116) -> `HANDLE_CASE` " \
           "(line 95))" in draft, draft
    for line in ("// @kf in  input: float[input_size]", "// @kf nbins = 768", "// @kf grid cdiv(input_size, 256)",
                 "// @kf block 256", "// @kf output_size = 768"):
        assert line in draft, draft
    # what it cannot know (the input's min and max) stays a placeholder, with its reason
    assert "// @kf minvalue = ?" in draft and "minvalue: kf could not follow `*min_iter`" in draft
    text = (CORPUS / rel).read_text()
    expanded, where = expand_launch_macros(text, launch_macros([(rel, text)]))
    assert expanded.count("\n") == text.count("\n")  # every line keeps its number
    assert "<<<grid, block, sharedMem>>>" in expanded.split("\n")[191] and where[191] == ["HANDLE_SWITCH_CASE",
                                                                                         "HANDLE_CASE"]


def _note(draft: str, name: str) -> str:
    return next(ln for ln in draft.splitlines() if ln.startswith(f"// kf: {name}: "))


def test_a_work_group_size_from_the_devices_limit_names_the_query_and_what_to_write():
    """computecpp-sdk matrix-multiply sizes its groups from max_work_group_size: no value of the
    code is right on every device, so the draft names the query's line and asks for a value."""
    draft = _draft("computecpp-sdk/samples/matrix-multiply.cpp", "mxm_kernel")
    note = _note(draft, "blockSize")
    assert "`blockSize`, which depends on the device (`get_info<cl::sycl::info::device::max_work_group_size>()` " \
           "at matrix-multiply.cpp:132): write a value that every device you run it on allows" in note, note
    assert "// @kf local ?, ?" in draft


def test_a_size_chosen_in_a_loop_under_a_device_limit_is_said_to_depend_on_the_device():
    draft = _draft("sycl-samples/src/scan_parallel_inclusive/scan.cpp", "scan_segments")
    note = _note(draft, "wgroup_size")
    assert re.search(r"which depends on the device \(`get_info<sycl::info::device::\w+>\(\)` at scan\.cpp:8[56]\)",
                     note), note


def test_a_sub_group_size_from_the_device_is_said_to_depend_on_the_device():
    draft = _draft("hecbench/src/softmax-sycl/main.cpp", "sm2")
    assert "which depends on the device (`get_info<sycl::info::device::sub_group_sizes>()` at main.cpp:57)" in draft


def test_a_size_held_by_a_class_member_names_the_member_and_its_class():
    """SYCL-samples fluid.h: the kernels sit in static member functions called with the object's
    `size` member, set by a constructor kf does not see called: the draft says which member."""
    draft = _draft("sycl-samples/src/fluid/fluid.h", "fluid_advect")
    assert "kf could not follow `size`, a member of class `SYCLFluidContainer` (fluid.h:445) set outside this " \
           "function: write its value" in draft, draft


_CTAD = '''#include <sycl/sycl.hpp>
#include <array>
#include <vector>

constexpr size_t N = 1024;
using T = float;

int main() {
  std::vector<T> A(N * N), B(N * N);
  std::vector<double> C(N);
  std::array<int, 256> D{};
  sycl::queue q;
  sycl::range globalRange{N, N};
  sycl::range localRange{16, 16};
  {
    sycl::buffer inBuf{A.data(), globalRange};
    sycl::buffer outBuf{&B[0], globalRange};
    q.submit([&](sycl::handler& cgh) {
      sycl::accessor inAcc{inBuf, cgh, sycl::read_only};
      sycl::accessor outAcc{outBuf, cgh, sycl::write_only, sycl::property::no_init{}};
      cgh.parallel_for<class scale>(sycl::nd_range{globalRange, localRange}, [=](sycl::nd_item<2> item) {
        auto g = item.get_global_id();
        outAcc[g] = 2.0f * inAcc[g];
      });
    });
  }
  {
    sycl::buffer cBuf{C};
    sycl::buffer dBuf{D};
    q.submit([&](sycl::handler& cgh) {
      sycl::accessor c{cBuf, cgh, sycl::read_write};
      sycl::accessor d{dBuf, cgh, sycl::read_only};
      cgh.parallel_for<class twice>(sycl::range<1>{N}, [=](sycl::id<1> i) { c[i] *= 2.0 + d[i % 256]; });
    });
  }
}
'''


def test_buffers_made_by_class_template_argument_deduction_take_their_containers_element_type():
    """SYCL Academy's Matrix_Transpose writes `sycl::buffer inBuf{A.data(), globalRange}` over a
    `std::vector<T>` (T an alias of float) and `sycl::accessor inAcc{inBuf, cgh, ...}`: no type is
    spelt anywhere, so the draft read `?[?]` and blamed `auto`. The container's element type and
    the range's extents give both."""
    path = "/ctad/transpose.cpp"
    kernels = {k.name: k for k in find_kernels(_CTAD, path)}
    draft = draft_spec(kernels["scale"], text=_CTAD, path=path)
    assert "// @kf in  inAcc: float[N * N]" in draft and "// @kf out outAcc: float[N * N]" in draft, draft
    assert "auto" not in draft and "?" not in draft, draft
    draft = draft_spec(kernels["twice"], text=_CTAD, path=path)
    assert "// @kf inout c: double[N]" in draft and "// @kf in  d: int[256]" in draft, draft
    assert "auto" not in draft, draft


def test_an_accessor_whose_buffer_names_no_type_is_not_blamed_on_auto():
    """`sycl::buffer b{make(), range}` (a function's pointer) under `sycl::accessor a{b, ...}`: kf
    cannot tell the type; the note says so in the code's terms, not "no data type for `auto`"."""
    text = _CTAD.replace("sycl::buffer inBuf{A.data(), globalRange};", "sycl::buffer inBuf{make(), globalRange};")
    k = next(k for k in find_kernels(text, "/ctad/t.cpp") if k.name == "scale")
    draft = draft_spec(k, text=text, path="/ctad/t.cpp")
    assert "// kf: inAcc: kf could not tell its element type (neither it nor its buffer names one)" in draft, draft
    assert "`auto`" not in draft, draft
