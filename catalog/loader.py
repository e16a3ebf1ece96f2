"""Load and validate ``frameworks.yaml`` into typed specs (once per process)."""

from __future__ import annotations

import functools
from importlib import resources
from typing import Literal

import yaml
from pydantic import BaseModel, Field, model_validator

from modeldeploy.schemas.hardware import parse_version


class ImageSpec(BaseModel):
    """One container image of a framework."""

    image: str
    version: str
    device: Literal["cuda", "cpu"]
    cuda: str | None = None
    local_build: bool = False


class QuantSupport(BaseModel):
    """What a quantization method needs from the GPU."""

    min_cc: str = "0.0"
    dtypes: list[str] | None = None


class MemoryDefaults(BaseModel):
    """Defaults of the memory arithmetic for one framework."""

    utilization: float
    max_num_batched_tokens: int
    max_num_seqs: int
    overhead_gib: float
    tp_overhead_gib: float
    cpu_ram_share: float = 0.75


class LaunchArg(BaseModel):
    """A flag bound to one typed slot of the launch template (or to a constant)."""

    flag: str | None = Field(default=None, description="None: the value is a positional argument.")
    slot: str | None = None
    value: str | None = Field(default=None, description="A constant instead of a slot.")
    switch: bool = False
    device: Literal["cuda", "cpu"] | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "LaunchArg":
        if (self.slot is None) == (self.value is None):
            raise ValueError(f"launch arg {self.flag or '(positional)'}: give exactly one of slot, value")
        if self.flag is None and self.switch:
            raise ValueError("a positional launch arg cannot be a switch")
        return self


class Launch(BaseModel):
    """How the server process is started."""

    entrypoint: list[str] | None = None
    process_command: list[str]
    args: list[LaunchArg]
    env: dict[str, str] = Field(default_factory=dict)
    cpu_env: dict[str, str] = Field(default_factory=dict)


class Readiness(BaseModel):
    """How to tell the server really serves the model."""

    models_path: str = "/v1/models"
    health_path: str | None = "/health"
    ready_log: str | None = None
    metrics_path: str | None = None
    lists_served_model: bool = Field(default=True, description="models_path lists the served model (transformers "
                                                               "serve lists only its cache: ready = health + one token).")


class FrameworkSpec(BaseModel):
    """Everything the planner and renderer know about one framework."""

    name: str = ""
    display_name: str
    rank: int
    formats: list[str]
    devices: list[Literal["cuda", "cpu"]]
    min_compute_capability: str
    tensor_parallel: bool
    architectures: list[str]
    quantization: dict[str, QuantSupport] = Field(default_factory=dict)
    cpu_quantization: list[str] = Field(default_factory=list)
    images: list[ImageSpec]
    memory: MemoryDefaults
    port: int
    launch: Launch
    allowed_extra_flags: list[str] = Field(default_factory=list)
    readiness: Readiness
    failure_signatures: list[int] = Field(default_factory=list)

    @property
    def names_served_model(self) -> bool:
        """The server takes a served-model name; otherwise requests name the model by its path."""
        return any(arg.slot == "served_model_name" for arg in self.launch.args)

    def serves_architecture(self, architecture: str | None) -> bool:
        return "*" in self.architectures or (architecture is not None and architecture in self.architectures)

    def images_for(self, device: str) -> list[ImageSpec]:
        return [i for i in self.images if i.device == device]

    def image_for_driver(self, cuda_driver: tuple[int, ...] | None) -> ImageSpec | None:
        """The newest CUDA image whose CUDA version the driver supports (images are listed newest first)."""
        for img in self.images_for("cuda"):
            if cuda_driver is not None and parse_version(img.cuda) <= cuda_driver:
                return img
        return None


class Families(BaseModel):
    """Facts about model families that cut across frameworks."""

    refuses_fp16: list[str]
    native_model_types: list[str]


class Catalog(BaseModel):
    """The whole catalog."""

    families: Families
    frameworks: dict[str, FrameworkSpec]

    def get(self, name: str) -> FrameworkSpec:
        return self.frameworks[name]


@functools.cache
def load_catalog() -> Catalog:
    """The shipped catalog, validated. Cached: it is read-only data."""
    text = resources.files("modeldeploy.catalog").joinpath("frameworks.yaml").read_text(encoding="utf-8")
    catalog = Catalog.model_validate(yaml.safe_load(text))
    for name, spec in catalog.frameworks.items():
        spec.name = name
    return catalog
