"""Fixtures for end-to-end tests: the simulator image in the local registry."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).with_name("modeldeploy"))


@pytest.fixture(scope="session")
def sim_image() -> str:
    """The simulator image, built on the local base image, pushed to the local registry, local copy removed."""
    import docker

    base = os.environ.get("MODELDEPLOY_TEST_BASE_IMAGE")
    registry = os.environ.get("MODELDEPLOY_TEST_REGISTRY", "127.0.0.1:5000")
    if not base:
        pytest.fail("MODELDEPLOY_TEST_BASE_IMAGE is unset: run scripts/ci/engine_up.sh and source its env file")
    tag = f"{registry}/modeldeploy/simulator:e2e"
    proc = subprocess.run([CLI, "sim", "image", "--base", base, "--tag", tag, "--push"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    docker.from_env().images.remove(tag, force=True)  # so that deploy has to pull it from the registry
    return tag


@pytest.fixture(scope="session")
def registry_name() -> str:
    return os.environ.get("MODELDEPLOY_TEST_REGISTRY", "127.0.0.1:5000")
