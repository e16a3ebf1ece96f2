"""Where a tool sends its requests: an endpoint URL and model given directly, or a deployment's from the registry.

Endpoints are normalised to the OpenAI base URL ending in `/v1`, which is what
the smoke test, the load generator and the evaluation client expect.
"""

from __future__ import annotations

from typing import Any

from modeldeploy.errors import UserInputError


def base_url(endpoint: str) -> str:
    """`http://host:port`, `.../v1` or `.../v1/` -> `http://host:port/v1`; anything but http(s) is refused."""
    endpoint = endpoint.strip()
    if not endpoint.startswith(("http://", "https://")) or len(endpoint) <= len("https://"):
        raise UserInputError(f"endpoint must be an http(s) URL, got {endpoint!r}")
    endpoint = endpoint.rstrip("/")
    return endpoint if endpoint.endswith("/v1") else endpoint + "/v1"


def resolve(endpoint: str | None, model: str | None, deployment: str | None) -> tuple[str, str]:
    """(base URL, served model name) from the arguments, or from the registry row of `deployment` (blocking)."""
    if deployment:
        from modeldeploy.tools.deployments import live_deployments

        row: dict[str, Any] | None = next((r for r in live_deployments() if r["name"] == deployment), None)
        if row is None or not row.get("endpoint"):
            raise UserInputError(f"no deployment named {deployment} with an endpoint (see list_deployments)")
        endpoint, model = endpoint or row["endpoint"], model or row.get("served_model_name")
    if not endpoint or not model:
        raise UserInputError("give endpoint and model, or a deployment name")
    return base_url(endpoint), model
