"""LiteLLM gateway config upserts, and image-name handling (registry, tags, mirror rewrite)."""

from __future__ import annotations

import threading

import pytest
import yaml

from modeldeploy.errors import ModelDeployError
from modeldeploy.tools.gateway.litellm_config import remove_model, upsert_model
from modeldeploy.tools.runtimes.images import registry_of, rewrite, split_tag, valid_image


def test_upsert_keeps_the_users_entries_and_settings(tmp_path):
    path = tmp_path / "litellm.yaml"
    path.write_text(yaml.safe_dump({"model_list": [{"model_name": "gpt-4o", "litellm_params": {"model": "openai/gpt-4o"}}],
                                    "general_settings": {"master_key": "sk-x"}}))
    upsert_model(path, "md-a", "tiny", "http://127.0.0.1:9000/v1")
    upsert_model(path, "md-a", "tiny", "http://127.0.0.1:9001/v1")  # same deployment: replaced, not duplicated
    data = yaml.safe_load(path.read_text())
    assert data["general_settings"] == {"master_key": "sk-x"}
    assert [m["model_name"] for m in data["model_list"]] == ["gpt-4o", "tiny"]
    ours = data["model_list"][1]
    assert ours["litellm_params"] == {"model": "openai/tiny", "api_base": "http://127.0.0.1:9001/v1", "api_key": "none"}
    assert remove_model(path, "md-a") and not remove_model(path, "md-a")
    assert [m["model_name"] for m in yaml.safe_load(path.read_text())["model_list"]] == ["gpt-4o"]


def test_concurrent_upserts_lose_nothing(tmp_path):
    path = tmp_path / "litellm.yaml"
    threads = [threading.Thread(target=upsert_model, args=(path, f"md-{i}", f"m{i}", f"http://h:{9000 + i}/v1"))
               for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(m["model_info"]["id"] for m in yaml.safe_load(path.read_text())["model_list"]) == sorted(
        f"md-{i}" for i in range(20))


def test_a_file_that_is_not_a_litellm_config_is_left_alone(tmp_path):
    path = tmp_path / "other.yaml"
    path.write_text("- just\n- a list\n")
    with pytest.raises(ModelDeployError):
        upsert_model(path, "md-a", "tiny", "http://x/v1")
    assert path.read_text() == "- just\n- a list\n"


@pytest.mark.parametrize("image,registry,repo,tag", [
    ("vllm/vllm-openai:v0.8.5", "docker.io", "vllm/vllm-openai", "v0.8.5"),
    ("127.0.0.1:5000/modeldeploy/sim:test", "127.0.0.1:5000", "127.0.0.1:5000/modeldeploy/sim", "test"),
    ("ghcr.io/ggml-org/llama.cpp:server-cuda", "ghcr.io", "ghcr.io/ggml-org/llama.cpp", "server-cuda"),
    ("localhost/x", "localhost", "localhost/x", "latest"),
    ("ubuntu", "docker.io", "ubuntu", "latest"),
])
def test_registry_and_tag(image, registry, repo, tag):
    assert registry_of(image) == registry and split_tag(image) == (repo, tag)


def test_mirror_rewrite_for_air_gapped_sites():
    mirrors = {"docker.io": "registry.local/hub", "ghcr.io": "registry.local/ghcr"}
    assert rewrite("vllm/vllm-openai:v0.8.5", mirrors) == "registry.local/hub/vllm/vllm-openai:v0.8.5"
    assert rewrite("ghcr.io/ggml-org/llama.cpp:server", mirrors) == "registry.local/ghcr/ggml-org/llama.cpp:server"
    assert rewrite("quay.io/x/y:1", mirrors) == "quay.io/x/y:1"


@pytest.mark.parametrize("image", ["x; rm -rf /", "$(whoami)", "UPPER/case", "a b", "", "x:" + "t" * 200])
def test_hostile_image_references_are_invalid(image):
    assert not valid_image(image)
