"""A minimal HTTP/1.1 server that answers every POST with the same 32-token chat-completions SSE body.

The stand-in for the reference's nginx fixture (metrics-and-evals.md, "Client capacity"): it costs the
server a few microseconds per request, so a load generator pinned to another core measures its own limit.
Standard library only; `python bench/fixed_sse_server.py --port 8199 [--tokens 32]`.
"""

from __future__ import annotations

import argparse
import asyncio
import json


def sse_body(tokens: int) -> bytes:
    """A vLLM-shaped stream: role chunk, one chunk per token, a usage chunk, [DONE]."""
    def data(doc: dict) -> bytes:
        return b"data: " + json.dumps(doc, separators=(",", ":")).encode() + b"\n\n"

    head = {"id": "chatcmpl-fixed", "object": "chat.completion.chunk", "created": 0, "model": "fixed"}
    parts = [data({**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})]
    for i in range(tokens):
        parts.append(data({**head, "choices": [{"index": 0, "delta": {"content": f" tok{i}"},
                                                "finish_reason": "length" if i == tokens - 1 else None}]}))
    parts.append(data({**head, "choices": [], "usage": {"prompt_tokens": 8, "completion_tokens": tokens,
                                                          "total_tokens": 8 + tokens}}))
    parts.append(b"data: [DONE]\n\n")
    return b"".join(parts)


class FixedSSE(asyncio.Protocol):
    def __init__(self, response: bytes):
        self.response = response
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            length = 0
            marker = head.find(b"content-length:")
            if marker >= 0:
                length = int(head[marker + 15:head.find(b"\r\n", marker) if head.find(b"\r\n", marker) > 0 else None])
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length:]
            self.transport.write(self.response)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8199)
    parser.add_argument("--tokens", type=int, default=32)
    args = parser.parse_args()
    body = sse_body(args.tokens)
    response = (b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: %d\r\n\r\n" % len(body)) + body

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(lambda: FixedSSE(response), args.host, args.port, backlog=4096)
        print(f"fixed SSE server on http://{args.host}:{args.port}", flush=True)
        async with server:
            await server.serve_forever()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
