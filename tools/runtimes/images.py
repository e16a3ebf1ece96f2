"""Image names: which registry an image comes from, and the mirror rewrite for air-gapped sites.

``MODELDEPLOY_REGISTRY_MIRRORS="docker.io=registry.local/hub,ghcr.io=registry.local/ghcr"``
makes ``vllm/vllm-openai:v0.8.5`` pull as ``registry.local/hub/vllm/vllm-openai:v0.8.5``.
"""

from __future__ import annotations

import os
import re

_IMAGE = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$")


def valid_image(image: str) -> bool:
    return bool(_IMAGE.match(image)) and len(image) <= 512


def registry_of(image: str) -> str:
    """'vllm/vllm-openai:x' -> 'docker.io'; '127.0.0.1:5000/a/b:t' -> '127.0.0.1:5000'."""
    first = image.split("/", 1)[0]
    if "/" in image and ("." in first or ":" in first or first == "localhost"):
        return first
    return "docker.io"


def split_tag(image: str) -> tuple[str, str]:
    """('repo', 'tag'); a missing tag is 'latest'; digests stay on the repository part."""
    if "@" in image:
        return image, ""
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:
        return image, "latest"
    return name, tag


def mirrors_from_env() -> dict[str, str]:
    raw = os.environ.get("MODELDEPLOY_REGISTRY_MIRRORS", "")
    pairs = (item.split("=", 1) for item in raw.split(",") if "=" in item)
    return {k.strip(): v.strip().rstrip("/") for k, v in pairs if k.strip() and v.strip()}


def rewrite(image: str, mirrors: dict[str, str]) -> str:
    registry = registry_of(image)
    if registry not in mirrors:
        return image
    path = image[len(registry) + 1:] if image.startswith(registry + "/") else image
    return f"{mirrors[registry]}/{path}"
