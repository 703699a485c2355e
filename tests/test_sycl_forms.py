"""SYCL kernels as users write them are found (issue 17, "What was seen": 0 of 29 kernels found
in real SYCL files): lambdas passed to `parallel_for` and functions taking `sycl::nd_item<N>`
called from such a lambda, with what they take from the host as their parameters, named as
/work/notes/conventions.md says, with the spec above the `parallel_for` line (lambdas) or the
function (nd_item functions). Scanning only: tests/test_sycl_lift.py runs them."""

from __future__ import annotations

import textwrap

import pytest

from backends.kernel.load import split_target
from backends.kernel.scanner import find_kernel, find_kernels, language_of, stands_for
from kf_lsp.core.index import parse_entry

USM = textwrap.dedent("""\
    #include <sycl/sycl.hpp>
    #include <iostream>

    template <typename T>
    void axpy(sycl::queue& q, size_t n, T alpha) {
      T* x = sycl::malloc_device<T>(n, q);
      auto y = sycl::malloc_shared<T>(n, q);
      q.parallel_for(sycl::range<1>{n}, [=](sycl::id<1> i) {
        y[i] += alpha * x[i];
      }).wait();
    }

    int main() {
      sycl::queue q;
      const int n = 1024;
      float *a = sycl::malloc_device<float>(n, q), *b = sycl::malloc_device<float>(n, q);
      int rows = 16, cols = 64;
      // first kernel
      q.parallel_for(sycl::range<2>(rows, cols), [=](sycl::item<2> it) {
        a[it.get_linear_id()] = it[0] + it[1];
      });
      q.submit([&](sycl::handler& h) {
        h.parallel_for<class scale>(sycl::nd_range<1>(n, 64), [=](sycl::nd_item<1> it) {
          size_t i = it.get_global_id(0);
          b[i] = 2 * a[i];
        });
      });
      auto e = q.parallel_for(n, [=](auto i) { b[i] += 1; });
      e.wait();
      std::cout << "done" << std::endl;
    }
    """)

DPCT = textwrap.dedent("""\
    #include <sycl/sycl.hpp>
    #include <dpct/dpct.hpp>

    void vadd(const float* a, const float* b, float* c, int n,
              const sycl::nd_item<3> &item_ct1, float *tile)
    {
      int i = item_ct1.get_group(2) * item_ct1.get_local_range(2) + item_ct1.get_local_id(2);
      tile[item_ct1.get_local_id(2)] = a[i];
      if (i < n) c[i] = tile[item_ct1.get_local_id(2)] + b[i];
    }

    int main() {
      dpct::device_ext &dev_ct1 = dpct::get_current_device();
      sycl::queue &q_ct1 = dev_ct1.in_order_queue();
      float *d_a, *d_b, *d_c;
      int n = 1000;
      q_ct1.submit([&](sycl::handler &cgh) {
        sycl::local_accessor<float, 1> tile_acc_ct1(sycl::range<1>(256), cgh);
        cgh.parallel_for(
          sycl::nd_range<3>(sycl::range<3>(1, 1, 4) * sycl::range<3>(1, 1, 256), sycl::range<3>(1, 1, 256)),
          [=](sycl::nd_item<3> item_ct1) {
            vadd(d_a, d_b, d_c, n, item_ct1, tile_acc_ct1.get_multi_ptr<sycl::access::decorated::no>().get());
          });
      });
    }
    """)

BUFFERS = textwrap.dedent("""\
    #include <CL/sycl.hpp>
    using namespace sycl;
    constexpr int M = 64, N = 32;

    int main() {
      queue q;
      buffer<float, 2> a_buf(range(M, N));
      buffer<double> v_buf(range<1>(N));
      q.submit([&](handler& h) {
        accessor a(a_buf, h, read_only);
        auto v = v_buf.get_access<access::mode::read_write>(h);
        local_accessor<float, 1> tmp(range<1>(16), h);
        auto kern = [=](nd_item<2> it) {
          tmp[it.get_local_linear_id()] = a[it.get_global_id()];
          v[it.get_global_id(1)] += tmp[0];
        };
        h.parallel_for<class stored>(nd_range<2>({M, N}, {4, 4}), kern);
      });
    }
    """)


def with_spec(text: str, marker: str, *spec: str) -> str:
    """`text` with `// @kf` lines inserted above the line holding `marker`, at its indentation."""
    lines = text.split("\n")
    i = next(i for i, ln in enumerate(lines) if marker in ln)
    indent = lines[i][:len(lines[i]) - len(lines[i].lstrip())]
    return "\n".join(lines[:i] + [f"{indent}// @kf {s}" for s in spec] + lines[i:])


def _kernels(text: str, path: str = "k.cpp"):
    assert language_of(path, text) == "sycl"
    return {k.name: k for k in find_kernels(text, path)}


