"""A loopback OpenAI-compatible server whose answers are a function of the question: the eval tests' model.

`with AnswerServer(lambda ask: Reply("The answer is (B)")) as server:` then evaluate against `server.url`.
The function gets an `Ask` (the request body, the user prompt, how many times this prompt was asked) and returns
a `Reply` (content, optional `reasoning_content`, finish_reason), a str (content), `Fail(status)` or `DROP`
(the connection closes with no answer: a transport error). Answers do not depend on arrival order, so concurrent
runs are deterministic.

`gate=k` holds every request until k are in flight at once (then lets all through): proof that a client really
sends k concurrently, without sleeping. `max_in_flight` records the most ever in flight.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    content: str = ""
    reasoning: str | None = None
    finish_reason: str = "stop"


@dataclass(frozen=True)
class Fail:
    status: int = 503
    message: str = "scripted failure"


DROP = object()


@dataclass(frozen=True)
class Ask:
    body: dict[str, Any]
    prompt: str
    attempt: int


@dataclass
class AnswerServer:
    answer: Callable[[Ask], Any]
    model: str = "eval-model"
    gate: int | None = None
    bodies: list[dict[str, Any]] = field(default_factory=list)
    max_in_flight: int = 0

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._in_flight = 0
        self._released = self.gate is None
        self._asked: Counter[str] = Counter()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def __enter__(self) -> AnswerServer:
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        with self._cond:
            self._released = True
            self._cond.notify_all()
        assert self._httpd is not None
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=10)

    def times_asked(self, prompt_part: str) -> int:
        with self._cond:
            return sum(n for p, n in self._asked.items() if prompt_part in p)

    def enter(self, body: dict[str, Any]) -> Ask:
        messages = body.get("messages") or [{}]
        prompt = str(messages[-1].get("content") or "")
        with self._cond:
            self.bodies.append(body)
            self._asked[prompt] += 1
            attempt = self._asked[prompt]
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            if not self._released and self._in_flight >= (self.gate or 0):
                self._released = True
                self._cond.notify_all()
            self._cond.wait_for(lambda: self._released, timeout=30)
        return Ask(body=body, prompt=prompt, attempt=attempt)

    def leave(self) -> None:
        with self._cond:
            self._in_flight -= 1


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # the default 5 drops concurrent connects (SYN retransmits cost a second)
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    @property
    def owner(self) -> AnswerServer:
        return self.server.owner  # type: ignore[attr-defined]

    def do_GET(self) -> None:  # noqa: N802
        if self.path.rstrip("/") == "/v1/models":
            self._json(200, {"object": "list", "data": [{"id": self.owner.model, "object": "model"}]})
        else:
            self._json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._json(404, {"error": {"message": f"no route {self.path}"}})
            return
        ask = self.owner.enter(body)
        try:
            item = self.owner.answer(ask)
        finally:
            self.owner.leave()
        if item is DROP:
            self.close_connection = True
            self.connection.close()
            return
        if isinstance(item, Fail):
            self._json(item.status, {"error": {"message": item.message, "type": "scripted"}})
            return
        reply = Reply(item) if isinstance(item, str) else item
        message: dict[str, Any] = {"role": "assistant", "content": reply.content}
        if reply.reasoning is not None:
            message["reasoning_content"] = reply.reasoning
        self._json(200, {"id": "chatcmpl-eval", "object": "chat.completion", "model": self.owner.model,
                         "choices": [{"index": 0, "message": message, "finish_reason": reply.finish_reason}],
                         "usage": {"prompt_tokens": len(ask.prompt.split()), "completion_tokens":
                                   len(reply.content.split()), "total_tokens": 0}})

    def _json(self, status: int, doc: dict[str, Any]) -> None:
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
