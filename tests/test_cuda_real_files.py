"""Real .cu files as projects build them (issue 17): host code beside the kernels, the
project's flags (compile_commands.json, settings, --flags, `@kf flags`), NVRTC's missing
M_PI / INFINITY, type template parameters bound to types, bf16 / half / vector element
types. Compiled here with the real compilers (nvcc where installed, NVRTC); the runs on a
GPU are marked `gpu`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from backends.cuda.compile_only import CompileOnlySession
from backends.cuda.compiler import choose_compiler
from backends.cuda.nvcc import find_nvcc
from backends.judge.harness import evaluate
from backends.judge.inputs import InputSet
from backends.judge.launch import compile_unit_for
from backends.kernel import dtypes
from backends.kernel.load import load_unit
from backends.kernel.project_flags import compile_command_flags, normalize
from backends.kernel.scanner import find_kernel
from backends.kernel.tunables import bind
from backends.model import EvalOptions, EvalRequest, Verdict

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "tests" / "kernels" / "cuda_real"
KF = [sys.executable, "-m", "kf_lsp"]
needs_nvcc = pytest.mark.skipif(find_nvcc() is None, reason="nvcc not installed")


def _nvrtc() -> bool:
    try:
        from cuda.bindings import nvrtc

        return nvrtc.nvrtcVersion()[0] == nvrtc.nvrtcResult.NVRTC_SUCCESS
    except Exception:
        return False


needs_nvrtc = pytest.mark.skipif(not _nvrtc(), reason="NVRTC not installed")


def kf(*args, env=None, cwd=ROOT):
    return subprocess.run(KF + list(args), cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "COLUMNS": "200", **(env or {})})


def compile_only(unit, candidate=None):
    session = CompileOnlySession("cuda", "sm_90")
    result, _ = evaluate(session, EvalRequest(unit, candidate, "cuda", -1, EvalOptions(seeds=1)))
    return result


# -- host code: <stdio.h>, main, launches ---------------------------------------------------


@needs_nvcc
def test_a_file_with_host_code_compiles_with_nvcc_device_code_only():
    unit = load_unit(str(REAL / "vector_add_host.cu"), "vectorAdd")
    result = compile_only(unit)
    assert result.verdict is Verdict.COMPILED, result.message
    assert result.reference.profile.registers > 0
    assert result.build.compiler.startswith("nvcc ")
    assert "stdlib.h" in result.build.why  # why nvcc: the first line NVRTC cannot take


@needs_nvcc
def test_kf_bench_says_which_compiler_and_flags_were_used():
    proc = kf("bench", str(REAL / "vector_add_host.cu"), "--json")
    assert proc.returncode == 0, proc.stderr
    build = json.loads(proc.stdout)["build"]
    assert build["compiler"].startswith("nvcc")
    proc = kf("bench", str(REAL / "vector_add_host.cu"))
    assert proc.returncode == 0 and "compiled with nvcc" in proc.stdout, proc.stdout + proc.stderr


def test_without_nvcc_a_file_with_host_code_says_so_in_one_line():
    proc = kf("bench", str(REAL / "vector_add_host.cu"), env={"KF_NVCC": "/nonexistent/nvcc"})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("kf: "), proc.stderr
    line = lines[0]
    # the file, its first blocking line (<stdlib.h> at line 3: <stdio.h> is fine), and what to install
    assert "vector_add_host.cu:3:" in line and "needs nvcc" in line and "nvidia-cuda-nvcc" in line


def test_compiler_choice_is_per_file():
    host = (REAL / "vector_add_host.cu").read_text()
    device = (REAL / "math_consts.cu").read_text()
    assert choose_compiler("vector_add_host.cu", host).blocker is not None
    c = choose_compiler(str(REAL / "math_consts.cu"), device)
    assert c.compiler == "nvrtc" and c.blocker is None


# -- NVRTC: what nvcc users have without asking --------------------------------------------


@needs_nvrtc
def test_nvrtc_has_m_pi_infinity_and_the_c_headers():
    unit = load_unit(str(REAL / "math_consts.cu"))
    cu, _ = compile_unit_for(unit, "reference")
    assert cu.compiler == "nvrtc"
    result = compile_only(unit)
    assert result.verdict is Verdict.COMPILED, result.message
    assert result.build.compiler.startswith("nvrtc")


# -- the project's flags ---------------------------------------------------------------------


def test_compile_commands_json_command_and_arguments_forms(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "k.cu").write_text("__global__ void k() {}\n")
    build = tmp_path / "build"
    build.mkdir()
    (tmp_path / "include").mkdir()
    entries = [{"directory": str(build), "file": "../src/k.cu",
                "command": "/usr/bin/nvcc -DENABLE_BF16 -I../include -isystem /opt/x --use_fast_math "
                           "-std=c++17 -O3 -Xcompiler -fPIC -gencode arch=compute_80,code=sm_80 -MD -MF k.d "
                           "-c ../src/k.cu -o k.o"}]
    (build / "compile_commands.json").write_text(json.dumps(entries))
    found = compile_command_flags(str(src / "k.cu"))  # found in the parent's build/, as clangd does
    assert found is not None and "compile_commands.json" in found.source
    assert found.flags == ["-DENABLE_BF16", f"-I{tmp_path / 'include'}", "--system-include=/opt/x",
                           "--use_fast_math", "-std=c++17", "-O3", "-Xcompiler=-fPIC"]
    entries = [{"directory": "build", "file": str(src / "k.cu"),
                "arguments": ["clang++", "-x", "cuda", "--cuda-gpu-arch=sm_90", "-DX=1", "-I", "inc", "-c",
                              str(src / "k.cu")]}]
    (build / "compile_commands.json").unlink()
    (tmp_path / "compile_commands.json").write_text(json.dumps(entries))
    found = compile_command_flags(str(src / "k.cu"))
    assert found.flags == ["-DX=1", f"-I{tmp_path / 'build' / 'inc'}"]


def test_normalize_drops_output_and_dependency_flags():
    assert normalize(["-o", "x.o", "-MD", "-MF", "x.d", "-c", "k.cu", "-U", "NDEBUG", "-include", "pre.h"],
                     "/p", "/p/k.cu") == ["-UNDEBUG", "--pre-include=/p/pre.h"]
    assert normalize(["-lineinfo", "-lcublas", "-L/x", "-MFx.d", "-arch=sm_80", "-maxrregcount=32", "-Xptxas", "-v"],
                     "/p") == ["-lineinfo", "-maxrregcount=32", "-Xptxas=-v"]


@needs_nvcc
def test_enable_bf16_from_compile_commands_decides_floatx(tmp_path):
    src = tmp_path / "floatx.cu"
    shutil.copy(REAL / "floatx.cu", src)
    # no flags: floatX is float, and the spec's bf16 buffers are a spec error naming the compiler's view
    result = compile_only(load_unit(str(src)))
    assert result.verdict is Verdict.SPEC_ERROR, result.message
    assert "floatX" in result.message and "`float`" in result.message
    (tmp_path / "compile_commands.json").write_text(json.dumps(
        [{"directory": str(tmp_path), "file": "floatx.cu", "command": "nvcc -DENABLE_BF16 -c floatx.cu"}]))
    unit = load_unit(str(src))
    assert unit.flags == ["-DENABLE_BF16"] and "compile_commands.json" in unit.flags_source
    result = compile_only(unit)
    assert result.verdict is Verdict.COMPILED, result.message
    assert result.build.flags == ["-DENABLE_BF16"] and "compile_commands.json" in result.build.flags_source


@needs_nvcc
def test_flags_from_the_command_line_and_from_kf_flags_lines(tmp_path):
    src = tmp_path / "floatx.cu"
    shutil.copy(REAL / "floatx.cu", src)
    proc = kf("bench", str(src), "--flags=-DENABLE_BF16", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["build"]["flags"] == ["-DENABLE_BF16"]
    src.write_text(src.read_text().replace("// @kf out out:", "// @kf flags -DENABLE_BF16\n// @kf out out:"))
    unit = load_unit(str(src))
    assert unit.flags == ["-DENABLE_BF16"] and unit.flags_source == "@kf flags"
    assert compile_only(unit).verdict is Verdict.COMPILED


# -- types -----------------------------------------------------------------------------------


def test_a_type_template_parameter_is_bound_with_kf_t_equals_type():
    text = (REAL / "reduce_typed.cu").read_text()
    k = find_kernel(text, "reduce_typed.cu", "reduce0")
    assert not [d for d in k.spec_errors if d.severity == "error"], k.spec_errors
    assert k.spec.types == {"T": "float"}
    assert bind(text, k, {}).entry == "reduce0<float>"


def test_tune_over_types():
    text = (REAL / "reduce_typed.cu").read_text()
    k = find_kernel(text, "reduce_typed.cu", "block_sum")
    assert k.spec.tunables[0].values == ["float", "double"]
    assert bind(text, k, {}).entry == "block_sum<float>"
    assert bind(text, k, {"Acc": "double"}).entry == "block_sum<double>"


def test_a_tuned_type_may_not_be_a_buffers_element_type():
    text = (REAL / "reduce_typed.cu").read_text().replace("// @kf T = float", "// @kf tune T = float, double")
    k = find_kernel(text, "reduce_typed.cu", "reduce0")
    assert any("contract" in d.message and "T" in d.message for d in k.spec_errors), k.spec_errors


@needs_nvrtc
def test_typed_templates_compile_bound_and_tuned():
    unit = load_unit(str(REAL / "reduce_typed.cu"), "reduce0")
    result = compile_only(unit)
    assert result.verdict is Verdict.COMPILED, result.message
    unit = load_unit(str(REAL / "reduce_typed.cu"), "block_sum", tunables={"Acc": "double"})
    result = compile_only(unit)
    assert result.verdict is Verdict.COMPILED, result.message


def test_vector_and_16_bit_element_types():
    text = (REAL / "vector_types.cu").read_text()
    for name, dtype, size in (("scale4", "f32x4", 16), ("axpy_half2", "f16x2", 4), ("square_bf16", "bf16", 2)):
        k = find_kernel(text, "vector_types.cu", name)
        assert not [d for d in k.spec_errors if d.severity == "error"], k.spec_errors
        assert k.spec.buffers[0].dtype == dtype and dtypes.itemsize(dtype) == size
    k = find_kernel(text, "vector_types.cu", "scale4")
    data = InputSet(k.spec, {"n": 10}, (0,))
    assert data["x"].dtype == np.float32 and data["x"].size == 40  # 10 float4 are 40 floats
    bf = InputSet(find_kernel(text, "vector_types.cu", "square_bf16").spec, {"n": 10}, (0,))["x"]
    assert bf.dtype.itemsize == 2 and np.all(np.abs(bf.astype(np.float32)) <= 1)
    assert dtypes.default_tolerance("bf16") != dtypes.default_tolerance("f16") != dtypes.default_tolerance("f32")
    assert dtypes.poison_pattern("bf16") != dtypes.poison_pattern("f16")


@needs_nvrtc
@pytest.mark.parametrize("name", ["scale4", "axpy_half2", "square_bf16"])
def test_vector_and_16_bit_kernels_compile(name):
    result = compile_only(load_unit(str(REAL / "vector_types.cu"), name))
    assert result.verdict is Verdict.COMPILED, result.message


# -- on the GPU ------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize("target", [
    "vector_add_host.cu:vectorAdd", "math_consts.cu:clamp_angle", "reduce_typed.cu:reduce0",
    "reduce_typed.cu:block_sum", "vector_types.cu:scale4", "vector_types.cu:axpy_half2",
    "vector_types.cu:square_bf16"])
def test_real_file_kernels_are_verified_on_the_gpu(target):
    from backends.run.device_choice import devices

    if not devices("cuda"):
        pytest.skip("no CUDA GPU")
    proc = kf("bench", str(REAL / target), "--json", "--time-budget", "0.2", "--seeds", "2")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    result = json.loads(proc.stdout)
    assert result["verdict"] == "correct", result["message"]


@pytest.mark.gpu
def test_floatx_under_enable_bf16_is_verified_on_the_gpu(tmp_path):
    from backends.run.device_choice import devices

    if not devices("cuda"):
        pytest.skip("no CUDA GPU")
    proc = kf("bench", str(REAL / "floatx.cu"), "--flags=-DENABLE_BF16", "--json", "--time-budget", "0.2")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr
    assert json.loads(proc.stdout)["verdict"] == "correct"


@needs_nvcc
def test_a_candidate_compiles_the_way_the_original_does(tmp_path):
    src = tmp_path / "floatx.cu"
    shutil.copy(REAL / "floatx.cu", src)
    ref = load_unit(str(src), flags=["-DENABLE_BF16"], flags_source="--flags")
    text = src.read_text().replace("0.5f * x", "x * 0.5f")  # a variant spliced into the same file
    cand = load_unit(str(src), text=text)  # made without the flags, as a search makes it
    assert cand.flags == []
    result = compile_only(ref, cand)
    assert result.verdict is Verdict.COMPILED, result.message
    assert result.candidate.profile.registers > 0 and result.build.flags == ["-DENABLE_BF16"]


def test_what_keeps_a_file_from_nvrtc(tmp_path):
    from backends.cuda.compiler import cuda_include_dirs
    from backends.cuda.host_code import nvrtc_blocker

    system = list(cuda_include_dirs())
    device = ("#include <cuda_fp16.h>\n#include <cmath>\n#define HD __host__ __device__\n"
              "HD inline float sq(float a) { return a * a; }\n__global__ void k(float* x) { x[0] = sq(M_PI); }\n")
    assert nvrtc_blocker(str(tmp_path / "a.cu"), device, [], system) is None
    b = nvrtc_blocker(str(tmp_path / "a.cu"), "#include <vector>\n" + device, [], system)
    assert (b.kind, b.line) == ("host-header", 0)
    b = nvrtc_blocker(str(tmp_path / "a.cu"), device + '#include "nowhere.h"\n', [], system)
    assert (b.kind, b.line) == ("missing-header", 5)
    (tmp_path / "util.h").write_text("#pragma once\nstatic void log_it() {}\n")
    b = nvrtc_blocker(str(tmp_path / "a.cu"), '#include "util.h"\n' + device, [], system)
    assert b.kind == "host-include" and b.line == 0 and "util.h:2" in b.what  # named at the include
