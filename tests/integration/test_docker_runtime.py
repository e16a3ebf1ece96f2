"""The Docker runtime against the real engine: start, find and reuse, remove, GPU failures, ports, pulls."""

from __future__ import annotations

import socket

import pytest

from modeldeploy.errors import ModelDeployError, UserInputError
from modeldeploy.tools.manifests.docker_spec import docker_run_spec
from modeldeploy.tools.runtimes.docker_runtime import DockerRuntime
from modeldeploy.tools.runtimes.ports import free_port


def _spec(name: str, image: str, port: int, gpus: int = 0, tmp_path=None) -> dict:
    spec = docker_run_spec(name=name, image=image, entrypoint=["python3", "-m", "http.server"], args=["8000"], env={},
                           container_port=8000, host_port=port, weights_host_path=str(tmp_path), weights_mount="/models/x",
                           gpus=gpus, labels={"deployment": name, "managed": "true", "framework": "test"})
    return spec


def test_start_find_reuse_remove(base_image, unique_name, tmp_path, no_leaks):
    rt = DockerRuntime()
    state, reused = rt.start(_spec(unique_name, base_image, free_port(), tmp_path=tmp_path))
    try:
        assert state.status == "running" and not reused
        again, reused = rt.start(_spec(unique_name, base_image, free_port(), tmp_path=tmp_path))
        assert reused and again.id == state.id
        assert rt.find(unique_name).status == "running"
        assert any(r["name"] == unique_name for r in rt.list())
    finally:
        assert rt.remove(unique_name) == 1
    assert rt.find(unique_name).status == "missing"


def test_a_dead_container_is_replaced_not_reused(base_image, unique_name, tmp_path, no_leaks, docker_client):
    rt = DockerRuntime()
    spec = _spec(unique_name, base_image, free_port(), tmp_path=tmp_path)
    first, _ = rt.start(spec)
    docker_client.containers.get(first.id).kill()
    second, reused = rt.start(spec)
    try:
        assert not reused and second.id != first.id
        assert len(docker_client.containers.list(all=True, filters={"name": f"^/{unique_name}$"})) == 1
    finally:
        rt.remove(unique_name)


def test_gpu_request_failure_leaves_no_created_container(base_image, unique_name, tmp_path, no_leaks, docker_client):
    rt = DockerRuntime()
    with pytest.raises(ModelDeployError) as info:
        rt.start(_spec(unique_name, base_image, free_port(), gpus=1, tmp_path=tmp_path))
    assert "could not select device driver" in str(info.value)
    assert docker_client.containers.list(all=True, filters={"name": f"^/{unique_name}$"}) == []


def test_taken_port_is_a_clear_user_error(base_image, unique_name, tmp_path, no_leaks, docker_client):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        with pytest.raises(UserInputError) as info:
            DockerRuntime().start(_spec(unique_name, base_image, port, tmp_path=tmp_path))
    assert f"port {port} is taken" in str(info.value)
    assert docker_client.containers.list(all=True, filters={"name": f"^/{unique_name}$"}) == []


def test_pull_from_the_local_registry_streams_layer_progress(base_image, docker_client, registry):
    tag = f"{registry}/modeldeploy/pull-test:1"
    docker_client.images.get(base_image).tag(tag)
    docker_client.images.push(tag)
    docker_client.images.remove(tag)
    rt = DockerRuntime()
    assert not rt.has_image(tag)
    events = []
    rt.pull(tag, events.append)
    try:
        assert rt.has_image(tag)
        assert events and all("layer" in e for e in events)
    finally:
        docker_client.images.remove(tag)


def test_missing_image_names_image_and_registry(registry):
    with pytest.raises(ModelDeployError) as info:
        DockerRuntime().pull(f"{registry}/modeldeploy/does-not-exist:nope")
    assert str(info.value) == f"image {registry}/modeldeploy/does-not-exist:nope not found in registry {registry}"


def test_unreachable_engine_is_one_line(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    with pytest.raises(ModelDeployError) as info:
        DockerRuntime()
    assert str(info.value).startswith("cannot reach the Docker engine") and "\n" not in str(info.value)
