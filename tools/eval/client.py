"""One chat completion over aiohttp, retried with exponential backoff on transport errors, 429 and 5xx.

A 4xx other than 429 is the request's fault (context too long, unknown model): it is not retried, and the
sample records the server's message. The answer keeps `reasoning_content`/`reasoning` apart from `content`,
and `finish_reason` (`length` = truncated).

aiohttp, not httpx, by measurement (bench/eval_client_overhead.py, 1,000 requests at concurrency 32): httpx cost
~1.1 ms of client CPU per request (connection-pool bookkeeping, anyio, h11), aiohttp ~0.25-0.3 ms for the whole eval
loop. One `open_session` per run: a connector holding at most `connections` keep-alive connections. Bodies are
encoded and answers decoded with orjson (~0.3 and ~2 us against the json module's ~7 and ~7 us per request).
"""

from __future__ import annotations

import asyncio
import encodings.idna  # noqa: F401  the first connection's host lookup imports it: with this module, not in a run
import random
import ssl
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson

RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, OSError)


@dataclass(slots=True)
class Answer:
    """What came back for one request (content None and error set when it failed)."""

    content: str | None = None
    reasoning: str | None = None
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    error: str | None = None
    attempts: int = 0
    latency_s: float = 0.0


def base_url(endpoint: str) -> str:
    base = endpoint.rstrip("/")
    return base if base.endswith("/v1") else base + "/v1"


def tls_context() -> ssl.SSLContext:
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


def open_session(base: str, connections: int, timeout_s: float, api_key: str | None) -> aiohttp.ClientSession:
    """A session for one run: `connections` pooled keep-alive connections, the API key, certifi's CAs for https."""
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections,
                                     ssl=tls_context() if base.startswith("https://") else False)
    return aiohttp.ClientSession(connector=connector, headers=headers, skip_auto_headers=("User-Agent",),
                                 timeout=aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(timeout_s, 30.0)))


def parse_choice(body: dict[str, Any]) -> Answer:
    choice = (body.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    content = message.get("content")
    if content is None and "text" in choice:  # a /v1/completions answer
        content = choice["text"]
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    return Answer(content=content or "", reasoning=reasoning, finish_reason=choice.get("finish_reason"),
                  usage=body.get("usage"))


def describe(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "TimeoutError: no complete answer within the timeout"
    return f"{exc.__class__.__name__}: {str(exc)[:200]}"


async def chat(session: aiohttp.ClientSession, url: str, payload: dict[str, Any], retries: int = 4,
               backoff_s: float = 0.5, max_backoff_s: float = 20.0) -> Answer:
    """POST `payload` to `url` until it answers, at most 1 + `retries` times."""
    started = time.perf_counter()
    data = orjson.dumps(payload)
    error = "no attempt"
    for attempt in range(1, retries + 2):
        try:
            async with session.post(url, data=data) as response:
                status, raw = response.status, await response.read()
        except TRANSPORT_ERRORS as exc:
            error = describe(exc)
        else:
            if status == 200:
                try:
                    answer = parse_choice(orjson.loads(raw))
                except (ValueError, AttributeError, IndexError, TypeError) as exc:
                    error = f"unreadable answer ({exc.__class__.__name__})"
                else:
                    answer.attempts, answer.latency_s = attempt, time.perf_counter() - started
                    return answer
            else:
                error = f"HTTP {status}: {raw[:300].decode('utf-8', 'replace')}"
                if status not in RETRY_STATUS:
                    return Answer(error=error, attempts=attempt, latency_s=time.perf_counter() - started)
        if attempt <= retries:
            delay = min(max_backoff_s, backoff_s * 2 ** (attempt - 1))
            await asyncio.sleep(delay * (0.5 + random.random() / 2))  # backoff with jitter, not synchronisation
    return Answer(error=error, attempts=retries + 1, latency_s=time.perf_counter() - started)


async def served_models(session: aiohttp.ClientSession, base: str) -> list[str]:
    """The ids `GET {base}/models` lists; ConnectionError/RuntimeError with a one-line reason otherwise."""
    try:
        async with session.get(f"{base}/models", timeout=aiohttp.ClientTimeout(total=30)) as r:
            status, raw = r.status, await r.read()
    except TRANSPORT_ERRORS as exc:
        raise ConnectionError(f"endpoint {base} is unreachable ({exc.__class__.__name__})") from None
    if status != 200:
        raise RuntimeError(f"endpoint {base}/models answered HTTP {status}")
    try:
        data = orjson.loads(raw).get("data", [])
    except (ValueError, AttributeError):
        raise RuntimeError(f"endpoint {base}/models answered something that is not a model list") from None
    return [str(m.get("id")) for m in data if isinstance(m, dict)]