def test_lambdas_are_found_with_their_names_lines_and_forms():
    ks = _kernels(USM)
    assert list(ks) == ["axpy#1", "main#1", "scale", "main#2"]
    assert {k.form for k in ks.values()} == {"lambda"}
    line = {n: k.name_range.start.line + 1 for n, k in ks.items()}
    src = USM.splitlines()
    assert "q.parallel_for(sycl::range<1>{n}" in src[line["axpy#1"] - 1]
    assert "h.parallel_for<class scale>" in src[line["scale"] - 1]
    assert "auto e = q.parallel_for(n" in src[line["main#2"] - 1]  # the statement's first line
    assert ks["scale"].name_range.start.line == ks["scale"].definition.start.line


def test_a_lambda_takes_what_it_captures_as_parameters():
    ks = _kernels(USM)
    p = {n: [(x.name, x.type, x.is_pointer) for x in k.params] for n, k in ks.items()}
    # in the order the host declares them, so a variant using them in another order keeps them
    assert p["axpy#1"] == [("alpha", "T", False), ("x", "T*", True), ("y", "T*", True)]
    assert p["main#1"] == [("a", "float*", True)]  # rows/cols only shape the range
    assert p["scale"] == [("a", "float*", True), ("b", "float*", True)]
    assert p["main#2"] == [("b", "float*", True)]
    assert ks["axpy#1"].template_params == ["T"]  # `T*` takes the spec's buffer type


def test_launch_kind_and_dimensions_come_from_the_code():
    ks = _kernels(USM)
    assert (ks["axpy#1"].range_launch, ks["axpy#1"].dims) == (True, 1)
    assert (ks["main#1"].range_launch, ks["main#1"].dims) == (True, 2)
    assert (ks["scale"].range_launch, ks["scale"].dims) == (False, 1)
    assert (ks["main#2"].range_launch, ks["main#2"].dims) == (True, 1)  # `auto` over a size


def test_spec_above_the_parallel_for_line_is_the_lambdas_spec():
    text = with_spec(USM, "h.parallel_for<class scale>", "in  a: float[n]", "out b: float[n]",
                     "n = 1024", "global n", "local 64")
    k = _kernels(text)["scale"]
    assert k.spec is not None and not [d for d in k.spec_errors if d.severity == "error"], k.spec_errors
    assert [b.name for b in k.spec.buffers] == ["a", "b"]
    assert text.splitlines()[k.region.start.line].strip() == "// @kf in  a: float[n]"
    assert text.splitlines()[k.region.end.line].strip() == "});"


def test_a_range_launch_needs_global_only():
    text = with_spec(USM, "q.parallel_for(sycl::range<2>(rows, cols)", "out a: float[rows * cols]",
                     "rows = 16", "cols = 64", "global rows, cols")
    k = _kernels(text)["main#1"]
    assert not k.spec_errors, k.spec_errors
    assert k.spec.launch.grid == ["rows", "cols"] and k.spec.launch.block == []


def test_spec_errors_name_the_captured_variables():
    text = with_spec(USM, "q.parallel_for(sycl::range<2>(rows, cols)", "out z: float[rows]", "global rows")
    k = _kernels(text)["main#1"]
    messages = [d.message for d in k.spec_errors]
    assert any("'z' is not a parameter of the kernel (parameters: a)" in m for m in messages)
    assert any("parameter 'a' has no buffer" in m for m in messages)


def test_nd_item_function_is_the_kernel_and_its_launcher_lambda_is_not():
    ks = _kernels(DPCT)
    assert list(ks) == ["vadd"]
    k = ks["vadd"]
    assert k.form == "nd_item_function" and (k.dims, k.range_launch) == (3, False)
    assert DPCT.splitlines()[k.name_range.start.line].startswith("void vadd(")
    # the work-item and the local memory the launcher hands it are not parameters
    assert [p.name for p in k.params] == ["a", "b", "c", "n"]


def test_accessors_local_accessors_and_a_stored_lambda():
    ks = _kernels(BUFFERS)
    k = ks["stored"]
    assert [(p.name, p.type, p.is_const) for p in k.params] == [("a", "const float*", True),
                                                                 ("v", "double*", False)]
    # the spec goes above the parallel_for line; the kernel's text includes the stored lambda
    lines = BUFFERS.splitlines()
    assert "h.parallel_for<class stored>" in lines[k.definition.start.line]
    assert "auto kern = [=](nd_item<2> it)" in lines[k.region.start.line]


