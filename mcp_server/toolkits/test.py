"""Toolkit `test`: smoke-test an OpenAI-compatible endpoint (chat and completion, streaming and not, usage present).

The same checks the deployment graph runs before it asks for approval
(`tools.endpoint.openai_client.smoke_test`), against any endpoint or a deployment by name.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from pydantic import Field

from modeldeploy.mcp_server import endpoints
from modeldeploy.mcp_server.registry import Toolkit, ToolSpec

Endpoint = Annotated[str | None, Field(description="Base URL of the server (http://host:port or .../v1).")]
ModelName = Annotated[str | None, Field(description="Served model name.")]
Deployment = Annotated[str | None, Field(description="A deployment name: its endpoint and model are used.")]


async def smoke_test_endpoint(endpoint: Endpoint = None, model: ModelName = None, deployment: Deployment = None,
                              max_tokens: Annotated[int, Field(ge=1, le=4096, description="Tokens per answer.")] = 16,
                              ) -> dict[str, Any]:
    """Smoke-test an endpoint: chat and completion requests, streaming and not; each must answer with usage.
    Result: passed, and per check ok, latency_ms, output_tokens, the start of the text or the error."""
    from modeldeploy.tools.endpoint.openai_client import smoke_test

    base, served = await asyncio.to_thread(endpoints.resolve, endpoint, model, deployment)
    result = await smoke_test(base, served, max_tokens=max_tokens)
    return {"endpoint": base, "model": served, **result.model_dump(mode="json")}


TOOLKIT = Toolkit(
    name="test",
    summary="Smoke-test an OpenAI-compatible endpoint or a deployment: chat/completion, streaming, usage.",
    tools=(ToolSpec(smoke_test_endpoint, "smoke_test_endpoint", "Smoke-test an endpoint", read_only=True,
                    idempotent=True, open_world=True),),
)
