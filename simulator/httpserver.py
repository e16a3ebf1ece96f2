"""A compact HTTP/1.1 server on asyncio streams: keep-alive, Content-Length or chunked bodies,
chunked (HTTP/1.1) or close-delimited (HTTP/1.0) streaming responses, `Expect: 100-continue`.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from email.utils import formatdate
from typing import AsyncIterator, Awaitable, Callable
from urllib.parse import unquote, urlsplit

REASONS = {100: "Continue", 200: "OK", 204: "No Content", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
           405: "Method Not Allowed", 408: "Request Timeout", 411: "Length Required", 413: "Payload Too Large",
           422: "Unprocessable Entity", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
           500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable"}
MAX_HEADER_BYTES = 1 << 20
MAX_BODY_BYTES = 64 << 20
KEEPALIVE_S = 5.0


@dataclass
class Request:
    method: str
    target: str
    version: str
    headers: dict[str, str]
    body: bytes
    peer: str
    received: float = 0.0  # perf_counter when its first bytes reached the process: where the server's time starts

    @property
    def path(self) -> str:
        return unquote(urlsplit(self.target).path) or "/"

    @property
    def query(self) -> str:
        return urlsplit(self.target).query

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    def json(cls, doc: object, status: int = 200) -> "Response":
        return cls(status=status, body=json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode())

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str = "text/plain; charset=utf-8") -> "Response":
        return cls(status=status, body=text.encode(), content_type=content_type)


@dataclass
class StreamResponse:
    chunks: AsyncIterator[bytes]
    status: int = 200
    content_type: str = "text/event-stream; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)


Handler = Callable[[Request], Awaitable["Response | StreamResponse"]]
AccessLog = Callable[[Request, int], None]
Served = Callable[[Request, int, float], None]  # request, status, seconds from its arrival to its last byte written


class ArrivalStampedReader(asyncio.StreamReader):
    """A StreamReader that notes when the bytes of a new request reach the process.

    The server's time for a request starts there, not when the connection's task gets round to reading it: when
    32 requests arrive at once, the last waits for the event loop to parse and route the 31 before it, and that
    wait is the server's (uvicorn, under vLLM, parses in data_received the same way)."""

    arrived = 0.0

    def feed_data(self, data: bytes) -> None:
        if not self._buffer:  # nothing unread: these bytes start a request
            self.arrived = time.perf_counter()
        super().feed_data(data)