@pytest.mark.parametrize("snippet, message", [
    ("struct S { float* p; int n; void run(sycl::queue& q) {\n"
     "  q.parallel_for(sycl::range<1>(n), [=](sycl::id<1> i) { p[i] = 0; }); } };",
     "uses the member"),
    ("void f(sycl::queue& q, float* p) { struct P { float* p; } s{p};\n"
     "  q.parallel_for(sycl::range<1>(8), [=](sycl::id<1> i) { s.p[i] = 0; }); }",
     "a struct or class"),
    ("void f(sycl::queue& q, float* p, float* sum) {\n"
     "  q.parallel_for(sycl::range<1>(8), sycl::reduction(sum, sycl::plus<>()),"
     " [=](sycl::id<1> i, auto& s) { s += p[i]; }); }",
     "reductions"),
])
def test_what_cannot_be_lifted_is_said_on_the_kernel(snippet, message):
    text = "#include <sycl/sycl.hpp>\n" + snippet + "\n"
    k = find_kernels(text, "k.cpp")[0]
    errors = [d for d in k.spec_errors if d.severity == "error"]
    assert errors and message in errors[0].message and "kf cannot lift" in errors[0].message


def test_free_function_kernels_are_still_found_once():
    text = textwrap.dedent("""\
        #include <sycl/sycl.hpp>
        namespace syclexp = sycl::ext::oneapi::experimental;
        extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
        void k(float* a) { a[0] = 1; }
        """)
    ks = find_kernels(text, "k.cpp")
    assert [(k.name, k.form) for k in ks] == [("k", "free_function")]


def test_a_file_that_includes_sycl_through_a_project_header_is_sycl():
    text = '#include "my_sycl.h"\nvoid f(sycl::queue& q, float* a) {\n' \
           '  q.parallel_for(sycl::range<1>(8), [=](sycl::id<1> i) { a[i] = 0; });\n}\n'
    assert language_of("k.cc", text) == "sycl"
    assert [k.name for k in find_kernels(text, "k.cc")] == ["f#1"]


def test_lambda_names_are_targets_and_fragments_stand_for_them():
    assert split_target("src/main.cpp:main#2") == ("src/main.cpp", "main#2")
    ref = find_kernel(USM, "k.cpp", "main#2")
    fragment = "auto e = q.parallel_for(n, [=](auto i) { b[i] += 2; });\n"
    got = find_kernels(fragment, "k.cpp", "sycl")
    assert [k.name for k in got] == ["lambda#1"] and stands_for(got[0], ref)


def test_the_language_servers_index_has_them():
    entry = parse_entry("/w/k.cpp", USM)
    assert [k.name for k in entry.kernels] == ["axpy#1", "main#1", "scale", "main#2"]
    inside = next(i for i, ln in enumerate(USM.splitlines()) if "b[i] = 2 * a[i];" in ln)
    assert entry.kernel_at(inside).name == "scale"


def test_editor_lenses_sit_on_the_line_where_each_kernels_statement_starts():
    from lsprotocol import types as lsp

    from kf_lsp.core.state import Snapshot
    from kf_lsp.lsp import views

    text = with_spec(USM, "h.parallel_for<class scale>", "in  a: float[n]", "out b: float[n]",
                     "n = 1024", "global n", "local 64")
    entry = parse_entry("/w/k.cpp", text, 1, True)
    lenses = views.code_lenses(entry, Snapshot(), "file:///w/k.cpp")
    lines = text.splitlines()
    got = [(lines[lens.range.start.line].strip()[:24], lens.command.title) for lens in lenses]
    assert got == [("q.parallel_for(sycl::ran", "Add benchmark spec"),
                   ("q.parallel_for(sycl::ran", "Add benchmark spec"),
                   ("h.parallel_for<class sca", "Optimize"),
                   ("auto e = q.parallel_for(", "Add benchmark spec")]
    k = entry.kernel("scale")
    h = views.hover(entry, lsp.Position(k.name_range.start.line, k.name_range.start.column + 1), Snapshot())
    assert h is not None and "scale" in h.contents.value


def test_add_spec_puts_the_draft_directly_above_a_stored_lambdas_parallel_for():
    from lsprotocol import types as lsp

    from kf_lsp.core.state import Snapshot
    from kf_lsp.lsp import views

    entry = parse_entry("/w/b.cpp", BUFFERS, 1, True)
    k = entry.kernel("stored")
    inside = lsp.Range(lsp.Position(k.region.start.line + 1, 0), lsp.Position(k.region.start.line + 1, 0))
    draft = "// @kf in  a: float[M * N]\n// @kf inout v: double[N]\n// @kf global M, N\n// @kf local 4, 4\n"
    actions = views.code_actions(entry, "file:///w/b.cpp", inside, Snapshot(), spec_text=draft)
    edit = actions[0].edit.document_changes[0].edits[0]
    lines = BUFFERS.split("\n")
    at = edit.range.start.line
    new = "\n".join(lines[:at] + edit.new_text.rstrip("\n").split("\n") + lines[at:])
    k2 = _kernels(new)["stored"]
    assert "h.parallel_for<class stored>" in lines[at] and edit.new_text.startswith("    // @kf in")
    assert k2.spec is not None and [b.name for b in k2.spec.buffers] == ["a", "v"]
