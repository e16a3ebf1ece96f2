"""GPU facts through NVML (the ``pynvml`` module of nvidia-ml-py).

The NVML module is a parameter so that recorded snapshots of real machines can
stand in for it in tests (there is no GPU on the build machines). A machine
without the NVIDIA driver reports no GPUs; it is not an error.
"""

from __future__ import annotations

from typing import Any

from modeldeploy.schemas.hardware import GpuFacts

_MIB = 1024 * 1024


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def probe_gpus(nvml: Any = None) -> tuple[list[GpuFacts], str | None, str | None, str | None]:
    """(gpus, driver_version, cuda_driver_version, note). `note` says why no GPU was found."""
    if nvml is None:
        try:
            import pynvml as nvml  # type: ignore[no-redef]
        except ImportError:
            return [], None, None, "pynvml is not installed"
    try:
        nvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound / DriverNotLoaded on machines without NVIDIA
        return [], None, None, f"NVML unavailable: {exc.__class__.__name__}"
    try:
        driver = _text(nvml.nvmlSystemGetDriverVersion())
        cuda_int = int(nvml.nvmlSystemGetCudaDriverVersion())
        cuda = f"{cuda_int // 1000}.{(cuda_int % 1000) // 10}"
        gpus = []
        for index in range(nvml.nvmlDeviceGetCount()):
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            memory = nvml.nvmlDeviceGetMemoryInfo(handle)
            major, minor = nvml.nvmlDeviceGetCudaComputeCapability(handle)
            gpus.append(
                GpuFacts(
                    name=_text(nvml.nvmlDeviceGetName(handle)),
                    memory_total_mib=int(memory.total) // _MIB,
                    memory_free_mib=int(memory.free) // _MIB,
                    compute_capability=f"{major}.{minor}",
                    index=index,
                    uuid=_text(nvml.nvmlDeviceGetUUID(handle)),
                )
            )
        return gpus, driver, cuda, None
    except Exception as exc:  # an NVML error mid-probe (lost GPU, permissions): report, do not crash
        return [], None, None, f"NVML error while probing: {exc.__class__.__name__}"
    finally:
        try:
            nvml.nvmlShutdown()
        except Exception:  # shutting down a half-initialised NVML must not hide the facts
            pass
