"""Found by a user trying kf on HeCBench (session 6, helper user20b): a CUDA header
(`atomicReduction-cuda/kernels.h`) whose kernels `kf kernels` lists but `kf spec FILE:KERNEL`
refused, and a spec whose `require` lines leave every residue class empty (`heat2d`:
`require Lx % 16 == 0 and Ly % 16 == 0`), which got no derived size, no size above the
default and no random size at all."""

from __future__ import annotations

import textwrap

from test_cli import kf


def test_a_cuda_header_kernel_listed_by_kf_kernels_is_drafted_by_name(tmp_path):
    """HeCBench atomicReduction-cuda/kernels.h: `kf kernels kernels.h` listed
    atomic_reduction_v4, then `kf spec kernels.h:atomic_reduction_v4` said `no CUDA (.cu/.cuh)
    or SYCL kernels here`."""
    (tmp_path / "kernels.h").write_text(textwrap.dedent("""\
        __global__ void atomic_reduction(int *in, int* out, int arrayLength) {
          int sum=int(0);
          for(int i= blockIdx.x*blockDim.x+threadIdx.x;i<arrayLength;i+=blockDim.x*gridDim.x) sum+=in[i];
          atomicAdd(out,sum);
        }
    """))
    listed = kf("kernels", "kernels.h", cwd=tmp_path)
    assert listed.stdout.startswith("kernels.h:1:17: atomic_reduction (CUDA __global__)"), listed.stdout
    p = kf("spec", "kernels.h:atomic_reduction", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "// @kf in  in: int[arrayLength]" in p.stdout, p.stdout


HEAT2D = """\
#include <sycl/sycl.hpp>
// @kf out out: float[Lx * Ly]
// @kf in  in: float[Lx * Ly]
// @kf Lx = 4096
// @kf Ly = 4096
// @kf global Ly * Lx
// @kf local 256
// @kf require Lx % 16 == 0 and Ly % 16 == 0
void lapl(float *out, const float *in, const int Lx, const int Ly, const sycl::nd_item<1> &item) {
  int i = item.get_global_id(0);
  int x = i % Lx, y = i / Lx;
  out[y*Lx + x] = in[y*Lx + (x + 1)%Lx] + in[((y+1)%Ly)*Lx + x];
}
int main(int argc, char *argv[]) {
  int Lx = atoi(argv[1]), Ly = atoi(argv[2]);
  sycl::queue q;
  float *d_in = sycl::malloc_device<float>(Lx * Ly, q), *d_out = sycl::malloc_device<float>(Lx * Ly, q);
  q.parallel_for(sycl::nd_range<1>(sycl::range<1>(Ly*Lx), sycl::range<1>(256)), [=](sycl::nd_item<1> item) {
    lapl(d_out, d_in, Lx, Ly, item);
  });
}
"""


def test_sizes_that_must_be_multiples_are_still_varied_above_and_at_random():
    """heat2d's `require Lx % 16 == 0 and Ly % 16 == 0` met none of the residue classes
    (255, 257...), no odd size above the default and almost no random draw: `kf bench` checked
    only the spec's own sizes and said nothing. Now each variable is varied at odd multiples of
    16 (48, 80, 112), the size above the default is the next multiple past 2^24 elements, and
    the random size is a multiple too; every one meets the require line and is small."""
    from backends.judge.sizes import derived_sizes, footprint, random_size
    from backends.kernel.expressions import resolve
    from backends.kernel.load import load_unit

    unit = load_unit("main.cpp", "lapl", text=HEAT2D)
    spec = unit.kernel.spec
    derived = derived_sizes(spec, {}, [], "sycl")
    base = footprint(spec, resolve(spec, {}, {}))
    for name in ("Lx", "Ly"):
        varied = sorted(int(d.overrides[name]) for d in derived if d.kind == "residue"
                        and int(d.overrides[name]) % 32)  # not a multiple of the small value's 32
        assert varied == [48, 80, 112], (name, derived)
    above = [d for d in derived if d.kind == "above"]
    assert [d.overrides for d in above] == [{"Lx": "4112"}], derived
    randoms = [random_size(spec, k, {}, "sycl") for k in range(20)]
    assert all(r is not None for r in randoms), randoms
    for d in [d for d in derived if d.kind != "above"] + randoms:
        env = resolve(spec, d.overrides, {})
        assert env["Lx"] % 16 == 0 and env["Ly"] % 16 == 0, d
        # small, but for the random size between the small ones and the default (sizes.WIDE_SHARE)
        assert footprint(spec, env)[0] <= (base[0] / 16 if d.probe else base[0]), d


LAPLACE = """\
#define BLOCK_X 32
#define BLOCK_Y 8
__global__ void laplace3d(int NX, int NY, int NZ, int pitch, const float *__restrict__ d_u1,
                          float *__restrict__ d_u2) {
  int i = threadIdx.x + blockIdx.x*BLOCK_X;
  int j = threadIdx.y + blockIdx.y*BLOCK_Y;
  if (i < NX && j < NY)
    for (int k = 0; k < NZ; k++) d_u2[i + j*pitch + k*pitch*NY] = 0.5f * d_u1[i + j*pitch + k*pitch*NY];
}
int main(int argc, char **argv) {
  const int NX = 128, NY = 128, NZ = 128;
  const size_t grid3D_size = NX * NY * NZ;
  const int pitch = NX;
  float *d_u1, *d_u2;
  cudaMalloc((void **)&d_u1, grid3D_size * sizeof(float));
  cudaMalloc((void **)&d_u2, grid3D_size * sizeof(float));
  const int bx = 1 + (NX-1)/BLOCK_X;
  const int by = 1 + (NY-1)/BLOCK_Y;
  dim3 dimGrid(bx,by);
  dim3 dimBlock(BLOCK_X,BLOCK_Y);
  laplace3d<<<dimGrid, dimBlock>>>(NX, NY, NZ, pitch, d_u1, d_u2);
}
"""


def test_a_parameter_equal_to_another_and_a_rounded_up_grid_are_drafted_from_the_launch(tmp_path):
    """HeCBench laplace3d: `const int pitch = NX;` drafted `NX = pitch` and `pitch = NX` (a
    cycle, so the host draft was dropped for one from the body alone: `NX = 1 << 20`, buffers
    `[?]`), and its grid `1 + (NY-1)/BLOCK_Y` was read as `(1 + (NY - 1)) // 8`, requiring NY
    a multiple of 8, which the program does not."""
    (tmp_path / "main.cu").write_text(LAPLACE)
    p = kf("spec", "main.cu:laplace3d", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert lines[0] == "// kf: drafted from the launch at line 21", lines
    assert "// @kf pitch = NX" in lines and "// @kf NX = 128" in lines, lines
    assert "// @kf in  d_u1: float[NX * NY * NZ]" in lines, lines
    assert "// @kf grid 1 + (NX - 1) // BLOCK_X, 1 + (NY - 1) // BLOCK_Y" in lines, lines
    assert not [ln for ln in lines if "require" in ln and "NY" in ln], lines


def test_flags_given_as_the_usage_line_writes_them(tmp_path):
    """`kf bench FILE:K --flags -I../Utilities/include` (the usage line's `--flags "FLAGS"`)
    failed with `kf bench: error: argument --flags: expected one argument`: argparse takes a
    value starting with `-` for an option."""
    (tmp_path / "k.cu").write_text("__global__ void k(float *x, int n) { int i = threadIdx.x; if (i < n) x[i] = 1; }\n")
    p = kf("spec", "k.cu:k", "--flags", "-I../include", cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    assert "// @kf out x: float[n]" in p.stdout, p.stdout


def test_a_fixed_launch_does_not_make_every_size_costly(tmp_path):
    """HeCBench atomicReduction-sycl launches `nd_range(2048*256, 256)` whatever the length (a
    grid-stride loop): every size launched as many work-items as the default, so every residue
    was "costly", only arrayLength=257 was checked, with the note "costs 0% of the default
    size's memory, more than kf's derived sizes may", and no random size was found."""
    from backends.judge.sizes import derived_sizes, random_size
    from backends.kernel.load import load_unit

    src = textwrap.dedent("""\
        #include <sycl/sycl.hpp>
        int main() {
          sycl::queue q;
          int arrayLength = 52428800;
          int *in = sycl::malloc_device<int>(arrayLength, q), *out = sycl::malloc_device<int>(1, q);
          // @kf in  in: int[arrayLength]
          // @kf out out: int[1] start 0
          // @kf arrayLength = 52428800
          // @kf global 524288
          // @kf local 256
          q.parallel_for(sycl::nd_range<1>(sycl::range<1>(2048*256), sycl::range<1>(256)), [=](sycl::nd_item<1> item) {
            int sum = 0;
            for (int i = item.get_global_id(0); i < arrayLength; i += item.get_global_range(0)) sum += in[i];
            sycl::atomic_ref<int, sycl::memory_order::relaxed, sycl::memory_scope::device> r(out[0]);
            r.fetch_add(sum);
          });
        }
    """)
    unit = load_unit("reduction.cpp", "main#1", text=src)
    derived = derived_sizes(unit.kernel.spec, {}, [], "sycl")
    residues = [int(d.overrides["arrayLength"]) for d in derived if d.kind == "residue"]
    assert residues == [1, 255, 257, 258, 259, 260, 261, 262, 263], derived
    assert not [d.note for d in derived if d.note], [d.note for d in derived]
    assert random_size(unit.kernel.spec, 3, {}, "sycl") is not None
