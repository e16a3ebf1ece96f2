"""Client CPU per streaming request for httpx and aiohttp, on asyncio's and uvloop's event loops, and for
the bench client itself (`tools/bench/client.py`, which also timestamps and keeps every read): the
measurement behind the bench client's choices.

Starts `fixed_sse_server.py` pinned to core 1, runs each variant pinned to core 0 (`os.sched_setaffinity`)
at a fixed concurrency, and prints client CPU microseconds per request (process time, user + system) and
requests per second. Each variant reads the stream chunk by chunk, as the bench client does. `--repeat N`
runs every variant N times, interleaved, and prints the median.

    .venv/bin/python bench/http_client_overhead.py [--requests 3000] [--concurrency 32] [--repeat 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
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


async def run_bench_client(url: str, n: int, concurrency: int) -> int:
    from modeldeploy.tools.bench.client import Client, Record

    chunks = 0
    async with Client(url.removesuffix("/chat/completions"), "chat", None, 30.0, concurrency) as client:
        queue = iter(range(n))
        body = json.dumps(PAYLOAD).encode()

        async def worker() -> None:
            nonlocal chunks
            for i in queue:
                record = Record(index=i, spec=0)
                await client.send(record, body)
                chunks += len(record.reads)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return chunks


def uvloop_factory():
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


VARIANTS = {"httpx": (run_httpx, None), "aiohttp": (run_aiohttp, None), "aiohttp+uvloop": (run_aiohttp, "uvloop"),
            "bench client": (run_bench_client, None), "bench client+uvloop": (run_bench_client, "uvloop")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args()
    names = [v.strip() for v in args.variants.split(",")]
    if "uvloop" in args.variants and uvloop_factory() is None:
        names = [v for v in names if "uvloop" not in v]
        print("uvloop is not installed: its variants are skipped")
    port = free_port()
    server = subprocess.Popen(["taskset", "-c", "1", sys.executable, str(Path(__file__).with_name("fixed_sse_server.py")),
                               "--port", str(port)], stdout=subprocess.PIPE, text=True)
    try:
        server.stdout.readline()
        os.sched_setaffinity(0, {0})
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
        for _ in range(args.repeat):
            for name in names:
                fn, loop = VARIANTS[name]
                factory = uvloop_factory() if loop == "uvloop" else None
                with asyncio.Runner(loop_factory=factory) as runner:
                    runner.run(fn(url, 200, args.concurrency))  # warm-up: imports, connections
                with asyncio.Runner(loop_factory=factory) as runner:
                    cpu0, wall0 = time.process_time(), time.perf_counter()
                    runner.run(fn(url, args.requests, args.concurrency))
                    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
                samples[name].append((cpu / args.requests * 1e6, args.requests / wall))
        for name, got in samples.items():
            us = statistics.median(s[0] for s in got)
            rate = statistics.median(s[1] for s in got)
            print(f"{name:20s} {us:8.0f} us CPU/request  {rate:8.0f} req/s  (median of {len(got)})")
    finally:
        server.terminate()
        server.wait(5)


if __name__ == "__main__":
    main()
