"""A scripted OpenAI-compatible HTTP server: the stand-in for an LLM provider, which these machines do not have.

A real HTTP server on 127.0.0.1 (a free port, a background thread) speaking enough of
the OpenAI API for langchain-openai's `ChatOpenAI`: `GET /v1/models` and
`POST /v1/chat/completions`, streaming (SSE) or not. Each request is answered with
the next scripted item for its template: the function name in `tool_choice`/`tools`
(method "function_calling") or the `response_format.json_schema.name` (method
"json_schema"); `response_format` `json_object` (method "json_mode") uses the key
"json_object", a request with neither uses "text". An item is

- a dict: the template's filled fields, sent back as a tool call or as JSON content,
  whichever the request asked for;
- a str: plain text (a non-answer);
- `Fail(status)`: an HTTP error with an OpenAI error body;
- `HANG`: no answer until the server stops (the client's timeout fires).

A template with nothing scripted left gets a 400 (which clients do not retry). Every
answer carries `usage` with the configured token counts. Every request (headers and
JSON body) is recorded; one without `Authorization: Bearer <api_key>` gets a 401 that
quotes the key it refused (as some providers do).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Fail:
    """An HTTP error answer (500: the SDK retries it)."""

    status: int = 500
    message: str = "scripted provider failure"


HANG = object()


@dataclass
class Request:
    """One request the server received."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    template: str | None = None

    def prompt(self) -> str:
        """The text of the last message (the node's prompt, or its re-ask)."""
        messages = self.body.get("messages") or [{}]
        return str(messages[-1].get("content") or "")

    def prompt_text(self) -> str:
        """All message texts together: what the provider bills as the prompt (tools/schema aside)."""
        return "".join(str(m.get("content") or "") for m in self.body.get("messages", []))


def template_of(body: dict[str, Any]) -> tuple[str, str]:
    """(template name, answer style) of a chat completion request."""
    response_format = body.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return response_format["json_schema"]["name"], "content"
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") == "function":
        return choice["function"]["name"], "tool_call"
    if body.get("tools"):
        return body["tools"][0]["function"]["name"], "tool_call"
    if response_format.get("type") == "json_object":
        return "json_object", "content"
    return "text", "content"


@dataclass
class ScriptedOpenAIServer:
    """`with ScriptedOpenAIServer(script={"FixChoice": [...]}) as server:` then point ChatOpenAI at `server.base_url`."""

    script: dict[str, list[Any]]
    api_key: str = "sk-scripted-test-key"
    model: str = "scripted-llm"
    usage: tuple[int, int] | None = (812, 37)
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._released = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def completions(self, template: str | None = None) -> list[Request]:
        """The chat completion requests, optionally only those for one template."""
        return [r for r in self.requests if r.path.endswith("/chat/completions") and template in (None, r.template)]

    def next_item(self, template: str) -> Any:
        with self._lock:
            queue = self.script.get(template) or []
            return queue.pop(0) if queue else Fail(400, f"no scripted answer left for {template}")

    def wait_until_stopped(self) -> None:
        self._released.wait()

    def record(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)

    def start(self, ready_timeout_s: float = 10.0) -> ScriptedOpenAIServer:
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.scripted = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), name="scripted-openai", daemon=True)
        self._thread.start()
        self._wait_ready(ready_timeout_s)
        return self

    def stop(self) -> None:
        self._released.set()  # hanging requests end now
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=10)
            self._httpd = None

    def __enter__(self) -> ScriptedOpenAIServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _wait_ready(self, timeout_s: float) -> None:
        """Poll GET /v1/models until it answers (readiness probes are not recorded)."""
        deadline = time.monotonic() + timeout_s
        probe = urllib.request.Request(f"{self.base_url}/models", headers={"Authorization": f"Bearer {self.api_key}",
                                                                         "X-Readiness-Probe": "1"})
        while True:
            try:
                with urllib.request.urlopen(probe, timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.01)  # the poll interval

    def usage_body(self) -> dict[str, int] | None:
        if self.usage is None:
            return None
        return {"prompt_tokens": self.usage[0], "completion_tokens": self.usage[1], "total_tokens": sum(self.usage)}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: no idle keep-alive threads to stop

    @property
    def scripted(self) -> ScriptedOpenAIServer:
        return self.server.scripted  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet: tests read `requests` instead
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self._authorised({}) is None:
            return
        if self.path.rstrip("/") == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": self.scripted.model, "object": "model",
                                                         "owned_by": "scripted"}]})
        else:
            self._error(404, f"no route {self.path}")

    def do_POST(self) -> None:  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        try:
            body = json.loads(self.rfile.read(length) or b"{}")
        except json.JSONDecodeError:
            self._error(400, "body is not JSON")
            return
        request = self._authorised(body)
        if request is None:
            return
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._error(404, f"no route {self.path}")
            return
        template, style = template_of(body)
        request.template = template
        item = self.scripted.next_item(template)
        if item is HANG:
            self.scripted.wait_until_stopped()
            return
        if isinstance(item, Fail):
            self._error(item.status, item.message)
            return
        message, finish = _message(item, template, style)
        if body.get("stream"):
            self._stream(body, message, finish)
        else:
            self._json(200, {"id": f"chatcmpl-{len(self.scripted.requests)}", "object": "chat.completion",
                             "created": int(time.time()), "model": body.get("model", self.scripted.model),
                             "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                             "usage": self.scripted.usage_body()})

    def _authorised(self, body: dict[str, Any]) -> Request | None:
        """The recorded request, or None after answering 401 to a missing or wrong key."""
        headers = {k.lower(): v for k, v in self.headers.items()}
        request = Request(self.command, self.path, headers, body)
        if "x-readiness-probe" not in headers:
            self.scripted.record(request)
        supplied = headers.get("authorization", "")
        if supplied != f"Bearer {self.scripted.api_key}":
            self._error(401, f"Incorrect API key provided: {supplied.removeprefix('Bearer ')}")  # as careless providers do
            return None
        return request

    def _stream(self, body: dict[str, Any], message: dict[str, Any], finish: str) -> None:
        """The answer as server-sent events: role and content/tool call, the finish, then usage if asked."""
        base = {"id": f"chatcmpl-{len(self.scripted.requests)}", "object": "chat.completion.chunk",
                "created": int(time.time()), "model": body.get("model", self.scripted.model)}
        delta: dict[str, Any] = {"role": "assistant", "content": message["content"] or ""}
        if message.get("tool_calls"):
            delta["tool_calls"] = [{"index": 0, **message["tool_calls"][0]}]
        chunks = [{**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]},
                  {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}]
        if (body.get("stream_options") or {}).get("include_usage"):
            chunks.append({**base, "choices": [], "usage": self.scripted.usage_body()})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        for chunk in chunks:
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")

    def _json(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._json(status, {"error": {"message": message, "type": "scripted_error", "code": status}})


def _message(item: Any, template: str, style: str) -> tuple[dict[str, Any], str]:
    """(assistant message, finish_reason) for one scripted item."""
    if isinstance(item, dict) and style == "tool_call":
        call = {"id": "call_scripted", "type": "function", "function": {"name": template, "arguments": json.dumps(item)}}
        return {"role": "assistant", "content": None, "tool_calls": [call]}, "tool_calls"
    content = json.dumps(item) if isinstance(item, dict) else str(item)
    return {"role": "assistant", "content": content}, "stop"
