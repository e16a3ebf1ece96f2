"""What a machine offers: GPUs, CPU, memory, disk, container engine.

This is also the documented ``--hardware FILE`` format and what
``modeldeploy probe --json`` prints, so unknown keys are rejected: a typo in a
hand-written file should fail loudly, not plan for the wrong machine.
"""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


def parse_version(text: str | None) -> tuple[int, ...] | None:
    """'12.4' -> (12, 4); None stays None."""
    if text is None:
        return None
    return tuple(int(part) for part in text.split("."))


class GpuFacts(BaseModel):
    """One GPU as NVML reports it."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="Marketing name, e.g. 'NVIDIA A100-SXM4-80GB'.")
    memory_total_mib: int = Field(gt=0, strict=True, description="Total memory in MiB.")
    memory_free_mib: int = Field(ge=0, strict=True, description="Free memory in MiB when probed.")
    compute_capability: str = Field(pattern=r"^\d{1,2}\.\d$", description="CUDA compute capability, e.g. '8.0'.")
    index: int | None = Field(default=None, description="NVML device index.")
    uuid: str | None = Field(default=None, description="NVML UUID, for pinning devices.")

    @model_validator(mode="after")
    def _free_not_above_total(self) -> "GpuFacts":
        if self.memory_free_mib > self.memory_total_mib:
            raise ValueError(f"memory_free_mib {self.memory_free_mib} exceeds memory_total_mib {self.memory_total_mib}")
        return self

    @property
    def capability(self) -> tuple[int, int]:
        major, minor = self.compute_capability.split(".")
        return int(major), int(minor)


class CpuFacts(BaseModel):
    """The host CPU."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="CPU model name.")
    cores: int = Field(ge=1, strict=True, description="Usable cores.")
    flags: list[str] = Field(default_factory=list, description="Relevant ISA flags (avx2, avx512f, avx512_bf16, amx_bf16).")


class EngineFacts(BaseModel):
    """The container engine as seen through the Docker API."""

    model_config = ConfigDict(extra="forbid")

    reachable: bool = False
    version: str | None = None
    api_version: str | None = None
    runtimes: list[str] = Field(default_factory=list)
    nvidia_runtime: bool = False
    error: str | None = Field(default=None, description="Why the engine was not reachable.")


class HardwareFacts(BaseModel):
    """A machine to plan for: probed locally or read from a file."""

    model_config = ConfigDict(extra="forbid")

    gpus: list[GpuFacts] = Field(default_factory=list)
    driver_version: str | None = Field(default=None, description="NVIDIA driver version.")
    cuda_driver_version: str | None = Field(
        default=None, pattern=r"^\d{1,2}\.\d{1,2}$", description="Highest CUDA version the driver supports, e.g. '12.4'."
    )
    cpu: CpuFacts
    memory_total_mib: int = Field(gt=0, strict=True, description="Host RAM in MiB.")
    disk_free_gib: float = Field(ge=0, allow_inf_nan=False, description="Free disk where weights go, GiB.")
    container_engine: EngineFacts | None = None
    source: Literal["probe", "file"] = "file"

    @model_validator(mode="after")
    def _gpus_need_a_driver(self) -> "HardwareFacts":
        if self.gpus and not self.cuda_driver_version:
            raise ValueError("gpus are listed but cuda_driver_version is missing")
        return self

    @property
    def cuda(self) -> tuple[int, ...] | None:
        return parse_version(self.cuda_driver_version)

    def gpu_arch(self) -> str | None:
        """'sm80' for an A100, None without GPUs: the scope key of lessons."""
        return "sm" + self.gpus[0].compute_capability.replace(".", "") if self.gpus else None

    def fingerprint(self) -> str:
        """Stable id of the hardware class (GPU models, count, driver CUDA), not of free memory."""
        key = {
            "gpus": sorted(f"{g.name}|{g.memory_total_mib}|{g.compute_capability}" for g in self.gpus),
            "cuda": self.cuda_driver_version,
            "cpu": None if self.gpus else self.cpu.model,
        }
        return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]

    def summary(self) -> str:
        """One line for prompts and logs."""
        if not self.gpus:
            return f"CPU only: {self.cpu.model}, {self.cpu.cores} cores, {self.memory_total_mib // 1024} GiB RAM"
        g = self.gpus[0]
        return (
            f"{len(self.gpus)}x {g.name} ({g.memory_total_mib} MiB, cc {g.compute_capability}), "
            f"driver {self.driver_version} (CUDA {self.cuda_driver_version}), {self.memory_total_mib // 1024} GiB RAM"
        )
