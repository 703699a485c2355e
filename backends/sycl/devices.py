"""The SYCL devices dpctl can see, as kf DeviceInfo records."""

from __future__ import annotations

from backends.sycl.build import prepare_environment

prepare_environment()

from backends.model import DeviceInfo  # noqa: E402


def device_kind(dev) -> str:
    try:
        import dpctl

        t = dev.device_type
        if t == dpctl.device_type.gpu:
            return "gpu"
        if t == dpctl.device_type.cpu:
            return "cpu"
        if t == dpctl.device_type.accelerator:
            return "accelerator"
        return str(t).rsplit(".", 1)[-1]
    except Exception:
        return "unknown"


def _backend_name(dev) -> str:
    try:
        return str(dev.backend).rsplit(".", 1)[-1]
    except Exception:
        return "unknown"


def _get(dev, attr, default=None):
    try:
        return getattr(dev, attr)
    except Exception:
        return default


def raw_devices() -> list:
    """dpctl.SyclDevice objects, in kf's index order; [] when there is no runtime or device."""
    try:
        import dpctl

        return list(dpctl.get_devices())
    except Exception:
        return []


def device_info(dev, index: int) -> DeviceInfo:
    kind = device_kind(dev)
    details: dict[str, str | int | float] = {}
    for key, attr in (
        ("max_work_group_size", "max_work_group_size"),
        ("local_mem_size", "local_mem_size"),
        ("driver_version", "driver_version"),
        ("vendor", "vendor"),
        ("filter_string", "filter_string"),
        ("max_clock_frequency", "max_clock_frequency"),
    ):
        v = _get(dev, attr)
        if isinstance(v, (str, int, float)) and not isinstance(v, bool):
            details[key] = v
    sg = _get(dev, "sub_group_sizes")
    if sg:
        details["sub_group_sizes"] = ",".join(str(int(s)) for s in sg)
    wi = _get(dev, "max_work_item_sizes3d")
    if wi:
        details["max_work_item_sizes"] = ",".join(str(int(s)) for s in wi)
    for aspect in ("fp64", "fp16"):
        v = _get(dev, f"has_aspect_{aspect}")
        if v is not None:
            details[aspect] = int(bool(v))
    return DeviceInfo(
        backend="sycl",
        index=index,
        name=str(_get(dev, "name", "") or ""),
        kind=kind,
        arch=f"{_backend_name(dev)}:{kind}",
        memory_bytes=int(_get(dev, "global_mem_size", 0) or 0),
        compute_units=int(_get(dev, "max_compute_units", 0) or 0),
        details=details,
    )


def list_devices() -> list[DeviceInfo]:
    """Every SYCL device dpctl lists; [] (never an exception) when there are none."""
    out = []
    for i, dev in enumerate(raw_devices()):
        try:
            out.append(device_info(dev, i))
        except Exception:
            continue
    return out
