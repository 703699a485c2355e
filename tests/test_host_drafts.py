"""Issue 18: drafts read from the host code, and the spec language real kernels need.

Each test is one case from the issue's "What was seen", on real files of the corpus
(tests/corpus, unchanged public code) or small files written like them
(tests/kernels/drafts/host). The drafts come from the one drafter `kf spec`, the editor and
MCP share (backends.kernel.spec.draft_spec); SYCL runs are real, on the CPU.
"""

from __future__ import annotations

import re
import textwrap
import time
from pathlib import Path

import pytest

from backends.kernel.expressions import evaluate, resolve
from backends.kernel.scanner import find_kernels
from backends.kernel.spec import draft_spec, parse_spec
from backends.judge.sizes import derived_sizes

from evalcases import KERNELS
from test_cli import ROOT, kf

CORPUS = ROOT / "tests" / "corpus"
HOST = KERNELS / "drafts" / "host"


def draft_of(path: Path, kernel: str) -> str:
    text = path.read_text(errors="replace")
    k = next(k for k in find_kernels(text, str(path)) if k.name == kernel)
    try:
        return draft_spec(k, text=text, path=str(path))
    except TypeError:  # a drafter without `path` (before host-code drafts)
        return draft_spec(k, text=text)


def lines(draft: str, word: str) -> list[str]:
    return [ln.split("@kf", 1)[1].strip()[len(word):].strip() for ln in draft.splitlines()
            if re.match(rf"//\s*@kf\s+{word}\b", ln)]


def buffer(draft: str, name: str) -> tuple[str, str, str]:
    """(role, type, length) of a buffer line."""
    for ln in draft.splitlines():
        m = re.match(rf"//\s*@kf\s+(in|out|inout)\s+{name}:\s*([^\[]+)\[([^\]]*)\]", ln)
        if m:
            return m.group(1), m.group(2).strip(), m.group(3).strip()
    raise AssertionError(f"no buffer {name} in\n{draft}")


def variables(draft: str) -> dict[str, str]:
    out = {}
    for ln in draft.splitlines():
        m = re.match(r"//\s*@kf\s+([A-Za-z_]\w*)\s*=\s*(.+)$", ln)
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def env_of(draft: str) -> dict:
    pending = dict(variables(draft))
    env: dict = {}
    for _ in range(len(pending) + 1):
        for n, x in list(pending.items()):
            try:
                env[n] = evaluate(x, env)
                pending.pop(n)
            except Exception:
                pass
    return env


# -- lengths kf could not follow ------------------------------------------------------------------


def test_lengths_follow_pointer_offsets_from_the_allocations():
    # `const float* x = inp + idx * C; x[i]`: the body alone gave [?]; the host allocates B * T * C
    d = draft_of(CORPUS / "llm.c/dev/cuda/layernorm_forward.cu", "layernorm_forward_kernel1")
    assert buffer(d, "inp")[2] == "N * C" and buffer(d, "out")[2] == "N * C"
    assert buffer(d, "mean")[2] == "N" and buffer(d, "weight")[2] == "C"
    assert variables(d)["N"] == "8192" and variables(d)["C"] == "768"  # B * T = 8 * 1024, as the program has it


def test_vector_loads_through_reinterpret_cast_get_the_allocation_and_a_require():
    d = draft_of(CORPUS / "hecbench/src/relu-cuda/main.cu", "ReluGrad_impl2")
    assert [buffer(d, b)[2] for b in ("gradient", "feature", "backprop")] == ["count"] * 3
    assert "count % 8 == 0" in lines(d, "require")  # float4 loads of half: 8 elements at a time


def test_a_per_block_partial_output_is_as_long_as_the_grid_says():
    # drafted `cdiv(N, 256)` with `block_size = 1` before; the launch is PARTIAL_COUNT blocks of 192
    d = draft_of(HOST / "histogram.cu", "histogramPartial")
    assert buffer(d, "d_PartialHistograms")[2] == "PARTIAL_COUNT * 256"
    assert lines(d, "grid") == ["PARTIAL_COUNT"] and lines(d, "block") == ["192"]
    assert buffer(d, "d_Data")[2] == "dataCount"


def test_an_input_is_as_long_as_its_allocation_not_the_launch():
    # `in` of a stencil: the host pads it by RADIUS (7), not by a block (`n + 256`)
    d = draft_of(CORPUS / "hecbench/src/stencil1d-cuda/stencil_1d.cu", "stencil_1d")
    assert buffer(d, "in")[2] == "length + 7" and buffer(d, "out")[2] == "length"


