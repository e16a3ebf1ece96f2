"""Client CPU per streaming request for httpx and aiohttp: the measurement behind the bench client's choice.

Starts `fixed_sse_server.py` pinned to core 1, runs each library pinned to core 0 (`os.sched_setaffinity`)
at a fixed concurrency, and prints client CPU microseconds per request (process time, user + system) and
requests per second. Each library reads the stream chunk by chunk, as the bench client does.

    .venv/bin/python bench/http_client_overhead.py [--requests 3000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

PAYLOAD = {"model": "fixed", "messages": [{"role": "user", "content": "hi"}], "stream": True, "max_tokens": 32}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def run_httpx(url: str, n: int, concurrency: int) -> int:
    import httpx

    chunks = 0
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        queue = iter(range(n))

        async def worker() -> None:
            nonlocal chunks
            for _ in queue:
                async with client.stream("POST", url, json=PAYLOAD) as response:
                    async for _piece in response.aiter_raw():
                        chunks += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return chunks


async def run_aiohttp(url: str, n: int, concurrency: int) -> int:
    import aiohttp

    chunks = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:
        queue = iter(range(n))
        body = json.dumps(PAYLOAD).encode()

        async def worker() -> None:
            nonlocal chunks
            for _ in queue:
                async with session.post(url, data=body, headers={"content-type": "application/json"}) as response:
                    async for _piece in response.content.iter_any():
                        chunks += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return chunks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    port = free_port()
    server = subprocess.Popen(["taskset", "-c", "1", sys.executable, str(Path(__file__).with_name("fixed_sse_server.py")),
                               "--port", str(port)], stdout=subprocess.PIPE, text=True)
    try:
        server.stdout.readline()
        os.sched_setaffinity(0, {0})
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        for name, fn in (("httpx", run_httpx), ("aiohttp", run_aiohttp)):
            asyncio.run(fn(url, 200, args.concurrency))  # warm-up: imports, connections
            cpu0, wall0 = time.process_time(), time.perf_counter()
            asyncio.run(fn(url, args.requests, args.concurrency))
            cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
            print(f"{name:8s} {cpu / args.requests * 1e6:8.0f} us CPU/request  {args.requests / wall:8.0f} req/s")
    finally:
        server.terminate()
        server.wait(5)


if __name__ == "__main__":
    main()
