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