# -- launch shapes --------------------------------------------------------------------------------


def test_the_block_is_the_programs_not_256():
    d = draft_of(HOST / "histogram.cu", "histogramPartial")
    assert lines(d, "block") == ["192"]


def test_a_transpose_launches_as_its_host_does():
    # it tuned TILE_DIM but launched 16x16, its y grid using the width twice
    d = draft_of(CORPUS / "cuda-samples/Samples/6_Performance/transpose/transpose.cu", "transposeNaive")
    assert lines(d, "grid") == ["width // TILE_DIM, height // TILE_DIM"]
    assert lines(d, "block") == ["TILE_DIM, BLOCK_ROWS"]
    assert "width == height" in lines(d, "require")  # the program exits on non-square matrices


def test_a_two_dimensional_block_keeps_its_warp_width():
    # layernorm kernel 6 needs (32, y) blocks; it was drafted 16x16
    d = draft_of(CORPUS / "llm.c/dev/cuda/layernorm_forward.cu", "layernorm_forward_kernel6")
    block = lines(d, "block")[0].split(", ")
    assert block[0] == "32"
    assert lines(d, "shared") == ["(2 + block_size // 32) * C * 4"] or "C * 4" in lines(d, "shared")[0]


# -- tunables that are not ----------------------------------------------------------------------


def test_a_bool_template_parameter_is_bound_never_tuned():
    d = draft_of(CORPUS / "prk/Cxx11/transpose-cuda.cu", "transposeNaive")
    tunes = {t.split("=")[0].strip(): t.split("=")[1] for t in lines(d, "tune")}
    assert "accumulate" not in tunes or len(tunes["accumulate"].split(",")) == 1, d
    assert "16, 4, 8" not in d


def test_a_mask_and_a_warp_size_are_never_tunables():
    d = draft_of(HOST / "histogram.cu", "histogramPartial")
    assert "TAG_MASK" not in d and not lines(d, "tune")
    d = draft_of(CORPUS / "llm.c/dev/cuda/layernorm_forward.cu", "layernorm_forward_kernel6")
    assert "tune WARP_SIZE" not in d  # the kernel asserts blockDim.x == WARP_SIZE


def test_template_block_size_values_fit_the_tiles_and_move_the_launch():
    # `template <int BLOCK_SIZE>` tuned to 256 could not fit its BLOCK_SIZE x BLOCK_SIZE tiles
    d = draft_of(CORPUS / "cuda-samples/Samples/0_Introduction/matrixMul/matrixMul.cu", "MatrixMulCUDA")
    (tune,) = [t for t in lines(d, "tune") if t.startswith("BLOCK_SIZE")]
    values = [int(v) for v in tune.split("=")[1].split(",")]
    assert values[0] == 32  # the program's launch: MatrixMulCUDA<32> with 32 x 32 threads
    assert all(v * v <= 1024 and 2 * v * v * 4 <= 48 * 1024 for v in values)
    assert lines(d, "block") == ["BLOCK_SIZE, BLOCK_SIZE"]  # the tiles and the block move together


# -- default sizes ------------------------------------------------------------------------------


def test_default_sizes_come_from_the_program():
    d = draft_of(CORPUS / "llm.c/dev/cuda/encoder_forward.cu", "encoder_forward_kernel2")
    v = variables(d)
    assert (v["B"], v["T"], v["C"], v["V"]) == ("8", "1024", "768", "50257")
    assert "range 0..V" in next(ln for ln in d.splitlines() if " inp:" in ln)  # token ids index wte


def test_default_sizes_that_do_not_fit_are_scaled_to_1_gib_and_said_so():
    d = draft_of(HOST / "big_sizes.cu", "scale")
    env = env_of(d)
    assert 2 * evaluate("n", env) * 4 <= 1 << 30
    assert "scaled down so the buffers fit in 1 GiB: n = 1 << 31 -> 1 << 27" in d


# -- what could not be expressed --------------------------------------------------------------------

SYCL_HEAD = textwrap.dedent("""\
    #include <sycl/sycl.hpp>
    namespace syclext = sycl::ext::oneapi;
    namespace syclexp = sycl::ext::oneapi::experimental;
""")

