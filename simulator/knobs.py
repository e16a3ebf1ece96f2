"""Simulator-only settings, read from `MODELDEPLOY_SIM_*` environment variables.

They are environment variables so that the real frameworks' argv stays untouched:
the same rendered command line starts the real server or the simulator.

| variable | meaning | default |
|---|---|---|
| MODELDEPLOY_SIM_FRAMEWORK | vllm, sglang, tgi, llama.cpp or transformers (else detected from argv) | detected |
| MODELDEPLOY_SIM_TTFT_MS | prefill time of a request once it holds a slot | 50 |
| MODELDEPLOY_SIM_TPOT_MS | time per further output token | 10 |
| MODELDEPLOY_SIM_SLOTS | sequences decoded at once; more wait in a FIFO queue | the framework's --max-num-seqs & co |
| MODELDEPLOY_SIM_CHUNK_TOKENS | tokens per streamed chunk after the first token, which is sent alone (vLLM's --stream-interval) | 1 |
| MODELDEPLOY_SIM_STARTUP_S | load time (progress lines; /v1/models answers 503 meanwhile) | 1.0 |
| MODELDEPLOY_SIM_GPU | virtual GPU JSON `{"name","memory_total_mib","compute_capability","count","cuda_driver_version"}` (or a hardware file's `{"gpus": [...], "cuda_driver_version"}`); absent/`none` = CPU | none |
| MODELDEPLOY_SIM_IMAGE_CUDA | CUDA runtime version the "image" was built with (checked against the driver) | unset |
| MODELDEPLOY_SIM_FAIL | force the startup failure with this number of failure-signatures.md | unset |
| MODELDEPLOY_SIM_SHM_BYTES | pretend /dev/shm has this size (tests); else measured with os.statvfs | measured |
| MODELDEPLOY_SIM_STRICT_ARGS | 1: unknown flags are an argparse error (exit 2) like the real vLLM | 0 |
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Mapping

PREFIX = "MODELDEPLOY_SIM_"
FRAMEWORKS = ("vllm", "sglang", "tgi", "llama.cpp", "transformers")
_FRAMEWORK_ALIASES = {"llamacpp": "llama.cpp", "llama-cpp": "llama.cpp", "llama_cpp": "llama.cpp",
                      "text-generation-inference": "tgi", "transformers-serve": "transformers"}


class KnobError(ValueError):
    """A MODELDEPLOY_SIM_* variable could not be understood."""


@dataclass(frozen=True)
class VirtualGPU:
    name: str
    memory_total_mib: int
    compute_capability: tuple[int, int]
    count: int = 1
    cuda_driver_version: str | None = None

    @property
    def cc_text(self) -> str:
        return f"{self.compute_capability[0]}.{self.compute_capability[1]}"

    @property
    def cc_int(self) -> int:
        return self.compute_capability[0] * 10 + self.compute_capability[1]

    @property
    def memory_bytes(self) -> int:
        return self.memory_total_mib * 1024 * 1024


@dataclass(frozen=True)
class Knobs:
    framework: str | None = None
    ttft_s: float = 0.05
    tpot_s: float = 0.01
    slots: int | None = None
    chunk_tokens: int = 1
    startup_s: float = 1.0
    gpu: VirtualGPU | None = None
    image_cuda: str | None = None
    fail: int | None = None
    shm_bytes: int | None = None
    strict_args: bool = False


def parse_version(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    parts = []
    for piece in str(text).strip().lstrip("v").split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        if not digits:
            break
        parts.append(int(digits))
    return tuple(parts) or None


def parse_gpu(text: str | None) -> VirtualGPU | None:
    """The virtual GPU from its JSON; None for absent, empty, `none` or `cpu`."""
    if text is None or text.strip().lower() in ("", "none", "null", "cpu", "0", "false"):
        return None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise KnobError(f"{PREFIX}GPU is not JSON: {exc}") from None
    if isinstance(doc, list):
        doc = {"gpus": doc}
    if not isinstance(doc, dict):
        raise KnobError(f"{PREFIX}GPU must be a JSON object")
    driver = doc.get("cuda_driver_version")
    count = doc.get("count")
    if isinstance(doc.get("gpus"), list):
        gpus = [g for g in doc["gpus"] if isinstance(g, dict)]
        if not gpus:
            return None
        first = dict(gpus[0])
        first["memory_total_mib"] = min(int(g.get("memory_total_mib") or 0) for g in gpus)
        count = count or len(gpus)
        driver = driver or first.get("cuda_driver_version")
        doc = first
    try:
        memory = int(doc["memory_total_mib"])
        name = str(doc.get("name") or "NVIDIA GPU")
        cc = parse_version(str(doc.get("compute_capability") or "8.0")) or (8, 0)
        count = int(count or 1)
    except (KeyError, TypeError, ValueError) as exc:
        raise KnobError(f"{PREFIX}GPU needs memory_total_mib (an integer): {exc}") from None
    if memory <= 0 or count <= 0:
        raise KnobError(f"{PREFIX}GPU: memory_total_mib and count must be positive")
    return VirtualGPU(name=name, memory_total_mib=memory, compute_capability=(cc[0], cc[1] if len(cc) > 1 else 0),
                      count=count, cuda_driver_version=str(driver) if driver else None)


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(PREFIX + name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise KnobError(f"{PREFIX}{name} must be a number, got {raw!r}") from None
    if value < 0:
        raise KnobError(f"{PREFIX}{name} must not be negative, got {raw!r}")
    return value


def _int(env: Mapping[str, str], name: str) -> int | None:
    raw = env.get(PREFIX + name)
    if raw is None or raw.strip().lower() in ("", "none"):
        return None
    try:
        return int(raw)
    except ValueError:
        raise KnobError(f"{PREFIX}{name} must be an integer, got {raw!r}") from None


def normalize_framework(name: str | None) -> str | None:
    if not name or not name.strip():
        return None
    key = name.strip().lower()
    key = _FRAMEWORK_ALIASES.get(key, key)
    if key not in FRAMEWORKS:
        raise KnobError(f"{PREFIX}FRAMEWORK must be one of {', '.join(FRAMEWORKS)}, got {name!r}")
    return key


def knobs_from_env(env: Mapping[str, str] | None = None) -> Knobs:
    env = os.environ if env is None else env
    slots = _int(env, "SLOTS")
    if slots is not None and slots < 1:
        raise KnobError(f"{PREFIX}SLOTS must be at least 1")
    chunk_tokens = _int(env, "CHUNK_TOKENS") or 1
    if chunk_tokens < 1:
        raise KnobError(f"{PREFIX}CHUNK_TOKENS must be at least 1")
    fail = _int(env, "FAIL") or None  # 0 means no forced failure
    if fail is not None and not 1 <= fail <= 26:
        raise KnobError(f"{PREFIX}FAIL must be a row of failure-signatures.md (1-26), got {fail}")
    strict = env.get(PREFIX + "STRICT_ARGS", "").strip().lower() in ("1", "true", "yes", "on")
    return Knobs(
        framework=normalize_framework(env.get(PREFIX + "FRAMEWORK")),
        ttft_s=_float(env, "TTFT_MS", 50.0) / 1000.0,
        tpot_s=_float(env, "TPOT_MS", 10.0) / 1000.0,
        slots=slots,
        chunk_tokens=chunk_tokens,
        startup_s=_float(env, "STARTUP_S", 1.0),
        gpu=parse_gpu(env.get(PREFIX + "GPU")),
        image_cuda=(env.get(PREFIX + "IMAGE_CUDA") or "").strip() or None,
        fail=fail,
        shm_bytes=_int(env, "SHM_BYTES"),
        strict_args=strict,
    )


def measured_shm_bytes(path: str = "/dev/shm") -> int | None:
    """Size of the shared-memory filesystem (Docker's default is 64 MiB), None when absent."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_frsize * st.f_blocks