class BadRequest(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class HttpServer:
    def __init__(self, handler: Handler, access_log: AccessLog | None = None, server_header: str = "uvicorn",
                 served: Served | None = None):
        self.handler = handler
        self.access_log = access_log
        self.served = served
        self.server_header = server_header
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task] = set()

    async def start(self, host: str | None, port: int) -> None:
        loop = asyncio.get_running_loop()

        def protocol() -> asyncio.StreamReaderProtocol:  # asyncio.start_server's factory, with the stamped reader
            return asyncio.StreamReaderProtocol(ArrivalStampedReader(limit=MAX_HEADER_BYTES, loop=loop),
                                                self._connection, loop=loop)

        self._server = await loop.create_server(protocol, host=host, port=port, reuse_address=True, backlog=2048)

    @property
    def sockets(self):
        return self._server.sockets if self._server else []

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            transport = writer.transport
            if transport is not None:
                transport.abort()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=1.0)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        peername = writer.get_extra_info("peername")
        peer = f"{peername[0]}:{peername[1]}" if isinstance(peername, tuple) and len(peername) >= 2 else "unknown:0"
        done_at = 0.0  # when the previous request on this connection was answered
        try:
            while True:
                try:
                    async with asyncio.timeout(KEEPALIVE_S):
                        request = await self._read_request(reader, writer, peer, done_at)
                except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError):
                    break
                except BadRequest as exc:
                    await self._send_error(writer, exc.status, str(exc))
                    break
                if request is None:
                    break
                keep_alive = self._keep_alive(request)
                try:
                    response = await self.handler(request)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # a bug in a handler must not kill the server
                    response = Response.json({"error": {"message": f"Internal server error: {exc!r}",
                                                        "type": "InternalServerError", "param": None, "code": 500}}, 500)
                if isinstance(response, StreamResponse):
                    ok = await self._send_stream(writer, request, response, keep_alive)
                    done_at = self._served(request, response.status)
                    if not ok or not keep_alive or request.version == "1.0":
                        break
                else:
                    await self._send(writer, request, response, keep_alive)
                    done_at = self._served(request, response.status)
                    if not keep_alive:
                        break
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._writers.discard(writer)
            if task is not None:
                self._tasks.discard(task)
            try:
                writer.close()
            except Exception:
                pass

    async def _read_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str,
                            not_before: float) -> Request | None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            # the server's time starts when the bytes came, or when it finished the previous request on this
            # connection if they came earlier (pipelined)
            received = max(getattr(reader, "arrived", 0.0), not_before) or time.perf_counter()
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                raise BadRequest(400, "Invalid HTTP request received.") from None
            return None
        except asyncio.LimitOverrunError:
            raise BadRequest(431, "Request header fields too large") from None
        lines = head.decode("latin-1").split("\r\n")
        try:
            method, target, proto = lines[0].split(" ", 2)
        except ValueError:
            raise BadRequest(400, "Invalid HTTP request received.") from None
        if not proto.startswith("HTTP/1."):
            raise BadRequest(400, "Unsupported HTTP version")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if not line:
                continue
            name, _, value = line.partition(":")
            key = name.strip().lower()
            headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
        if headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
        body = b""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            parts = []
            size_total = 0
            while True:
                size_line = await reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while (await reader.readuntil(b"\r\n")) != b"\r\n":
                        pass
                    break
                size_total += size
                if size_total > MAX_BODY_BYTES:
                    raise BadRequest(413, "Request body too large")
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
            body = b"".join(parts)
        elif "content-length" in headers:
            try:
                length = int(headers["content-length"])
            except ValueError:
                raise BadRequest(400, "Invalid Content-Length") from None
            if length > MAX_BODY_BYTES:
                raise BadRequest(413, "Request body too large")
            body = await reader.readexactly(length) if length else b""
        return Request(method=method.upper(), target=target, version=proto[5:], headers=headers, body=body, peer=peer,
                       received=received)

    @staticmethod
    def _keep_alive(request: Request) -> bool:
        connection = request.header("connection").lower()
        if request.version == "1.0":
            return "keep-alive" in connection
        return "close" not in connection

    def _head(self, status: int, content_type: str, extra: list[tuple[str, str]], keep_alive: bool,
              length: int | None, chunked: bool, version: str) -> bytes:
        rows = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}",
                f"date: {formatdate(time.time(), usegmt=True)}", f"server: {self.server_header}"]
        if length is not None:
            rows.append(f"content-length: {length}")
        rows.append(f"content-type: {content_type}")
        if chunked:
            rows.append("transfer-encoding: chunked")
        for name, value in extra:
            rows.append(f"{name}: {value}")
        if not keep_alive:
            rows.append("connection: close")
        elif version == "1.0":
            rows.append("connection: keep-alive")
        return ("\r\n".join(rows) + "\r\n\r\n").encode("latin-1")

    def _log(self, request: Request, status: int) -> None:
        if self.access_log is not None:
            try:
                self.access_log(request, status)
            except Exception:
                pass

    def _served(self, request: Request, status: int) -> float:
        done = time.perf_counter()
        if self.served is not None:
            self.served(request, status, done - request.received)
        return done

    async def _send(self, writer: asyncio.StreamWriter, request: Request, response: Response, keep_alive: bool) -> None:
        body = b"" if request.method == "HEAD" else response.body
        head = self._head(response.status, response.content_type, response.headers, keep_alive, len(response.body),
                          False, request.version)
        self._log(request, response.status)
        writer.write(head + body)
        await writer.drain()

    async def _send_error(self, writer: asyncio.StreamWriter, status: int, message: str) -> None:
        body = json.dumps({"detail": message}).encode()
        head = self._head(status, "application/json", [], False, len(body), False, "1.1")
        try:
            writer.write(head + body)
            await writer.drain()
        except ConnectionError:
            pass

    async def _send_stream(self, writer: asyncio.StreamWriter, request: Request, response: StreamResponse,
                           keep_alive: bool) -> bool:
        chunked = request.version != "1.0"
        head = self._head(response.status, response.content_type, response.headers, keep_alive and chunked, None,
                          chunked, request.version)
        self._log(request, response.status)
        chunks = response.chunks
        try:
            writer.write(head)
            await writer.drain()
            async for data in chunks:
                if not data:
                    continue
                writer.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
                await writer.drain()
            if chunked:
                writer.write(b"0\r\n\r\n")
                await writer.drain()
            return chunked
        except ConnectionError:
            return False
        finally:
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                await aclose()