# four elements per work-item and no tail: correct only when n is a multiple of 4
VEC4 = SYCL_HEAD + textwrap.dedent("""\
    // @kf in  x: float[n]
    // @kf out y: float[n]
    // @kf n = 1 << 16
    // @kf global roundup(n // 4, 64)
    // @kf local 64
    // @kf require n % 4 == 0
    // @kf check n = 4000
    extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
    void twice4(const float* x, float* y, int n) {
      size_t i = syclext::this_work_item::get_nd_item<1>().get_global_id(0) * 4;
      if (i < n) { for (int k = 0; k < 4; k++) y[i + k] = 2.0f * x[i + k]; }
    }
""")

NULLABLE = SYCL_HEAD + textwrap.dedent("""\
    // @kf in  x: float[n]
    // @kf out y: float[n]
    // @kf bias = null
    // @kf n = 1 << 12
    // @kf global roundup(n, 64)
    // @kf local 64
    extern "C" SYCL_EXT_ONEAPI_FUNCTION_PROPERTY((syclexp::nd_range_kernel<1>))
    void add_bias(const float* x, const float* bias, float* y, int n) {
      size_t i = syclext::this_work_item::get_nd_item<1>().get_global_id(0);
      if (i < n) y[i] = x[i] + (bias != nullptr ? bias[i] : 1000.0f);
    }
""")


def spec_of(text: str, path: str = "k.cpp"):
    (k,) = find_kernels(text, path)
    return k


def test_require_lines_parse_and_every_derived_size_meets_them():
    from backends.judge.sizes import satisfies

    k = spec_of(VEC4)
    assert not [d for d in k.spec_errors if d.severity == "error"], k.spec_errors
    assert [r.expr for r in k.spec.requires] == ["n % 4 == 0"]
    sizes = derived_sizes(k.spec, None, [c.assignments for c in k.spec.checks])
    assert sizes and all(satisfies(k.spec, resolve(k.spec, s.overrides)) for s in sizes)
    assert all(int(s.overrides["n"]) % 4 == 0 for s in sizes)  # 37 -> 40, 65535 -> 65536 - 4...


def test_a_check_size_that_breaks_a_require_is_an_error_at_its_line():
    text = VEC4.replace("// @kf check n = 4000", "// @kf check n = 4001")
    k = spec_of(text)
    (err,) = [d for d in k.spec_errors if d.severity == "error"]
    assert err.line == text.splitlines().index("// @kf check n = 4001")
    assert "require n % 4 == 0" in err.message and "n = 4001" in err.message
    k = spec_of(VEC4.replace("// @kf n = 1 << 16", "// @kf n = 1001"))
    assert any("default sizes break `require n % 4 == 0`" in d.message for d in k.spec_errors)


def test_require_accepts_comparisons_and_rejects_unknown_names():
    from backends.kernel.expressions import holds

    assert holds("C % 4 == 0 and C >= 32", {"C": 64}) and not holds("C >= 32", {"C": 16})
    k = spec_of(VEC4.replace("require n % 4 == 0", "require m >= 32"))
    assert any("`require`: unknown name 'm'" in d.message for d in k.spec_errors)


def test_null_pointer_lines_parse_and_are_the_contract():
    k = spec_of(NULLABLE)
    assert not [d for d in k.spec_errors if d.severity == "error"], k.spec_errors
    assert k.spec.nulls == ["bias"] and k.spec.buffer("bias") is None
    k = spec_of(NULLABLE.replace("// @kf bias = null", "// @kf n2 = null"))
    assert any("`null` is for pointer parameters" in d.message for d in k.spec_errors)
    assert any("parameter 'bias' has no buffer" in d.message for d in k.spec_errors)


def test_the_program_passing_nullptr_is_drafted_as_null():
    d = draft_of(HOST / "nullable.cu", "bias_add")
    assert "// @kf bias = null" in d.splitlines()
    assert buffer(d, "out")[2] == "rows * cols"


def test_dynamic_shared_memory_is_drafted_from_the_launch():
    d = draft_of(CORPUS / "nvidia-blog/series/cuda-cpp/shared-memory/shared-memory.cu", "dynamicReverse")
    assert lines(d, "shared") == ["n * 4"] and lines(d, "block") == ["n"]
    d = draft_of(CORPUS / "llm.c/dev/cuda/layernorm_forward.cu", "mean_kernel")
    assert lines(d, "shared") == ["block_size * 4"] and "block_size" in lines(d, "fixed")[0]


@pytest.fixture(scope="module")
def sycl_pool():
    from backends.run.local_pool import EvalPool

    with EvalPool("sycl", [0]) as p:
        yield p


