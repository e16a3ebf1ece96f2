"""One streamed request over aiohttp, and the feature probe that decides what every request asks for.

aiohttp was chosen by measurement (bench/http_client_overhead.py: ~80 us of client CPU per streamed
request against httpx's ~2,500 us on one core). The hot path does as little as possible: it takes
`perf_counter()` when a read returns bytes and keeps the raw bytes; SSE parsing, JSON decoding and token
counting happen after the run (`sse`, `analyze`), so that they cannot delay the next timestamp.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field

import aiohttp

# vllm#39963: a 64 KiB read buffer throttles long responses; read up to 1 MiB at a time.
READ_BUFSIZE = 1 << 20


@dataclass(slots=True)
class Record:
    """One request as the client saw it; perf_counter seconds throughout."""
    index: int
    spec: int
    ready: float = 0.0
    scheduled: float | None = None
    started: float = 0.0
    sent: float = 0.0
    end: float = 0.0
    status: int = 0
    error: str | None = None
    message: str = ""
    warmup: bool = False
    times: list[float] = field(default_factory=list)
    reads: list[bytes] = field(default_factory=list)


@dataclass(frozen=True)
class Features:
    """What the server accepted in the probe request."""
    usage: bool
    continuous_usage: bool
    ignore_eos: bool
    notes: tuple[str, ...] = ()


class Client:
    """Posts pre-serialized bodies to one route of an OpenAI-compatible server."""

    def __init__(self, base_url: str, api: str, api_key: str | None, timeout_s: float, connections: int):
        base = base_url.rstrip("/")
        if not base.endswith("/v1"):
            base += "/v1"
        self.base = base
        self.url = f"{base}/chat/completions" if api == "chat" else f"{base}/completions"
        self.api = api
        self.headers = {"content-type": "application/json"}
        if api_key:
            self.headers["authorization"] = f"Bearer {api_key}"
        self.timeout = aiohttp.ClientTimeout(total=timeout_s, sock_connect=min(timeout_s, 30.0))
        self.connections = connections
        self.session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> "Client":
        if self.session is not None:  # already open (open_session opens it for the probe)
            return self
        connector = aiohttp.TCPConnector(limit=self.connections, limit_per_host=self.connections,
                                         ttl_dns_cache=300, enable_cleanup_closed=True)
        self.session = aiohttp.ClientSession(connector=connector, timeout=self.timeout, read_bufsize=READ_BUFSIZE,
                                             auto_decompress=False, skip_auto_headers=("User-Agent",))
        return self

    async def __aexit__(self, *exc) -> None:
        if self.session is not None:
            await self.session.close()
            self.session = None

    async def send(self, record: Record, body: bytes) -> None:
        """Send `body`, timestamp every read; errors become `record.error` (a type) and `record.message`."""
        times, reads = record.times, record.reads
        clock = time.perf_counter
        record.sent = clock()
        try:
            async with self.session.post(self.url, data=body, headers=self.headers) as response:
                record.status = response.status
                if response.status != 200:
                    text = (await response.read())[:400].decode("utf-8", "replace")
                    record.error, record.message = f"http_{response.status}", " ".join(text.split())
                else:
                    async for data in response.content.iter_any():
                        times.append(clock())
                        reads.append(data)
        except asyncio.TimeoutError:
            record.error, record.message = "timeout", "no complete response within the timeout"
        except aiohttp.ClientConnectorError as exc:
            record.error, record.message = "connect", str(exc)
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
            record.error, record.message = "disconnected", str(exc) or exc.__class__.__name__
        except aiohttp.ClientError as exc:
            record.error, record.message = "client_error", f"{exc.__class__.__name__}: {exc}"
        except OSError as exc:
            record.error, record.message = "os_error", str(exc)
        record.end = clock()

    async def probe(self, payload: dict) -> Features:
        """One small streamed request with every option; drop the options the server refuses (400/422)."""
        notes: list[str] = []
        trial = dict(payload)
        trial["stream_options"] = {"include_usage": True, "continuous_usage_stats": True}
        status, text = await self._try(trial)
        if status in (400, 422) and "continuous_usage_stats" in text:
            trial["stream_options"] = {"include_usage": True}
            status, text = await self._try(trial)
        if status in (400, 422) and ("ignore_eos" in text or "min_tokens" in text):
            notes.append("the server refused ignore_eos/min_tokens: output lengths are the model's, capped by max_tokens")
            trial.pop("ignore_eos", None)
            trial.pop("min_tokens", None)
            status, text = await self._try(trial)
        if status in (400, 422) and "stream_options" in text:
            trial.pop("stream_options", None)
            status, text = await self._try(trial)
        if status != 200:
            raise ProbeError(f"{self.url} answered {status or 'nothing'}: {' '.join(text.split())[:200]}")
        usage = '"usage":{' in text.replace(" ", "")
        continuous = usage and "continuous_usage_stats" in json.dumps(trial.get("stream_options") or {}) \
            and text.count('"completion_tokens"') > 1
        if not usage:
            notes.append("the server sent no usage: output tokens are counted with the tokenizer")
        return Features(usage=usage, continuous_usage=continuous, ignore_eos="ignore_eos" in trial, notes=tuple(notes))

    async def _try(self, payload: dict) -> tuple[int, str]:
        try:
            async with self.session.post(self.url, data=json.dumps(payload).encode(), headers=self.headers) as r:
                return r.status, (await r.read()).decode("utf-8", "replace")
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            return 0, f"{exc.__class__.__name__}: {exc}"


class ProbeError(Exception):
    """The endpoint did not answer a single streamed request."""
