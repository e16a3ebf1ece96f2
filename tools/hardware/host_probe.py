"""CPU model, cores, ISA flags, RAM and free disk of the local host."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from modeldeploy.schemas.hardware import CpuFacts

_RELEVANT_FLAGS = ("avx2", "avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_int8", "fma", "f16c", "neon", "asimd", "sve")


def probe_cpu(cpuinfo: Path = Path("/proc/cpuinfo")) -> CpuFacts:
    model, flags = "unknown", set()
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "Model") and model == "unknown":
                model = value.strip()
            elif key in ("flags", "Features") and not flags:
                flags = set(value.split())
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return CpuFacts(model=model, cores=cores, flags=[f for f in _RELEVANT_FLAGS if f in flags])


def probe_memory_mib(meminfo: Path = Path("/proc/meminfo")) -> int:
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024))


def probe_disk_free_gib(path: Path) -> float:
    """Free space on the filesystem that holds `path` (or its nearest existing parent)."""
    path = path.expanduser().resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return round(shutil.disk_usage(path).free / 1024**3, 1)