def _bench(pool, path: Path, name: str):
    from backends.kernel.load import load_unit
    from backends.model import EvalOptions, EvalRequest

    quick = EvalOptions(seeds=1, min_trials=3, max_trials=5, target_seconds=0.05, warmup_seconds=0.01, timeout_s=60.0)
    return pool.evaluate_sync(EvalRequest(load_unit(str(path), name), None, "sycl", 0, quick,
                                          nonce=time.time_ns() & 0xFFFF))


def test_a_kernel_needing_a_multiple_of_4_passes_with_its_require(sycl_pool, tmp_path):
    p = tmp_path / "twice4.cpp"
    p.write_text(VEC4)
    r = _bench(sycl_pool, p, "twice4")
    assert r.verdict.value == "correct", r.message
    checked = [c.sizes["n"] for c in r.checks]
    assert checked and all(n % 4 == 0 for n in checked)


def test_a_null_argument_reaches_the_kernel(sycl_pool, tmp_path):
    p = tmp_path / "bias.cpp"
    p.write_text(NULLABLE)
    r = _bench(sycl_pool, p, "add_bias")
    assert r.verdict.value == "correct", r.message
    # a candidate that reads bias unconditionally gets a null pointer too: it cannot match
    cand = tmp_path / "cand.cpp"
    cand.write_text(NULLABLE.replace("(bias != nullptr ? bias[i] : 1000.0f)", "1.0f"))
    from backends.kernel.load import load_unit
    from backends.model import EvalOptions, EvalRequest

    quick = EvalOptions(seeds=1, min_trials=3, max_trials=5, target_seconds=0.05, warmup_seconds=0.01, timeout_s=60.0)
    r = sycl_pool.evaluate_sync(EvalRequest(load_unit(str(p), "add_bias"), load_unit(str(cand), "add_bias"),
                                            "sycl", 0, quick, nonce=1))
    assert r.verdict.value == "wrong", r.message  # the original added 1000: it took the null path


# -- one drafter for kf spec, the editor and MCP ---------------------------------------------------


def test_no_draft_names_a_type_kf_cannot_read_or_an_unnamed_parameter():
    # `floatX[N]` was rejected by kf's own parser; `@kf  = 1.5` came from an unnamed parameter
    d = draft_of(CORPUS / "llm.c/dev/cuda/gelu_forward.cu", "gelu_forward_kernel1")
    assert "floatX" not in d
    text = "__global__ void k(float* y, float, int n) { int i = threadIdx.x; if (i < n) y[i] = 1; }\n"
    (k,) = find_kernels(text, "u.cu")
    d = draft_spec(k, text=text, path="u.cu")
    assert "@kf  =" not in d and "@kf =" not in d
    assert "parameter 2 (`float`) has no name" in d


def test_a_buffer_the_kernel_reads_is_never_out():
    d = draft_of(CORPUS / "llm.c/dev/cuda/layernorm_forward.cu", "normalization_kernel")
    assert buffer(d, "mean")[0] == "in" and buffer(d, "rstd")[0] == "in"  # non-const, only read
    text = "__global__ void k(float* y, int n) { int i = threadIdx.x; if (i < n) y[i] = 2 * y[i]; }\n"
    (k,) = find_kernels(text, "r.cu")
    assert "inout y" in draft_spec(k, text=text, path="r.cu")


def test_every_draft_of_the_corpus_parses_up_to_its_placeholders():
    import json

    for e in json.loads((CORPUS / "manifest.json").read_text()):
        path = CORPUS / e["file"]
        text = path.read_text(errors="replace")
        ks = [k for k in find_kernels(text, str(path)) if k.name == e["kernel"]]
        if not ks:
            continue  # a kernel form this tree does not find yet
        k = ks[0]
        d = draft_spec(k, text=text, path=str(path))
        spec_lines = [(i, ln) for i, ln in enumerate(d.splitlines()) if "@kf" in ln]
        extra = {"range_launch": True} if getattr(k, "range_launch", False) else {}
        _, diags = parse_spec(spec_lines, str(path), k.params, k.language, k.template_params, **extra)
        bad = [x.message for x in diags if x.severity == "error" and "placeholder" not in x.message
               and "element type" not in x.message and "cannot generate data" not in x.message]
        assert not bad, (e["kernel"], bad, d)


# -- every error at once ----------------------------------------------------------------------------


def test_the_cli_lists_every_spec_error_on_a_line_of_its_own(tmp_path):
    p = tmp_path / "two.cpp"
    p.write_text(NULLABLE.replace("// @kf n = 1 << 12", "// @kf n = 1 << 12\n// @kf frobnicate 3\n// @kf tol x"))
    proc = kf("bench", str(p), "--seeds", "1")
    assert proc.returncode == 2, proc.stderr
    errs = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(errs) == 2 and all(re.match(rf"kf: {re.escape(str(p))}:\d+:\d+: error: ", ln) for ln in errs), errs
    assert "more)" not in proc.stderr


