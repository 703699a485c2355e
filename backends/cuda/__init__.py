"""The CUDA backend: NVRTC compilation (no GPU needed), device listing, occupancy, and
CudaSession (the DeviceSession for NVIDIA GPUs). Importing this package loads no CUDA
library; the driver and NVRTC are loaded on first use."""

from backends.cuda.compiler import (
    CompiledModule,
    compile_cuda,
    compile_ptx,
    cuda_include_dirs,
    parse_nvrtc_log,
    parse_ptxas_log,
)
from backends.cuda.devices import default_arch, list_devices, occupancy

__all__ = [
    "CompiledModule",
    "CudaSession",
    "compile_cuda",
    "compile_ptx",
    "cuda_include_dirs",
    "default_arch",
    "list_devices",
    "occupancy",
    "parse_nvrtc_log",
    "parse_ptxas_log",
]


def __getattr__(name: str):
    if name in ("CudaSession", "CudaKernel", "CudaBuffer"):
        from backends.cuda import session

        return getattr(session, name)
    raise AttributeError(name)
