"""Assemble HardwareFacts for this machine, or load them from a ``--hardware`` file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from modeldeploy.errors import UserInputError
from modeldeploy.schemas.hardware import HardwareFacts
from modeldeploy.tools.hardware.engine_probe import probe_engine
from modeldeploy.tools.hardware.host_probe import probe_cpu, probe_disk_free_gib, probe_memory_mib
from modeldeploy.tools.hardware.nvml_probe import probe_gpus


def probe_hardware(weights_dir: Path, nvml: Any = None, with_engine: bool = True) -> HardwareFacts:
    gpus, driver, cuda, _note = probe_gpus(nvml)
    return HardwareFacts(
        gpus=gpus,
        driver_version=driver,
        cuda_driver_version=cuda,
        cpu=probe_cpu(),
        memory_total_mib=probe_memory_mib(),
        disk_free_gib=probe_disk_free_gib(weights_dir),
        container_engine=probe_engine() if with_engine else None,
        source="probe",
    )


def first_error(exc: ValidationError) -> str:
    """One line out of a pydantic ValidationError: where and what."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"]) or "document"
    return f"{where}: {err['msg']}" + (f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else "")


def load_hardware_file(path: Path) -> HardwareFacts:
    """Parse a hardware JSON file; any problem is one UserInputError line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserInputError(f"{path}: no such hardware file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserInputError(f"{path}: cannot read hardware file ({exc.__class__.__name__})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserInputError(f"{path}: malformed JSON at line {exc.lineno}") from None
    except RecursionError:
        raise UserInputError(f"{path}: JSON nested too deeply") from None
    if not isinstance(data, dict):
        raise UserInputError(f"{path}: expected a JSON object")
    data.setdefault("source", "file")
    try:
        return HardwareFacts.model_validate(data)
    except ValidationError as exc:
        raise UserInputError(f"{path}: invalid hardware description: {first_error(exc)}") from None
