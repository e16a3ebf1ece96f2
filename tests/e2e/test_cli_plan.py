"""`modeldeploy plan` and `probe` as a user runs them: the JSON contract, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("modeldeploy"))
FIX = ROOT / "tests" / "fixtures"


def run(*args: str, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([CLI, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)


def test_plan_json_is_one_document_with_the_contract_fields(tmp_path):
    out = tmp_path / "manifests"
    proc = run("plan", str(FIX / "models/llama-3.1-70b-instruct"), "--hardware", str(FIX / "machines/a100-80gb-x4.json"),
               "--json", "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)  # exactly one JSON object: json.loads rejects trailing text
    for key in ("feasible", "framework", "image", "tensor_parallel_size", "dtype", "max_model_len", "quantization",
                "trust_remote_code", "decided_by", "reasons", "memory", "candidates", "manifests"):
        assert key in doc, key
    assert doc["feasible"] is True and doc["framework"] == "vllm" and doc["tensor_parallel_size"] == 2
    assert doc["decided_by"] == "rules" and doc["quantization"] is None and doc["trust_remote_code"] is False
    assert set(doc["memory"]) >= {"weights_gib_per_gpu", "kv_cache_gib_per_gpu", "kv_bytes_per_token"}
    assert doc["memory"]["kv_bytes_per_token"] == 2 * 80 * 8 * 128 * 2
    for path in doc["manifests"].values():
        assert Path(path).is_file() and Path(path).parent == out
    assert json.loads((out / "docker-run.json").read_text())["image"] == doc["image"]


def test_plan_nothing_fits_exits_3_with_alternatives():
    proc = run("plan", str(FIX / "models/llama-3.1-70b-instruct"), "--hardware", str(FIX / "machines/rtx4090-x1.json"), "--json")
    assert proc.returncode == 3
    doc = json.loads(proc.stdout)
    assert doc["feasible"] is False and doc["framework"] is None and doc["alternatives"]


def test_plan_human_output_shows_the_arithmetic():
    proc = run("plan", str(FIX / "models/qwen2.5-7b-instruct"), "--hardware", str(FIX / "machines/l4-x1.json"))
    assert proc.returncode == 0, proc.stderr
    assert "KV budget:" in proc.stdout and "context that fits" in proc.stdout and "decided by rules" in proc.stdout


def test_plan_of_the_bundled_tiny_model_on_this_machine():
    proc = run("plan", "models/tiny-llama", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["feasible"] and doc["max_model_len"] == 2048
    assert doc["hardware"]["source"] == "probe"


def _write_fixtures(tmp: Path) -> None:
    malformed = tmp / "malformed"
    malformed.mkdir()
    (malformed / "config.json").write_text('{"architectures": ["LlamaForCausalLM"], "hidden_size": ')
    (tmp / "nonsense.json").write_text(json.dumps({
        "gpus": [{"name": "x", "memory_total_mib": "lots", "compute_capability": "8.0", "memory_free_mib": 1}],
        "cpu": {}, "memory_total_mib": -5}))
    (tmp / "binary.json").write_bytes(bytes(range(256)) * 4)


BAD_INPUTS = {
    "malformed-config": ["plan", "{tmp}/malformed"],
    "nonexistent-path": ["plan", "{tmp}/does-not-exist"],
    "model-id-traversal": ["plan", "Qwen/../../etc/passwd"],
    "model-id-dotdot": ["plan", "../../../etc"],
    "hardware-nonsense": ["plan", "models/tiny-llama", "--hardware", "{tmp}/nonsense.json"],
    "hardware-binary": ["plan", "models/tiny-llama", "--hardware", "{tmp}/binary.json"],
    "hardware-missing": ["plan", "models/tiny-llama", "--hardware", "{tmp}/nope.json"],
    "unknown-framework": ["plan", "models/tiny-llama", "--framework", "nosuch"],
    "zero-gpus": ["plan", "models/tiny-llama", "--max-gpus", "0"],
    "bad-revision": ["plan", "org/name", "--revision", "main;rm -rf /"],
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_exits_2_with_one_line_and_no_traceback(tmp_path, case):
    _write_fixtures(tmp_path)
    proc = run(*[a.format(tmp=tmp_path) for a in BAD_INPUTS[case]])
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_probe_json_round_trips_as_a_hardware_file(tmp_path):
    proc = run("probe", "--json")
    assert proc.returncode == 0, proc.stderr
    hw = json.loads(proc.stdout)
    assert set(hw) >= {"gpus", "driver_version", "cuda_driver_version", "cpu", "memory_total_mib", "disk_free_gib"}
    assert hw["gpus"] == []  # no NVIDIA driver on these machines
    path = tmp_path / "me.json"
    path.write_text(proc.stdout)
    plan = run("plan", "models/tiny-llama", "--hardware", str(path), "--json")
    assert plan.returncode == 0 and json.loads(plan.stdout)["hardware"]["source"] == "probe"
