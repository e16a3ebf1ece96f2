"""inspect_model on real files: published config fixtures, the tiny real checkpoint, GGUF files written by
gguf_factory, an HF-cache layout built on disk, and hostile input that must end in one UserInputError line."""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import gguf
import numpy as np
import pytest
from gguf_factory import tiny_vocab, write_tiny_gguf
from pydantic import ValidationError
from safetensors import safe_open
from safetensors.numpy import save_file

from modeldeploy.errors import UserInputError
from modeldeploy.tools.model_inspect.inspect import inspect_model
from modeldeploy.tools.model_inspect.readme_notes import deploy_notes
from modeldeploy.tools.model_inspect.safetensors_header import read_header

ROOT = Path(__file__).resolve().parents[2]
MODELS = ROOT / "tests" / "fixtures" / "models"
TINY = ROOT / "models" / "tiny-llama"
FIXTURE_DIRS = sorted(p.parent.name for p in MODELS.glob("*/config.json"))


def _published_counts() -> dict[str, int]:
    """Parameter counts from the fixtures' README table: the exact '(8,030,261,248)' figure, else '7.62B'."""
    counts = {}
    for line in (MODELS / "README.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        name, params = cells[0].strip("`"), cells[2]
        exact = re.search(r"\((\d{1,3}(?:,\d{3})+)\)", params)
        if exact:
            counts[name] = int(exact.group(1).replace(",", ""))
        else:
            counts[name] = int(float(re.search(r"(\d+(?:\.\d+)?)B", params).group(1)) * 1e9)
    return counts


PUBLISHED = _published_counts()


def _one_line(message: str) -> None:
    assert message, "empty error message"
    assert "\n" not in message and "\r" not in message, repr(message)
    assert len(message.splitlines()) == 1, repr(message)


def _model_dir(tmp_path: Path, name: str = "m", config: object | str | None = None,
               files: dict[str, bytes | str] | None = None) -> Path:
    """A model directory in tmp_path: config.json (the tiny model's unless given) plus extra files."""
    d = tmp_path / name
    d.mkdir(parents=True, exist_ok=True)
    if config is None:
        config = json.loads((TINY / "config.json").read_text())
    (d / "config.json").write_text(config if isinstance(config, str) else json.dumps(config), encoding="utf-8")
    for fname, content in (files or {}).items():
        if isinstance(content, bytes):
            (d / fname).write_bytes(content)
        else:
            (d / fname).write_text(content, encoding="utf-8")
    return d


def _safetensors_bytes(header: object | bytes, data: bytes = b"") -> bytes:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


# --------------------------------------------------------------------------- parameter counts and sizes


def test_readme_table_covers_every_fixture():
    assert set(PUBLISHED) == set(FIXTURE_DIRS)


@pytest.mark.parametrize("name", FIXTURE_DIRS)
def test_param_count_matches_published_figure_within_half_a_percent(model_facts, name):
    facts = model_facts(name)
    assert facts.param_count is not None
    assert facts.param_count == pytest.approx(PUBLISHED[name], rel=0.005)


def test_llama_weight_bytes_come_from_the_safetensors_index(model_facts):
    facts = model_facts("llama-3.1-8b-instruct")
    assert facts.weight_bytes == 16060522496
    assert facts.weight_bytes_source == "index"
    assert facts.format == "safetensors"


@pytest.mark.parametrize("name", ["qwen2.5-7b-instruct", "llama-3.1-70b-instruct", "gemma-2-9b-it"])
def test_unquantized_weight_bytes_without_files_are_params_times_dtype_size(model_facts, name):
    facts = model_facts(name)
    assert facts.weight_bytes_source == "config"
    assert facts.torch_dtype == "bfloat16"
    assert facts.weight_bytes == 2 * facts.param_count


def test_tiny_model_counts_come_from_the_safetensors_header():
    facts = inspect_model(str(TINY))
    numel = 0
    with safe_open(str(TINY / "model.safetensors"), framework="numpy") as f:
        for key in f.keys():
            numel += math.prod(f.get_slice(key).get_shape())
    (header_len,) = struct.unpack("<Q", (TINY / "model.safetensors").read_bytes()[:8])
    assert facts.param_count == numel
    assert facts.weight_bytes == (TINY / "model.safetensors").stat().st_size - 8 - header_len
    assert facts.weight_bytes_source == "headers"
    assert facts.weight_files == ["model.safetensors"]
    assert (facts.architecture, facts.family, facts.num_layers, facts.num_kv_heads) == ("LlamaForCausalLM", "llama", 2, 1)


def test_sharded_safetensors_are_summed_across_files_and_dtypes(tmp_path):
    d = _model_dir(tmp_path)
    save_file({"a": np.zeros((3, 5), dtype=np.float16), "b": np.zeros((7,), dtype=np.float32)},
              str(d / "model-00001-of-00002.safetensors"))
    save_file({"c": np.zeros((2, 2, 2), dtype=np.int8)}, str(d / "model-00002-of-00002.safetensors"))
    facts = inspect_model(str(d))
    assert facts.param_count == 15 + 7 + 8
    assert facts.weight_bytes == 15 * 2 + 7 * 4 + 8 * 1
    assert facts.weight_files == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    header = read_header(d / "model-00001-of-00002.safetensors")
    assert header.dtypes == {"F16": 15, "F32": 7}


# --------------------------------------------------------------------------- quantization, MLA, MoE


@pytest.mark.parametrize(
    "name,method,bits,group",
    [
        ("qwen2.5-7b-instruct-awq", "awq", 4, 128),
        ("qwen2.5-7b-instruct-gptq-int4", "gptq", 4, 128),
        ("llama-3.1-8b-instruct-fp8", "fp8", 8, None),
    ],
    ids=["awq", "gptq", "fp8"],
)
def test_quantization_is_read_from_quantization_config(model_facts, name, method, bits, group):
    q = model_facts(name).quantization
    assert q is not None
    assert (q.method, q.bits, q.group_size) == (method, bits, group)


@pytest.mark.parametrize("name", [n for n in FIXTURE_DIRS if not re.search(r"awq|gptq|fp8", n)])
def test_unquantized_fixtures_report_no_quantization(model_facts, name):
    assert model_facts(name).quantization is None


@pytest.mark.parametrize(
    "name,expected",
    [
        ("qwen2.5-7b-instruct-awq", 5.58e9),  # the published AWQ checkpoint is 5.58 GB
        ("qwen2.5-7b-instruct-gptq-int4", 5.58e9),
        ("llama-3.1-8b-instruct-fp8", 9.08e9),  # the published FP8 checkpoint is 9.08 GB
    ],
    ids=["awq", "gptq", "fp8"],
)
def test_quantized_weight_bytes_estimate_is_near_the_published_checkpoint_size(model_facts, name, expected):
    facts = model_facts(name)
    assert facts.weight_bytes_source == "config"
    assert facts.weight_bytes == pytest.approx(expected, rel=0.03)
    assert facts.weight_bytes < facts.param_count * 2  # smaller than the 16-bit checkpoint


def test_deepseek_mla_and_moe_facts(model_facts):
    facts = model_facts("deepseek-v2-lite-chat")
    assert facts.mla is not None
    assert facts.mla.model_dump() == {"kv_lora_rank": 512, "qk_rope_head_dim": 64, "qk_nope_head_dim": 128,
                                      "v_head_dim": 128, "q_lora_rank": None}
    assert facts.moe is not None
    assert facts.moe.model_dump() == {"num_experts": 64, "experts_per_token": 6, "shared_experts": 2,
                                      "expert_intermediate_size": 1408}
    assert facts.rope_scaling and facts.rope_scaling["factor"] == 40
    # DeepSeek publishes "2.4B activated"; this count includes both the input embedding and the lm_head
    # (2 x 0.21B), as Mistral's 12.9B for Mixtral does, so it lands a little above.
    assert 2.2e9 <= facts.active_param_count <= 2.8e9
    assert facts.active_param_count < facts.param_count / 5


def test_mixtral_moe_facts_and_active_params(model_facts):
    facts = model_facts("mixtral-8x7b-instruct")
    assert facts.mla is None
    assert facts.moe is not None
    assert (facts.moe.num_experts, facts.moe.experts_per_token, facts.moe.shared_experts) == (8, 2, 0)
    assert facts.moe.expert_intermediate_size == 14336
    assert facts.active_param_count == pytest.approx(12.88e9, rel=0.005)


@pytest.mark.parametrize("name", [n for n in FIXTURE_DIRS if n not in ("deepseek-v2-lite-chat", "mixtral-8x7b-instruct")])
def test_dense_fixtures_have_no_moe_or_mla(model_facts, name):
    facts = model_facts(name)
    assert facts.moe is None and facts.mla is None and facts.active_param_count is None


@pytest.mark.parametrize(
    "name,attr,expected",
    [
        ("gemma-2-9b-it", "tie_word_embeddings", True),
        ("gemma-2-9b-it", "head_dim", 256),
        ("gemma-2-9b-it", "sliding_window", 4096),
        ("phi-3-mini-4k-instruct", "sliding_window", 2047),
        ("qwen2.5-7b-instruct", "sliding_window", None),  # use_sliding_window: false
        ("llama-3.1-70b-instruct", "num_kv_heads", 8),
        ("internlm2_5-7b-chat", "rope_scaling", {"type": "dynamic", "factor": 2.0}),
    ],
    ids=lambda v: str(v) if not isinstance(v, dict) else "dynamic-2.0",
)
def test_shape_facts(model_facts, name, attr, expected):
    assert getattr(model_facts(name), attr) == expected


# --------------------------------------------------------------------------- custom code, chat template, README


@pytest.mark.parametrize(
    "name,trust",
    [("internlm2_5-7b-chat", True), ("phi-3-mini-4k-instruct", False), ("deepseek-v2-lite-chat", False)],
    ids=["internlm2.5-custom-code", "phi3-native", "deepseek-v2-native"],
)
def test_trust_remote_code_only_for_model_types_transformers_lacks(model_facts, name, trust):
    facts = model_facts(name)
    assert facts.auto_map is True  # all three ship auto_map
    assert facts.trust_remote_code is trust
    assert any("trust_remote_code" in w for w in facts.warnings) is trust


@pytest.mark.parametrize("ref,has", [(str(MODELS / "llama-3.1-8b-instruct"), True), (str(TINY), True),
                                     (str(MODELS / "qwen2.5-7b-instruct"), False)],
                         ids=["llama-fixture", "tiny-model", "qwen-without-tokenizer-config"])
def test_chat_template_detection(ref, has):
    facts = inspect_model(ref)
    assert facts.has_chat_template is has
    assert any("no chat template" in w for w in facts.warnings) is (not has)


def test_chat_template_jinja_file_counts_as_a_chat_template(tmp_path):
    d = _model_dir(tmp_path, files={"chat_template.jinja": "{{ messages }}"})
    assert inspect_model(str(d)).has_chat_template is True


def test_readme_deploy_notes_keep_the_vllm_section_and_are_short(model_facts):
    notes = model_facts("qwen2.5-7b-instruct").deploy_notes
    assert "## Processing Long Texts" in notes
    assert "vllm serve Qwen/Qwen2.5-7B-Instruct --max-model-len 131072" in notes
    assert len(notes) <= 1200 + 10  # ~1200: the limit, give or take the separators (see the strict test below)
    readme = (MODELS / "qwen2.5-7b-instruct" / "README.md").read_text()
    assert len(notes) < len(readme)



@pytest.mark.parametrize("source", ["qwen-readme-1200", "two-sections-exactly-at-the-limit"])
def test_deploy_notes_never_exceed_max_chars(source):
    if source == "qwen-readme-1200":
        readme, max_chars = (MODELS / "qwen2.5-7b-instruct" / "README.md").read_text(), 1200
    else:
        body = "Run `vllm serve org/m`."
        readme = f"# M\n## Serving A\n{body}\n## Serving B\n{body}\n"
        max_chars = 2 * len(f"## Serving A\n{body}")  # both sections fit exactly, if the separator is ignored
    assert len(deploy_notes(readme, max_chars=max_chars)) <= max_chars


def test_deploy_notes_ignore_front_matter_and_unrelated_sections():
    readme = ("---\nlicense: apache-2.0\ntags: [vllm]\n---\n# Model\nIntro.\n"
              "## Citation\n@misc{x}\n## Serving\nUse `vllm serve org/m`.\n")
    notes = deploy_notes(readme)
    assert notes.startswith("## Serving")
    assert "Citation" not in notes and "license" not in notes


# --------------------------------------------------------------------------- GGUF


def _expected_gguf_numel(n_layers: int, n_embd: int, n_head: int, n_head_kv: int, n_ff: int, tied: bool) -> int:
    vocab = len(tiny_vocab()[0])
    hd = n_embd // n_head
    per_layer = 2 * n_embd + 2 * n_embd * n_head * hd + 2 * n_embd * n_head_kv * hd + 3 * n_embd * n_ff
    return vocab * n_embd * (1 if tied else 2) + n_layers * per_layer + n_embd


GGUF_TYPES = [gguf.LlamaFileType.ALL_F32, gguf.LlamaFileType.MOSTLY_F16, gguf.LlamaFileType.MOSTLY_Q8_0,
              gguf.LlamaFileType.MOSTLY_Q4_0, gguf.LlamaFileType.MOSTLY_Q4_K_M]


@pytest.mark.parametrize("file_type", GGUF_TYPES, ids=[t.name for t in GGUF_TYPES])
def test_gguf_file_facts(tmp_path, file_type):
    path = write_tiny_gguf(tmp_path / "tiny-chat.gguf", arch="llama", n_layers=3, n_embd=64, n_head=4, n_head_kv=2,
                           context_length=4096, file_type=file_type, name="tiny-chat", seed=1)
    facts = inspect_model(str(path))
    assert facts.source.kind == "gguf_file"
    assert (facts.format, facts.weight_bytes_source) == ("gguf", "gguf")
    assert (facts.architecture, facts.family) == ("llama", "llama")
    assert (facts.num_layers, facts.num_attention_heads, facts.num_kv_heads, facts.head_dim) == (3, 4, 2, 16)
    assert (facts.hidden_size, facts.intermediate_size) == (64, 128)
    assert facts.max_position_embeddings == 4096
    assert facts.vocab_size == len(tiny_vocab()[0])
    assert facts.has_chat_template is True
    assert facts.quantization is not None
    assert (facts.quantization.method, facts.quantization.detail) == ("gguf", file_type.name)
    assert facts.param_count == _expected_gguf_numel(3, 64, 4, 2, 128, tied=True)
    # weight bytes == the tensors' stored bytes, computed from each tensor's type and element count
    reader = gguf.GGUFReader(str(path))
    expected = 0
    for t in reader.tensors:
        block, type_size = gguf.GGML_QUANT_SIZES[t.tensor_type]
        expected += int(t.n_elements) // block * type_size
    assert facts.weight_bytes == expected
    assert 0 < path.stat().st_size - facts.weight_bytes < 64 * 1024  # the rest is the header and padding
    assert facts.weight_files == ["tiny-chat.gguf"]
    assert facts.name == "tiny-chat"


def test_gguf_quantized_file_is_smaller_than_f16(tmp_path):
    f16 = inspect_model(str(write_tiny_gguf(tmp_path / "f16.gguf", file_type=gguf.LlamaFileType.MOSTLY_F16)))
    q4 = inspect_model(str(write_tiny_gguf(tmp_path / "q4.gguf", file_type=gguf.LlamaFileType.MOSTLY_Q4_0)))
    assert f16.param_count == q4.param_count
    assert q4.weight_bytes < f16.weight_bytes * 0.5


def test_gguf_in_a_directory_without_config_json(tmp_path):
    write_tiny_gguf(tmp_path / "qwen-dir" / "model-q8_0.gguf", arch="qwen2", file_type=gguf.LlamaFileType.MOSTLY_Q8_0,
                    n_embd=64, n_head=4, n_head_kv=4, context_length=32768, tie_embeddings=False)
    facts = inspect_model(str(tmp_path / "qwen-dir"))
    assert facts.source.kind == "local_dir"
    assert (facts.format, facts.architecture, facts.max_position_embeddings) == ("gguf", "qwen2", 32768)
    assert facts.num_kv_heads == 4
    assert facts.param_count == _expected_gguf_numel(2, 64, 4, 4, 128, tied=False)
    assert facts.weight_files == ["model-q8_0.gguf"]


# --------------------------------------------------------------------------- hub ids through the HF cache


_HUB_SCRIPT = r"""
import json, sys
from modeldeploy.errors import ModelDeployError
from modeldeploy.tools.model_inspect.inspect import inspect_model
out = []
for ref, rev in json.loads(sys.argv[1]):
    try:
        f = inspect_model(ref, rev)
        out.append({"ok": f.model_dump(mode="json")})
    except ModelDeployError as exc:
        out.append({"error": type(exc).__name__, "message": str(exc)})
print(json.dumps(out))
"""


def test_hub_id_resolves_through_a_local_hf_cache_without_network(tmp_path):
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hf" / "hub" / "models--myorg--qwen-like"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    shutil.copy(MODELS / "qwen2.5-7b-instruct" / "config.json", snapshot / "config.json")
    shutil.copy(MODELS / "qwen2.5-7b-instruct" / "README.md", snapshot / "README.md")

    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_CACHE": str(tmp_path / "hf" / "hub"),
           "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    env.pop("HF_TOKEN", None)
    cases = [["myorg/qwen-like", None], ["myorg/qwen-like", commit], ["myorg/not-cached", None]]
    # A fresh interpreter: huggingface_hub reads HF_HUB_CACHE and HF_HUB_OFFLINE once, at import.
    proc = subprocess.run([sys.executable, "-c", _HUB_SCRIPT, json.dumps(cases)], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    default, pinned, missing = json.loads(proc.stdout.strip().splitlines()[-1])

    facts = default["ok"]
    assert facts["source"]["kind"] == "hf_repo"
    assert facts["source"]["repo_id"] == "myorg/qwen-like"
    assert Path(facts["source"]["path"]).resolve() == snapshot.resolve()
    assert facts["name"] == "qwen-like"
    assert facts["param_count"] == PUBLISHED["qwen2.5-7b-instruct"]
    assert "vllm serve" in facts["deploy_notes"]

    assert pinned["ok"]["source"]["revision"] == commit
    assert Path(pinned["ok"]["source"]["path"]).resolve() == snapshot.resolve()

    assert missing["error"] == "ModelDeployError"
    assert "not in the local Hugging Face cache" in missing["message"]
    _one_line(missing["message"])


# --------------------------------------------------------------------------- hostile and broken input


HOSTILE_REFS = [
    pytest.param("org/../../etc/passwd", None, "path traversal", id="traversal-in-hub-id"),
    pytest.param("org/..", None, "path traversal", id="hub-id-dotdot-name"),
    pytest.param("../secret-model-that-does-not-exist", None, "no such file", id="relative-dotdot-path"),
    pytest.param("org/name\x00", None, "control characters", id="nul-byte"),
    pytest.param("org/na\nme", None, "control characters", id="newline"),
    pytest.param("org/\x1b[31mred", None, "control characters", id="ansi-escape"),
    pytest.param("org/na me", None, "invalid model id", id="space-in-id"),
    pytest.param("-org/name", None, "invalid model id", id="leading-dash"),
    pytest.param("org/" + "x" * 200, None, "invalid model id", id="overlong-name"),
    pytest.param("   ", None, "empty", id="blank"),
    pytest.param("Qwen/Qwen2.5-7B-Instruct", "main;rm -rf", "invalid revision", id="revision-shell"),
    pytest.param("Qwen/Qwen2.5-7B-Instruct", "../../refs", "invalid revision", id="revision-traversal"),
    pytest.param("Qwen/Qwen2.5-7B-Instruct", "main\nx", "invalid revision", id="revision-newline"),
]


@pytest.mark.parametrize("ref,revision,fragment", HOSTILE_REFS)
def test_hostile_model_references_are_one_line_user_errors(ref, revision, fragment):
    with pytest.raises(UserInputError) as info:
        inspect_model(ref, revision)
    message = str(info.value)
    _one_line(message)
    assert fragment in message


def _tiny_config(**changes: object) -> dict:
    cfg = json.loads((TINY / "config.json").read_text())
    for key, value in changes.items():
        if value is None:
            cfg.pop(key, None)
        else:
            cfg[key] = value
    return cfg


def _broken(kind: str, tmp_path: Path) -> Path:
    """Build one broken input in tmp_path and return the path to inspect."""
    if kind == "malformed-config":
        return _model_dir(tmp_path, config='{"hidden_size": 64,')
    if kind == "config-is-a-list":
        return _model_dir(tmp_path, config="[1, 2, 3]")
    if kind == "config-not-utf8":
        d = _model_dir(tmp_path)
        (d / "config.json").write_bytes(b"\xff\xfe{\x00")
        return d
    if kind == "config-lacks-layers":
        return _model_dir(tmp_path, config=_tiny_config(num_hidden_layers=None))
    if kind == "config-lacks-heads":
        return _model_dir(tmp_path, config=_tiny_config(num_attention_heads=None))
    if kind == "nonexistent-path":
        return tmp_path / "no" / "such" / "model"
    if kind == "truncated-safetensors":
        return _model_dir(tmp_path, files={"model.safetensors": b"\x10\x00\x00"})
    if kind == "safetensors-header-longer-than-file":
        return _model_dir(tmp_path, files={"model.safetensors": struct.pack("<Q", 10_000) + b'{"a": 1}'})
    if kind == "safetensors-header-cut-mid-json":
        header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
        return _model_dir(tmp_path, files={"model.safetensors": struct.pack("<Q", len(header)) + header[:-5] + b"\0" * 5})
    if kind == "junk-gguf":
        (tmp_path / "x.gguf").write_bytes(b"this is not a gguf file at all" * 4)
        return tmp_path / "x.gguf"
    if kind == "empty-gguf":
        (tmp_path / "empty.gguf").write_bytes(b"")
        return tmp_path / "empty.gguf"
    if kind == "dir-without-config":
        d = tmp_path / "weights-only"
        d.mkdir()
        (d / "README.md").write_text("# nothing here")
        return d
    if kind == "plain-file":
        (tmp_path / "notes.txt").write_text("hello")
        return tmp_path / "notes.txt"
    if kind == "malformed-tokenizer-config":
        return _model_dir(tmp_path, files={"tokenizer_config.json": "{oops"})
    if kind == "index-is-a-list":
        return _model_dir(tmp_path, files={"model.safetensors.index.json": "[]"})
    raise AssertionError(kind)


BROKEN = [
    ("malformed-config", "malformed JSON"),
    ("config-is-a-list", "expected a JSON object"),
    ("config-not-utf8", "malformed JSON"),
    ("config-lacks-layers", "num_hidden_layers"),
    ("config-lacks-heads", "num_attention_heads"),
    ("nonexistent-path", "no such file or directory"),
    ("truncated-safetensors", "truncated safetensors"),
    ("safetensors-header-longer-than-file", "corrupt safetensors header"),
    ("safetensors-header-cut-mid-json", "corrupt safetensors header"),
    ("junk-gguf", "not a readable GGUF file"),
    ("empty-gguf", "not a readable GGUF file"),
    ("dir-without-config", "no config.json"),
    ("plain-file", "not a model directory"),
    ("malformed-tokenizer-config", "malformed JSON"),
    ("index-is-a-list", "expected a JSON object"),
]


@pytest.mark.parametrize("kind,fragment", BROKEN, ids=[k for k, _ in BROKEN])
def test_broken_files_are_one_line_user_errors(tmp_path, kind, fragment):
    target = _broken(kind, tmp_path)
    with pytest.raises(UserInputError) as info:
        inspect_model(str(target))
    message = str(info.value)
    _one_line(message)
    assert fragment in message


# Broken input that escapes as a raw exception (or is silently misread) instead of one UserInputError line.
SOURCE_BUGS = [
    pytest.param(lambda t: _model_dir(t, files={"model.safetensors": _safetensors_bytes([1, 2])}),
                 id="safetensors-header-is-a-json-list"),
    pytest.param(lambda t: _model_dir(t, files={"model.safetensors": _safetensors_bytes(
                     {"w": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}, b"\0" * 4)}),
                 id="safetensors-data-offsets-one-number"),
    pytest.param(lambda t: _model_dir(t, files={"model.safetensors": _safetensors_bytes(
                     {"w": {"dtype": "F32", "shape": ["x"], "data_offsets": [0, 4]}}, b"\0" * 4)}),
                 id="safetensors-shape-not-integers"),
    pytest.param(lambda t: _model_dir(t, files={"model.safetensors": _safetensors_bytes(
                     b"[" * 100_000 + b"]" * 100_000)}),
                 id="safetensors-header-deeply-nested"),
    pytest.param(lambda t: _model_dir(t, config='{"a":' * 100_000 + "1" + "}" * 100_000),
                 id="config-deeply-nested"),
    pytest.param(lambda t: _model_dir(t, config=_tiny_config(num_hidden_layers="two")),
                 id="config-layers-not-a-number"),
    pytest.param(lambda t: _model_dir(t, config=_tiny_config(num_attention_heads=0, head_dim=None)),
                 id="config-zero-heads"),
]


@pytest.mark.parametrize("build", SOURCE_BUGS)
def test_more_broken_files_are_one_line_user_errors(tmp_path, build):
    target = build(tmp_path)
    with pytest.raises(UserInputError) as info:
        inspect_model(str(target))
    _one_line(str(info.value))



def test_index_metadata_that_is_not_an_object_is_ignored(tmp_path):
    target = _model_dir(tmp_path, files={"model.safetensors.index.json": '{"metadata": [1]}'})
    assert inspect_model(str(target)).weight_bytes_source != "index"


def test_negative_safetensors_dimension_is_refused(tmp_path):
    d = _model_dir(tmp_path, files={"model.safetensors": _safetensors_bytes(
        {"w": {"dtype": "F32", "shape": [-5], "data_offsets": [0, 4]}}, b"\0" * 4)})
    with pytest.raises(UserInputError):
        inspect_model(str(d))



def test_architectures_given_as_a_string_is_not_misread(tmp_path):
    d = _model_dir(tmp_path, config=_tiny_config(architectures="LlamaForCausalLM"))
    try:
        facts = inspect_model(str(d))
    except UserInputError:
        return
    assert facts.architecture == "LlamaForCausalLM"


@pytest.mark.parametrize("cfg,expected", [
    ({"max_position_embeddings": 4096}, 4096),
    ({"max_position_embeddings": 4096, "seq_length": 2048}, 2048),       # ChatGLM-style: vLLM takes the smaller
    ({"n_positions": 1024}, 1024),                                         # GPT-2
    ({"max_seq_len": 8192, "max_position_embeddings": 32768}, 8192),       # MPT-style key
    ({"max_position_embeddings": True, "seq_len": 0}, None),               # not context lengths at all
    ({}, None),
])
def test_context_limit_is_the_smallest_key_vllm_reads(cfg, expected):
    from modeldeploy.tools.model_inspect.config_facts import context_limit

    assert context_limit(cfg) == expected
