"""Readiness and smoke tests over the OpenAI API, with httpx (async, so nodes never block the loop).

Readiness is the served model listed by ``/v1/models`` and a one-token
completion that succeeds: ``/health`` can answer before the weights are loaded.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
from pydantic import BaseModel, Field


async def served_models(client: httpx.AsyncClient, base: str) -> list[str]:
    """Model ids listed by /v1/models; [] while the server is not up or not loaded."""
    try:
        r = await client.get(f"{base}/models", timeout=5)
    except httpx.HTTPError:
        return []
    if r.status_code != 200:
        return []
    try:
        return [m.get("id") for m in r.json().get("data", [])]
    except (ValueError, AttributeError):
        return []


async def healthy(client: httpx.AsyncClient, base: str, health_path: str | None) -> bool:
    """The server's health endpoint (at the root, beside /v1) answers 200."""
    if not health_path:
        return True
    try:
        r = await client.get(base.removesuffix("/v1") + health_path, timeout=5)
    except httpx.HTTPError:
        return False
    return r.status_code == 200


async def one_token(client: httpx.AsyncClient, base: str, model: str) -> tuple[bool, str]:
    try:
        r = await client.post(f"{base}/completions", json={"model": model, "prompt": "Hello", "max_tokens": 1}, timeout=60)
    except httpx.HTTPError as exc:
        return False, exc.__class__.__name__
    if r.status_code != 200:
        return False, f"HTTP {r.status_code}: {r.text[:200]}"
    return True, ""


class Check(BaseModel):
    """One smoke-test request."""

    name: str
    ok: bool
    latency_ms: float
    output_tokens: int | None = None
    usage: dict[str, Any] | None = None
    text: str = Field(default="", description="The first 200 characters of the answer.")
    error: str | None = None


class SmokeResult(BaseModel):
    """'This model starts and answers on this stack'."""

    passed: bool
    checks: list[Check]
    stack: dict[str, Any] = Field(default_factory=dict)


async def _request(client: httpx.AsyncClient, base: str, name: str, path: str, body: dict[str, Any]) -> Check:
    started = time.perf_counter()
    stream = body.get("stream", False)
    try:
        if not stream:
            r = await client.post(f"{base}/{path}", json=body, timeout=120)
            ms = (time.perf_counter() - started) * 1000
            if r.status_code != 200:
                return Check(name=name, ok=False, latency_ms=ms, error=f"HTTP {r.status_code}: {r.text[:200]}")
            data = r.json()
            choice = data["choices"][0]
            text = choice.get("text") or (choice.get("message") or {}).get("content") or ""
            usage = data.get("usage")
            ok = bool(usage and usage.get("completion_tokens")) and bool(text)
            return Check(name=name, ok=ok, latency_ms=ms, usage=usage, text=text[:200],
                         output_tokens=(usage or {}).get("completion_tokens"),
                         error=None if ok else "no text or no usage in the response")
        text, usage = "", None
        async with client.stream("POST", f"{base}/{path}", json=body, timeout=120) as r:
            if r.status_code != 200:
                return Check(name=name, ok=False, latency_ms=(time.perf_counter() - started) * 1000,
                             error=f"HTTP {r.status_code}")
            async for line in r.aiter_lines():
                if not line.startswith("data:") or line.strip() == "data: [DONE]":
                    continue
                chunk = json.loads(line[5:])
                usage = chunk.get("usage") or usage
                for choice in chunk.get("choices", []):
                    text += choice.get("text") or (choice.get("delta") or {}).get("content") or ""
        ms = (time.perf_counter() - started) * 1000
        ok = bool(text) and bool(usage and usage.get("completion_tokens"))
        return Check(name=name, ok=ok, latency_ms=ms, usage=usage, text=text[:200],
                     output_tokens=(usage or {}).get("completion_tokens"),
                     error=None if ok else "stream had no content or no usage chunk")
    except (httpx.HTTPError, ValueError, KeyError, IndexError) as exc:
        return Check(name=name, ok=False, latency_ms=(time.perf_counter() - started) * 1000,
                     error=f"{exc.__class__.__name__}: {str(exc)[:160]}")


async def server_version(base: str) -> str | None:
    """The version the server reports at /version (vLLM, SGLang), or None."""
    root = base[: -len("/v1")] if base.endswith("/v1") else base
    try:
        async with httpx.AsyncClient() as client:
            r = await client.get(f"{root}/version", timeout=5)
        version = r.json().get("version") if r.status_code == 200 else None
    except (httpx.HTTPError, ValueError, AttributeError):
        return None
    return str(version)[:64] if version else None


async def smoke_test(base: str, model: str, max_tokens: int = 16) -> SmokeResult:
    """Chat and completion, streaming and not; usage must be present in each."""
    chat = {"model": model, "messages": [{"role": "user", "content": "What is 2 plus 3?"}], "max_tokens": max_tokens}
    completion = {"model": model, "prompt": "The capital of France is", "max_tokens": max_tokens}
    include = {"stream": True, "stream_options": {"include_usage": True}}
    async with httpx.AsyncClient() as client:
        checks = [
            await _request(client, base, "chat", "chat/completions", chat),
            await _request(client, base, "chat_stream", "chat/completions", {**chat, **include}),
            await _request(client, base, "completion", "completions", completion),
            await _request(client, base, "completion_stream", "completions", {**completion, **include}),
        ]
    return SmokeResult(passed=all(c.ok for c in checks), checks=checks)
