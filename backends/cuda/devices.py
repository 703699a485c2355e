"""CUDA devices: listing (through cuda.core, no exception where there is no driver or GPU)
and the standard occupancy estimate (the arithmetic of NVIDIA's occupancy calculator)."""

from __future__ import annotations

import functools
import math
from typing import Mapping

from backends.model import DeviceInfo

# An H100 SXM (sm_90): used for what the caller's details do not say.
H100_DETAILS: dict[str, int] = {
    "warp_size": 32,
    "max_threads_per_sm": 2048,
    "max_threads_per_block": 1024,
    "regs_per_sm": 65536,
    "max_regs_per_block": 65536,
    "smem_per_sm": 233472,  # 228 KiB
    "smem_per_block_optin": 232448,  # 227 KiB
    "reserved_smem_per_block": 1024,
    "max_blocks_per_sm": 32,
    "l2_bytes": 52428800,
    "compute_capability": 90,
}

REG_ALLOC_UNIT = 256  # registers are allocated per warp in units of 256
SMEM_ALLOC_UNIT = 128  # shared memory is allocated per block in units of 128 bytes (sm_80+)
SUB_PARTITIONS = 4  # registers live in 4 SM sub-partitions; a warp's registers sit in one
MAX_REGS_PER_THREAD = 255


def _arch_of(major: int, minor: int) -> str:
    return f"sm_{major}{minor}"


def _device_info(index: int, dev) -> DeviceInfo:
    p = dev.properties
    major, minor = p.compute_capability_major, p.compute_capability_minor

    def get(name: str, default: int = 0) -> int:
        try:
            return int(getattr(p, name))
        except Exception:
            return default

    details: dict[str, str | int | float] = {
        "l2_bytes": get("l2_cache_size"),
        "max_threads_per_sm": get("max_threads_per_multiprocessor"),
        "max_threads_per_block": get("max_threads_per_block"),
        "regs_per_sm": get("max_registers_per_multiprocessor"),
        "max_regs_per_block": get("max_registers_per_block"),
        "smem_per_sm": get("max_shared_memory_per_multiprocessor"),
        "smem_per_block": get("max_shared_memory_per_block"),
        "smem_per_block_optin": get("max_shared_memory_per_block_optin"),
        "reserved_smem_per_block": get("reserved_shared_memory_per_block", 1024 if major >= 8 else 0),
        "max_blocks_per_sm": get("max_blocks_per_multiprocessor"),
        "warp_size": get("warp_size", 32),
        "compute_capability": major * 10 + minor,
        "clock_khz": get("clock_rate"),
        "memory_clock_khz": get("memory_clock_rate"),
        "memory_bus_bits": get("global_memory_bus_width"),
    }
    try:
        details["pci_bus_id"] = str(dev.pci_bus_id)
    except Exception:
        pass
    memory = 0
    try:
        from cuda.bindings import driver

        err, memory = driver.cuDeviceTotalMem(index)
        if err != driver.CUresult.CUDA_SUCCESS:
            memory = 0
    except Exception:
        memory = 0
    return DeviceInfo(
        backend="cuda",
        index=index,
        name=str(dev.name),
        kind="gpu",
        arch=_arch_of(major, minor),
        memory_bytes=int(memory),
        compute_units=get("multiprocessor_count"),
        details=details,
    )


def _device_count() -> int:
    """0 where there is no driver, no GPU or no cuda-bindings."""
    try:
        from cuda.bindings import driver
    except Exception:
        return 0
    try:
        (err,) = driver.cuInit(0)
        if err != driver.CUresult.CUDA_SUCCESS:
            return 0
        err, n = driver.cuDeviceGetCount()
        return int(n) if err == driver.CUresult.CUDA_SUCCESS else 0
    except Exception:
        return 0


def device_info(index: int) -> DeviceInfo:
    from cuda.core import Device

    return _device_info(index, Device(index))


def list_devices() -> list[DeviceInfo]:
    """Every CUDA GPU; [] (never an exception) where there is no driver or GPU."""
    n = _device_count()
    out: list[DeviceInfo] = []
    for i in range(n):
        try:
            out.append(device_info(i))
        except Exception:
            continue
    return out


@functools.lru_cache(maxsize=1)
def default_arch() -> str:
    """The first GPU's architecture ("sm_90"), or "sm_90" where there is none."""
    devs = list_devices()
    return devs[0].arch if devs else "sm_90"


def occupancy(
    regs_per_thread: int,
    smem_per_block: int,
    threads_per_block: int,
    device_details: Mapping[str, str | int | float] | None = None,
) -> float:
    """Theoretical occupancy: active warps per SM / maximum warps per SM, as NVIDIA's
    occupancy calculator computes it for compute capability 8.x/9.x. `smem_per_block`
    counts static plus dynamic shared memory (the 1 KiB the system reserves per block on
    sm_80+ is added here). 0.0 where the block cannot launch at all (too many threads,
    registers or shared memory for one block)."""
    d = dict(H100_DETAILS)
    for k, v in (device_details or {}).items():
        if isinstance(v, (int, float)) and v:
            d[k] = v
    warp = int(d["warp_size"])
    max_warps = int(d["max_threads_per_sm"]) // warp
    threads = int(threads_per_block)
    if threads <= 0 or threads > int(d["max_threads_per_block"]):
        return 0.0
    regs = int(regs_per_thread or 0)
    if regs > MAX_REGS_PER_THREAD:
        return 0.0
    warps_per_block = math.ceil(threads / warp)

    # threads and blocks
    limit_warps = max_warps // warps_per_block
    limit_blocks = int(d["max_blocks_per_sm"])

    # registers: per warp, rounded up to the allocation unit, placed in sub-partitions
    limit_regs = limit_blocks
    if regs > 0:
        regs_per_warp = math.ceil(regs * warp / REG_ALLOC_UNIT) * REG_ALLOC_UNIT
        if regs_per_warp * warps_per_block > int(d["max_regs_per_block"]):
            return 0.0
        warps_per_partition = (int(d["regs_per_sm"]) // SUB_PARTITIONS) // regs_per_warp
        limit_regs = (warps_per_partition * SUB_PARTITIONS) // warps_per_block

    # shared memory (the reserved 1 KiB per block included)
    smem = int(smem_per_block or 0)
    optin = int(d.get("smem_per_block_optin", d["smem_per_sm"]))
    if smem > optin:
        return 0.0
    reserved = int(d.get("reserved_smem_per_block", 1024 if int(d.get("compute_capability", 90)) >= 80 else 0))
    per_block = math.ceil((smem + reserved) / SMEM_ALLOC_UNIT) * SMEM_ALLOC_UNIT
    limit_smem = int(d["smem_per_sm"]) // per_block if per_block > 0 else limit_blocks

    blocks = min(limit_warps, limit_blocks, limit_regs, limit_smem)
    if blocks <= 0:
        return 0.0
    return min(1.0, blocks * warps_per_block / max_warps)
