"""A chat-completions server whose timing is exact: every POST is answered `--latency-ms` after its last byte
arrived, at any concurrency, for a few microseconds of CPU. The reference server of bench/eval_client_overhead.py.

    python bench/eval_fixed_latency_server.py --port 8199 [--latency-ms 50]

It answers "What is A plus B?" with A + B (anything else with "0"), non-streamed, `finish_reason: stop`, HTTP/1.1
keep-alive. GET /v1/models lists the model "fixed"; GET /stats returns {"requests", "hold_s_sum"}: how many
POSTs were answered and the sum of their actual hold times (last request byte read to response written), so a
client can compute the wall time a cost-free client would have needed. Prints "ready <port>" when listening.
Standard library only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import time

QUESTION = re.compile(rb"What is (\d+) plus (\d+)\?")
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
MODELS = json.dumps({"object": "list", "data": [{"id": "fixed", "object": "model"}]}).encode()


def answer(body: bytes) -> bytes:
    m = QUESTION.search(body)
    content = str(int(m.group(1)) + int(m.group(2))) if m else "0"
    return (b'{"id":"chatcmpl-fixed","object":"chat.completion","created":0,"model":"fixed","choices":[{"index":0,'
            b'"message":{"role":"assistant","content":"' + content.encode() + b'"},"finish_reason":"stop"}],'
            b'"usage":{"prompt_tokens":8,"completion_tokens":1,"total_tokens":9}}')


class Stats:
    requests = 0
    hold_s_sum = 0.0


class Fixed(asyncio.Protocol):
    def __init__(self, latency_s: float) -> None:
        self.latency_s = latency_s
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = self.buffer[:end]
            marker = head.lower().find(b"content-length:")
            length = int(head[marker + 15:].split(b"\r\n", 1)[0]) if marker >= 0 else 0
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4:end + 4 + length]
            self.buffer = self.buffer[end + 4 + length:]
            if head.startswith(b"POST"):
                self.loop.call_later(self.latency_s, self.reply, answer(body), time.perf_counter())
            else:
                payload = MODELS if b" /v1/models" in head[:40] else json.dumps(
                    {"requests": Stats.requests, "hold_s_sum": Stats.hold_s_sum}).encode()
                self.transport.write(HEAD % len(payload) + payload)

    def reply(self, payload: bytes, received: float) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(HEAD % len(payload) + payload)
            Stats.requests += 1
            Stats.hold_s_sum += time.perf_counter() - received

    def connection_lost(self, exc) -> None:
        self.transport = None


async def serve(host: str, port: int, latency_s: float) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Fixed(latency_s), host, port, backlog=1024)
    print(f"ready {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=50)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, args.latency_ms / 1000))


if __name__ == "__main__":
    main()
