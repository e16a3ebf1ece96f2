"""The CI container engine (scripts/ci/engine_up.sh) answers, serves the Python base image from
the local registry, and runs containers from it.

Not skipped when the engine is missing: CI must bring it up (.ci/run does), so a missing
MODELDEPLOY_TEST_BASE_IMAGE is a failure that says what to run.
"""

from __future__ import annotations

import os
import uuid

import pytest

pytestmark = pytest.mark.slow

HOW_TO = ("run `scripts/ci/engine_up.sh` then `source ${MODELDEPLOY_CI_STATE:-/var/tmp/modeldeploy-ci}/env` "
          "(.ci/run does both)")


@pytest.fixture(scope="module")
def base_image() -> str:
    image = os.environ.get("MODELDEPLOY_TEST_BASE_IMAGE")
    if not image:
        pytest.fail(f"MODELDEPLOY_TEST_BASE_IMAGE is not set: {HOW_TO}", pytrace=False)
    return image


@pytest.fixture(scope="module")
def client(base_image):
    import docker

    try:
        cli = docker.from_env(timeout=120)
        cli.ping()
    except docker.errors.DockerException as exc:
        pytest.fail(f"no Docker engine answers at {os.environ.get('DOCKER_HOST', 'the default socket')} "
                    f"({exc}): {HOW_TO}", pytrace=False)
    yield cli
    cli.close()


def test_engine_answers(client):
    version = client.version()
    assert version["Version"]
    assert tuple(int(x) for x in version["ApiVersion"].split(".")) >= (1, 41)
    assert client.info()["Driver"] == "overlay2"


def test_base_image_pulls_from_the_local_registry(client, base_image):
    import docker

    repository, tag = base_image.rsplit(":", 1)
    # Drop the local copy so the pull really goes to the registry; keep it while a container
    # (another engineer's, another test's) still uses it.
    if not client.containers.list(all=True, filters={"ancestor": base_image}):
        try:
            client.images.remove(base_image)
        except docker.errors.ImageNotFound:
            pass
        except docker.errors.APIError as exc:  # a container appeared meanwhile: 409 conflict
            if exc.status_code != 409:
                raise
    image = client.images.pull(repository, tag=tag)
    assert base_image in image.tags
    assert any(d.startswith(f"{repository}@sha256:") for d in image.attrs["RepoDigests"])


def test_container_from_base_image_runs_python(client, base_image):
    container = None
    try:
        container = client.containers.run(
            base_image, ["python3", "-c", "import http.server, json; print('ok')"],
            detach=True, init=True, name=f"modeldeploy-test-engine-{uuid.uuid4().hex[:8]}",
            labels={"modeldeploy.test": "engine_setup"})
        status = container.wait(timeout=120)
        logs = container.logs().decode()
        assert status["StatusCode"] == 0, logs
        assert logs.strip() == "ok"
    finally:
        if container is not None:
            container.remove(force=True)
    import docker

    with pytest.raises(docker.errors.NotFound):
        client.containers.get(container.id)
