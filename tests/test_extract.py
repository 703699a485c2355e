"""From LLM replies to regions: fences, prose, several blocks, truncation, missing specs, CRLF,
and validation (spec errors and contract changes caught before any compile)."""

from pathlib import Path

import pytest

from backends.kernel.splice import region_text
from backends.kernel.load import load_unit
from evolver.extract import ExtractFailure, code_blocks, describe, extract_region, validate

from llm_double import BROKEN_REGION, CONTRACT_REGION, GOOD_REGION, prose_wrapped, truncated

ROOT = Path(__file__).resolve().parent.parent
SAXPY = str(ROOT / "examples" / "sycl" / "saxpy.cpp")


@pytest.fixture(scope="module")
def unit():
    return load_unit(SAXPY)


def ex(reply, unit, **kw):
    return extract_region(reply, unit.kernel, "sycl", file_text=unit.text, **kw)


def test_fenced_with_prose_before_and_after(unit):
    r = ex("Here you go:\n```cpp\n" + GOOD_REGION + "\n```\nThat is all.", unit)
    assert r == GOOD_REGION


@pytest.mark.parametrize("fence", ["```", "```cpp", "``` c++", "```sycl", "~~~cpp", "````cuda"])
def test_fence_styles(unit, fence):
    close = fence.split()[0].rstrip("abcdefghijklmnopqrstuvwxyz+")
    assert ex(f"{fence}\n{GOOD_REGION}\n{close}\n", unit) == GOOD_REGION


def test_no_fence_at_all(unit):
    assert ex(GOOD_REGION, unit) == GOOD_REGION


def test_missing_closing_fence_with_a_complete_kernel(unit):
    assert ex("Idea: x\n```cpp\n" + GOOD_REGION + "\n", unit) == GOOD_REGION


def test_several_blocks_pick_the_last_that_defines_the_kernel(unit):
    text = prose_wrapped().text
    assert "\r\n" in text
    r = ex(text, unit)
    assert r == GOOD_REGION  # not the quoted original, and LF endings
    host = "```cpp\nint main() { return 0; }\n```"
    assert ex("```cpp\n" + GOOD_REGION + "\n```\nand to call it:\n" + host, unit) == GOOD_REGION


def test_truncated_reply(unit):
    s = truncated()
    r = ex(s.text, unit, finish_reason=s.finish_reason)
    assert isinstance(r, ExtractFailure) and r.kind == "truncated"
    assert r.reason.startswith("reply truncated")
    # unbalanced braces alone are enough
    r2 = ex("```cpp\n" + GOOD_REGION[:-2] + "\n```", unit)
    assert isinstance(r2, ExtractFailure) and r2.reason.startswith("reply truncated")
    # cut off before any kernel
    r3 = ex("Let me think about coalescing and", unit, finish_reason="length")
    assert isinstance(r3, ExtractFailure) and r3.kind == "truncated"


def test_no_code(unit):
    r = ex("I cannot help with that.", unit)
    assert isinstance(r, ExtractFailure) and r.kind == "no_code"
    assert isinstance(ex("", unit), ExtractFailure)


def test_wrong_kernel_name(unit):
    r = ex("```cpp\n" + GOOD_REGION.replace("void saxpy(", "void saxpy_fast(") + "\n```", unit)
    assert isinstance(r, ExtractFailure) and r.kind == "wrong_kernel" and "saxpy_fast" in r.reason


def test_kernel_without_spec_gets_the_reference_spec(unit):
    code = GOOD_REGION[GOOD_REGION.index('extern "C"'):]
    r = ex("```cpp\n" + code + "\n```", unit)
    ref_spec = [ln for ln in region_text(unit.text, unit.kernel).split("\n") if "@kf" in ln]
    assert r.split("\n")[: len(ref_spec)] == ref_spec
    assert r.endswith(code)
    v = validate(r, unit)
    assert not isinstance(v, ExtractFailure), v
    assert v.kernel.spec.launch.grid == ["roundup(n, WG_SIZE)"]  # the reference's launch


def test_helpers_above_the_kernel_are_kept_and_known_lines_dropped(unit):
    code = ("#include <sycl/sycl.hpp>\nnamespace syclexp = sycl::ext::oneapi::experimental;\n"
            "#ifndef WG_SIZE\n#define WG_SIZE 64\n#endif\n\n"
            "static inline float fma2(float a, float x, float y) { return a * x + y; }\n\n"
            + GOOD_REGION + "\n\nint main() { return 0; }\n")
    r = ex("```cpp\n" + code + "```", unit)
    assert r.startswith("static inline float fma2") and r.endswith(GOOD_REGION)
    assert "#include" not in r and "main" not in r and "#define WG_SIZE" not in r
    assert not isinstance(validate(r, unit), ExtractFailure)


def test_crlf_reply(unit):
    r = ex("```cpp\r\n" + GOOD_REGION.replace("\n", "\r\n") + "\r\n```\r\n", unit)
    assert r == GOOD_REGION


def test_validate_good(unit):
    v = validate(GOOD_REGION, unit)
    assert not isinstance(v, ExtractFailure), v
    assert v.kernel.name == "saxpy" and v.kernel.spec.launch.grid == ["roundup(cdiv(n, 2), WG_SIZE)"]
    assert region_text(v.text, v.kernel) == GOOD_REGION
    assert v.text.startswith(unit.text[:100])


def test_validate_broken_code_passes_to_the_compiler(unit):
    v = validate(BROKEN_REGION, unit)  # only the compiler can tell
    assert not isinstance(v, ExtractFailure)


def test_validate_rejects_a_contract_change_naming_it(unit):
    v = validate(CONTRACT_REGION, unit)
    assert isinstance(v, ExtractFailure) and v.kind == "contract"
    assert "parameter 5 'n' changed type" in v.reason
    v2 = validate(GOOD_REGION.replace("// @kf out out: float[n]", "// @kf out out: float[2 * n]"), unit)
    assert isinstance(v2, ExtractFailure) and "buffer 'out' changed length" in v2.reason
    v3 = validate(GOOD_REGION.replace("void saxpy(", "void saxpy2("), unit)
    assert isinstance(v3, ExtractFailure) and "kernel name changed" in v3.reason


def test_validate_rejects_spec_errors(unit):
    v = validate(GOOD_REGION.replace("// @kf local WG_SIZE", "// @kf local WG_SIZE +"), unit)
    assert isinstance(v, ExtractFailure) and v.kind == "spec_error"
    assert v.reason.startswith("spec error on line 6 of the region") and "(+1 more)" in v.reason


def test_code_blocks_and_describe():
    blocks = code_blocks("a\n```py\nx\n```\nb\n```\ny")
    assert [(b.text, b.tag, b.closed) for b in blocks] == [("x", "py", True), ("y", "", False)]
    assert describe("Idea: tile x in local memory\n```cpp\n```") == "tile x in local memory"
    assert describe("I used vector loads. It is faster.\n```\n```") == "I used vector loads."
    assert len(describe("Idea: " + "x" * 200)) == 80
