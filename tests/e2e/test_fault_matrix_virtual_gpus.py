"""GPU-only faults through the whole deploy loop: the simulator plays a different GPU than the plan assumed.

There is no GPU here: `--virtual-gpus` makes the simulator (a local process) enforce the memory,
compute capability and driver of the GPU it is told to play, with vLLM's real error texts. The plan
is made for the machine in `--hardware`; the "real" GPU differs, as when a hardware file is wrong.
Recoverable faults must reach a healthy endpoint within 3 attempts; unrecoverable ones must end
with what a person must do; nothing may be left running.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("modeldeploy"))
MODELS = ROOT / "tests" / "fixtures" / "models"
MACHINES = ROOT / "tests" / "fixtures" / "machines"
SIMULATOR = f"{sys.executable} -m modeldeploy.simulator"


def gpu(name: str, mib: int, cc: str, count: int = 1, cuda: str = "12.4") -> str:
    return json.dumps({"name": name, "memory_total_mib": mib, "compute_capability": cc, "count": count,
                       "cuda_driver_version": cuda})


CASES = {
    # model, planned-for machine, the GPU actually there, expected first category, recovers?
    "bf16-on-cc75": ("phi-3-mini-4k-instruct", "a100-80gb-x1", gpu("Tesla T4", 15360, "7.5"), "dtype_unsupported", True),
    "kv-cache-too-small": ("llama-3.1-8b-instruct", "a100-80gb-x1", gpu("NVIDIA A10G", 23028, "8.6"),
                           "oom_or_kv_cache", True),
    # TP=2 on "A100s" that are really L4s: out of memory; TP=4 (the plan's largest) still is: a person must act
    "oom-unrecoverable": ("llama-3.1-70b-instruct", "a100-80gb-x4", gpu("NVIDIA L4", 23034, "8.9", count=4),
                          "oom_or_kv_cache", False),
    "bf16-then-oom-unrecoverable": ("llama-3.1-8b-instruct", "a100-80gb-x1", gpu("Tesla T4", 15360, "7.5"),
                                    "dtype_unsupported", False),
    # the hardware file says driver 12.4, the GPU's driver is 12.1: the image built for CUDA 12.1
    "driver-older-than-image": ("llama-3.1-8b-instruct", "a100-80gb-x1",
                                gpu("NVIDIA A100-SXM4-80GB", 81920, "8.0", cuda="12.1"), "driver_too_old", True),
    # driver 11.8 is older than every image: no flag can fix it
    "driver-too-old-for-every-image": ("llama-3.1-8b-instruct", "a100-80gb-x1",
                                       gpu("NVIDIA A100-SXM4-80GB", 81920, "8.0", cuda="11.8"), "driver_too_old", False),
    # NCCL needs /dev/shm across GPUs. The plan already shares the host's IPC namespace whenever it uses
    # more than one GPU, so what the loop can meet is a host whose own /dev/shm is too small (64 MiB)
    "nccl-shm-host-too-small": ("llama-3.1-70b-instruct", "a100-80gb-x4",
                                gpu("NVIDIA A100-SXM4-80GB", 81920, "8.0", count=4), "nccl_shm", False,
                                {"MODELDEPLOY_SIM_SHM_BYTES": str(64 * 1024 * 1024)}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_virtual_gpu_fault(case, tmp_path):
    model, machine, actual_gpu, category, recovers, *extra = CASES[case]
    extra_env = [arg for key, value in (extra[0] if extra else {}).items() for arg in ("--env", f"{key}={value}")]
    home = tmp_path / "home"
    env = {**os.environ, "MODELDEPLOY_HOME": str(home)}
    proc = subprocess.run([CLI, "deploy", str(MODELS / model), "--runtime", "process", "--command", SIMULATOR,
                           "--hardware", str(MACHINES / f"{machine}.json"), "--virtual-gpus",
                           "--env", f"MODELDEPLOY_SIM_GPU={actual_gpu}", *extra_env, "--yes", "--json"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    doc = json.loads(proc.stdout)
    try:
        assert doc["repairs"] and doc["repairs"][0]["category"] == category, doc["repairs"]
        assert len(doc["attempts"]) <= 3
        if recovers:
            assert proc.returncode == 0 and doc["status"] == "ready", (doc["reasons"], doc["repairs"])
            assert doc["attempts"][-1]["outcome"] == "ready"
            if category == "driver_too_old":
                assert doc["repairs"][0]["fix"] == {"image": "vllm/vllm-openai:v0.6.3"} == {"image": doc["image"]}
        else:
            assert proc.returncode == 1 and doc["status"] == "failed"
            assert doc["repairs"][-1]["action_for_human"], doc["repairs"]
            if category == "driver_too_old":
                assert "upgrade the driver" in doc["repairs"][-1]["action_for_human"]
            if category == "nccl_shm":
                assert doc["attempts"][0]["slots"]["ipc_host"] is True and len(doc["attempts"]) == 1
                assert "/dev/shm" in doc["repairs"][-1]["action_for_human"]
    finally:
        if doc.get("name"):
            subprocess.run([CLI, "down", doc["name"]], capture_output=True, cwd=ROOT, env=env, timeout=120)
    assert not (home / "deployments").exists() or not list((home / "deployments").glob("*/process.json"))
