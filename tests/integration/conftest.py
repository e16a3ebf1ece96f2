"""Fixtures for tests against the real Docker engine and local registry that `.ci/run` brings up."""

from __future__ import annotations

import os
import uuid

import pytest


@pytest.fixture(scope="session")
def base_image() -> str:
    image = os.environ.get("MODELDEPLOY_TEST_BASE_IMAGE")
    if not image:
        pytest.fail("MODELDEPLOY_TEST_BASE_IMAGE is unset: run scripts/ci/engine_up.sh and source its env file")
    return image


@pytest.fixture(scope="session")
def registry() -> str:
    return os.environ.get("MODELDEPLOY_TEST_REGISTRY", "127.0.0.1:5000")


@pytest.fixture
def docker_client():
    import docker

    client = docker.from_env(timeout=60)
    yield client
    client.close()


@pytest.fixture
def unique_name() -> str:
    return f"md-test-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def no_leaks(docker_client):
    """Fails the test if it leaves a container labelled modeldeploy.managed behind."""
    before = {c.id for c in docker_client.containers.list(all=True, filters={"label": "modeldeploy.managed=true"})}
    yield
    after = {c.id for c in docker_client.containers.list(all=True, filters={"label": "modeldeploy.managed=true"})}
    leaked = after - before
    for cid in leaked:
        docker_client.containers.get(cid).remove(force=True)
    assert not leaked, f"leaked containers: {leaked}"