def test_mcp_lists_every_spec_error():
    from kf_lsp.mcp.tools import AgentTools, ToolError
    from backends.kernel.load import load_unit

    text = NULLABLE.replace("// @kf n = 1 << 12", "// @kf n = 1 << 12\n// @kf frobnicate 3\n// @kf tol x")
    from backends.model import Unit

    k = spec_of(text, "two.cpp")
    with pytest.raises(ToolError) as e:
        AgentTools._need_spec(Unit(path="two.cpp", text=text, kernel=k))
    msg = str(e.value)
    assert len(msg.splitlines()) == 2 and all(ln.startswith("kf: two.cpp:") for ln in msg.splitlines())


@pytest.mark.asyncio
@pytest.mark.timeout(240)
async def test_kf_spec_the_editor_and_mcp_draft_the_same_text(tmp_path):
    """`kf spec`, the editor's quick fix and "Add spec" (kf.addSpec), and MCP draft_spec."""
    import shutil

    from lsp_client import Doc, code_actions, execute, kf_session, wait_for
    from kf_lsp.mcp import records as r
    from kf_lsp.mcp.tools import AgentTools

    ws = tmp_path / "ws"
    shutil.copytree(CORPUS / "llm.c" / "dev" / "cuda", ws)
    path = ws / "layernorm_forward.cu"
    kernel = "normalization_kernel"
    cli = kf("spec", f"{path}:{kernel}")
    assert cli.returncode == 0, cli.stderr
    assert "drafted from the launch" in cli.stdout and "// @kf in  mean: float[B * T]" in cli.stdout
    tools = AgentTools([str(ws)])
    try:
        mcp = (await tools.draft_spec(r.DraftArgs(file=str(path), kernel=kernel))).draft
    finally:
        await tools.close()
    assert mcp == cli.stdout
    async with kf_session(str(ws)) as c:
        doc = Doc(c, str(path)).open()
        line = doc.line_of(f"__global__ void {kernel}")
        fix = await wait_for(lambda: _fix(c, doc, line), 60, what="the quick fix")
        (edit,) = fix.edit.document_changes
        assert edit.edits[0].new_text == cli.stdout
        assert (await execute(c, "kf.addSpec", {"uri": doc.uri, "kernel": kernel, "version": doc.version}))["applied"]
        assert cli.stdout in doc.text


async def _fix(c, doc, line):
    from lsp_client import code_actions

    fixes = [a for a in await code_actions(c, doc.uri, line) if a.title.startswith("Add benchmark spec")]
    return fixes[0] if fixes and fixes[0].edit is not None else None


@pytest.mark.gpu
@pytest.mark.parametrize("name,kernel", [("nullable.cu", "bias_add"), ("histogram.cu", "histogramPartial"),
                                         ("big_sizes.cu", "scale")])
