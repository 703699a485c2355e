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