def test_cuda_drafts_of_host_files_pass_kf_bench_on_the_gpu(tmp_path, name, kernel):
    """On a GPU: the drafts of the small host-code files, pasted unchanged, give a correct bench
    (a null pointer argument, a per-block partial output, sizes scaled to 1 GiB)."""
    from backends.run.device_choice import devices

    if not any(d.kind == "gpu" for d in devices("cuda")):
        pytest.skip("no CUDA GPU")
    src = HOST / name
    text = src.read_text()
    draft = draft_of(src, kernel)
    (k,) = [k for k in find_kernels(text, str(src)) if k.name == kernel]
    lines_ = text.splitlines(keepends=True)
    out = tmp_path / name
    out.write_text("".join(lines_[:k.definition.start.line]) + draft + "".join(lines_[k.definition.start.line:]))
    proc = kf("bench", f"{out}:{kernel}", "--seeds", "1", "--time-budget", "0.2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "verdict: correct" in proc.stdout


_SIZES_HEADER = "#pragma once\n#define N_ELEMS (1 << 14)\n#define THREADS 128\n"
_USES_HEADER = """#include <cstdio>
#include "sizes.h"

__global__ void scale(float *y, const float *x, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) y[i] = 2.0f * x[i];
}

int main() {
    float *x, *y;
    cudaMalloc(&x, N_ELEMS * sizeof(float));
    cudaMalloc(&y, N_ELEMS * sizeof(float));
    scale<<<(N_ELEMS + THREADS - 1) / THREADS, THREADS>>>(y, x, N_ELEMS);
    cudaDeviceSynchronize();
    return 0;
}
"""


@pytest.mark.asyncio
@pytest.mark.timeout(240)
async def test_a_header_found_only_through_configured_flags_drafts_alike_everywhere(tmp_path):
    """No compile_commands.json: the project's -I comes from `kf spec --flags`, MCP `flags` and the
    editor's kf.cuda.flags. All three read sizes.h through it and draft the same text (the editor
    and MCP used to draft without the configured include directories)."""
    from lsp_client import Doc, kf_session, wait_for
    from kf_lsp.mcp import records as r
    from kf_lsp.mcp.tools import AgentTools

    ws = tmp_path / "ws"
    (ws / "inc").mkdir(parents=True)
    (ws / "inc" / "sizes.h").write_text(_SIZES_HEADER)
    path = ws / "scale.cu"
    path.write_text(_USES_HEADER)
    flags = f"-I{ws / 'inc'}"
    cli = kf("spec", f"{path}:scale", f"--flags={flags}")
    assert cli.returncode == 0, cli.stderr
    assert "// @kf n = (1 << 14)" in cli.stdout and "// @kf block 128" in cli.stdout, cli.stdout
    tools = AgentTools([str(ws)])
    try:
        mcp = (await tools.draft_spec(r.DraftArgs(file=str(path), kernel="scale", flags=[flags]))).draft
    finally:
        await tools.close()
    assert mcp == cli.stdout
    async with kf_session(str(ws), settings={"cuda": {"flags": flags}}) as c:
        doc = Doc(c, str(path)).open()
        line = doc.line_of("__global__ void scale")
        fix = await wait_for(lambda: _fix(c, doc, line), 60, what="the quick fix")
        (edit,) = fix.edit.document_changes
        assert edit.edits[0].new_text == cli.stdout


_HALO_HEADER = """\
#define BLOCK_X 32
#define BLOCK_Y 8
#define KOFF (BLOCK_X+2)*(BLOCK_Y+2)

__global__ void halo3d(int NX, int NY, const float *__restrict__ u1, float *__restrict__ u2)
{
  __shared__ float t[24*KOFF];
  int i = threadIdx.x + blockIdx.x*BLOCK_X;
  int j = threadIdx.y + blockIdx.y*BLOCK_Y;
  int k = threadIdx.x + threadIdx.y*BLOCK_X;
  t[k] = 0.0f;
  __syncthreads();
  if (i < NX && j < NY) u2[i + j*NX] = u1[i + j*NX] + t[k];
}
"""

_HALO_MAIN = """\
#include <cuda_runtime.h>
#include "kernel.h"

int main(int argc, char* argv[]) {
  const int NX = 256, NY = 128;
  float *d_u1, *d_u2;
  cudaMalloc((void**)&d_u1, sizeof(float) * NX * NY);
  cudaMalloc((void**)&d_u2, sizeof(float) * NX * NY);
  const int bx = 1 + (NX-1)/BLOCK_X;
  const int by = 1 + (NY-1)/BLOCK_Y;
  dim3 dimGrid(bx, by);
  dim3 dimBlock(BLOCK_X, BLOCK_Y);
  halo3d<<<dimGrid, dimBlock>>>(NX, NY, d_u1, d_u2);
  cudaDeviceSynchronize();
  return 0;
}
"""


def test_a_tile_sized_through_another_macro_still_gets_alternatives(tmp_path):
    """user20b, laplace3d-cuda: `__shared__ float u1[3*KOFF]` with `#define KOFF (BLOCK_X+2)*(BLOCK_Y+2)`
    made the draft's fit check give up, leaving `tune BLOCK_X = 32` and `tune BLOCK_Y = 8`: nothing to
    try. The macro is expanded, so the values that keep the tile within 48 KiB are listed."""
    (tmp_path / "kernel.h").write_text(_HALO_HEADER)
    (tmp_path / "main.cu").write_text(_HALO_MAIN)
    draft = draft_of(tmp_path / "kernel.h", "halo3d")
    assert "drafted from the launch at main.cu" in draft, draft
    # 24 * (BLOCK_X+2) * (BLOCK_Y+2) floats: BLOCK_X = 64 or BLOCK_Y = 16 would need more than 48 KiB
    assert lines(draft, "tune") == ["BLOCK_X = 32, 8, 16", "BLOCK_Y = 8, 2, 4"], draft
