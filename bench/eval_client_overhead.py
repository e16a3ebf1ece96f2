"""How much of an eval's wall time is the client's: 1,000 questions at concurrency 32, against the simulator and
against a server whose timing is exact.

    .venv/bin/python bench/eval_client_overhead.py [--server both|sim|fixed] [--n 1000] [--concurrency 32] [--runs 5]
        [--loop uvloop|asyncio]

Each server runs as its own process pinned to core 1, this process (which only runs `run_eval`: suite and pack
loading, requests, scoring, the samples file, the bootstrap, the result files) pinned to core 0, with full garbage
collections held off as `modeldeploy eval` holds them off (tools/quiet_gc.py). The servers: `sim` is `python -m
modeldeploy.simulator` (its defaults: TTFT 50 ms, TPOT 10 ms; it answers the addition questions in one token),
`fixed` is bench/eval_fixed_latency_server.py (every answer exactly --latency-ms after its request, a few
microseconds of server CPU). Per run:

* overhead_pct (the Must-show figure, < 5%): the share of the wall time not spent waiting on the server,
  100 * (wall - ideal) / wall. `ideal` is the wall time of a client that costs nothing: ceil(n / concurrency)
  rounds of the server's mean request time as the server itself measured it: the simulator's
  `http_request_duration_seconds` for POST /v1/chat/completions (vLLM's HTTP histogram: from the request's bytes
  reaching the server to its last byte written; sum / count over the run, from /metrics), the fixed server's
  /stats. What neither side measures, the kernel's loopback and the wake-ups of two processes, counts as client
  overhead: the figure errs high.
* floor_overhead_pct: the same figure for a bare loop of the same HTTP requests (the eval client's `chat()` over
  its session, bodies built in advance: no suite, no scoring, no files), measured right after each run. It is
  what aiohttp, the event loop and the kernel cost; overhead_pct minus it is the eval's own work.
* cpu_share_pct: the eval process's CPU time (user + system, all threads, getrusage) / wall time. Not the
  overhead (CPU that overlaps the wait costs no wall time), but how close the client is to saturating its
  core; cpu_us_per_request is that cost per request, whatever the server's speed.
* before_first_request_ms / after_last_answer_ms: the fixed costs of a run (suite and pack loading, the /models
  check; waiting for the last writes, the aggregates, the result files, closing the loop), from `run_eval`'s call
  to the first request and from the last answer to its return.

`--loop` is the event loop `run_eval` runs on: uvloop (what `modeldeploy eval` uses when uvloop is installed, the
default here when it is) or asyncio's own. One warm-up run first (imports, the first thread pool; reported
apart, not counted), then --runs runs: the median is reported with every run, as near-limit figures vary. Prints
one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))

from bench_servers import SimServer  # noqa: E402

import modeldeploy.tools.eval.runner as runner  # noqa: E402
from modeldeploy.tools.eval.client import chat, open_session  # noqa: E402
from modeldeploy.tools.eval.runner import EvalConfig, run_eval  # noqa: E402
from modeldeploy.tools.quiet_gc import quiet_gc  # noqa: E402

CHAT_HTTP = re.compile(r'^http_request_duration_seconds_(sum|count)\{handler="/v1/chat/completions",method="POST"\} '
                       r"(\S+)$", re.M)
TICK = os.sysconf("SC_CLK_TCK")


def get(url: str) -> str:
    return urllib.request.urlopen(url, timeout=10).read().decode()


def process_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


class Sim:
    """The simulator; server time from its HTTP duration histogram (arrival to last byte written)."""

    name = "sim"

    def __init__(self, args) -> None:
        self.server = SimServer(ttft_ms=args.ttft_ms, tpot_ms=args.tpot_ms)

    def __enter__(self):
        self.server.__enter__()
        self.url, self.model, self.pid = self.server.url, self.server.model, self.server.proc.pid
        return self

    def __exit__(self, *exc) -> None:
        self.server.__exit__(*exc)

    def totals(self) -> tuple[float, float]:
        found = {k: float(v) for k, v in CHAT_HTTP.findall(get(self.url.removesuffix("/v1") + "/metrics"))}
        return found.get("sum", 0.0), found.get("count", 0.0)


class Fixed:
    """bench/eval_fixed_latency_server.py; server time from its /stats."""

    name = "fixed"

    def __init__(self, args) -> None:
        self.cmd = [sys.executable, str(ROOT / "bench" / "eval_fixed_latency_server.py"), "--latency-ms",
                    str(args.latency_ms)]

    def __enter__(self):
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()  # "ready PORT", printed once it listens
        if not line.startswith("ready "):
            self.proc.kill()
            raise SystemExit(f"the fixed-latency server did not start: {line!r}")
        self.url, self.model, self.pid = f"http://127.0.0.1:{int(line.split()[1])}/v1", "fixed", self.proc.pid
        return self

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(10)

    def totals(self) -> tuple[float, float]:
        doc = json.loads(get(self.url.removesuffix("/v1") + "/stats"))
        return doc["hold_s_sum"], float(doc["requests"])


def pin(pid: int, core: int) -> bool:
    if len(os.sched_getaffinity(0)) < 2:
        return False
    os.sched_setaffinity(pid, {core})
    return True


MARKS: dict[str, float] = {}
_chat = runner.chat


async def timed_chat(*args, **kwargs):
    """runner.chat, noting when the first request went out and when the last answer came back."""
    MARKS.setdefault("first", time.perf_counter())
    answer = await _chat(*args, **kwargs)
    MARKS["last"] = time.perf_counter()
    return answer


runner.chat = timed_chat


def loop_factory(name: str):
    if name == "asyncio":
        return None
    import uvloop

    return uvloop.new_event_loop


def ideal_wall(n: int, concurrency: int, server_s: float, server_n: float) -> float:
    """A cost-free client's wall time: ceil(n / concurrency) rounds of the server's mean time per request."""
    return math.ceil(n / concurrency) * server_s / server_n


def overhead_pct(wall: float, ideal: float) -> float:
    return round(100 * (wall - ideal) / wall, 2)


def floor_run(server, data: Path, n: int, concurrency: int, max_tokens: int, loop: str) -> float:
    """The same requests through the eval client's `chat()` over its session, bodies built in advance: the overhead
    of the HTTP stack alone."""
    cfg = EvalConfig(endpoint=server.url, model=server.model, suite="addition", data=data, concurrency=concurrency,
                     max_tokens=max_tokens)
    plan = runner.plan_run(cfg)
    bodies = [runner.payload(cfg, plan.suite, runner.prompt_for(plan.suite, plan.prepared, doc)[1], repeat)
              for doc, repeat, _ in plan.jobs]
    url = server.url + "/chat/completions"

    async def main() -> None:
        async with open_session(server.url, concurrency, 600.0, None) as session:
            pending = iter(bodies)

            async def worker() -> None:
                for body in pending:
                    await chat(session, url, body)

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    s0, c0 = server.totals()
    wall0 = time.perf_counter()
    with asyncio.Runner(loop_factory=loop_factory(loop)) as loop_runner:
        loop_runner.run(main())
    wall = time.perf_counter() - wall0
    s1, c1 = server.totals()
    return overhead_pct(wall, ideal_wall(n, concurrency, s1 - s0, c1 - c0))


def one_run(server, data: Path, out: Path, n: int, concurrency: int, max_tokens: int, loop: str) -> dict:
    cfg = EvalConfig(endpoint=server.url, model=server.model, suite="addition", data=data, concurrency=concurrency,
                     max_tokens=max_tokens, out=out)
    s0, c0 = server.totals()
    server_cpu0 = process_cpu_s(server.pid)
    MARKS.clear()
    factory = loop_factory(loop)  # imports uvloop: `modeldeploy eval` does it before the run too
    r0, wall0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    run = run_eval(cfg, loop_factory=factory)
    wall, r1 = time.perf_counter() - wall0, resource.getrusage(resource.RUSAGE_SELF)
    server_cpu = process_cpu_s(server.pid) - server_cpu0
    s1, c1 = server.totals()
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    server_mean = (s1 - s0) / (c1 - c0)
    ideal = ideal_wall(n, concurrency, s1 - s0, c1 - c0)
    summary = run.summary
    return {"wall_s": round(wall, 3), "ideal_wall_s": round(ideal, 3),
            "overhead_pct": overhead_pct(wall, ideal),
            "floor_overhead_pct": floor_run(server, data, n, concurrency, max_tokens, loop),
            "client_cpu_s": round(cpu, 3),
            "cpu_share_pct": round(100 * cpu / wall, 2), "cpu_us_per_request": round(1e6 * cpu / n),
            "server_mean_ms": round(1000 * server_mean, 2), "server_requests": int(c1 - c0),
            "server_cpu_us_per_request": round(1e6 * server_cpu / n), "requests_per_s": round(n / wall, 1),
            "before_first_request_ms": round(1000 * (MARKS["first"] - wall0), 1),
            "after_last_answer_ms": round(1000 * (wall0 + wall - MARKS["last"]), 1),
            "errors": round(summary.error_rate * summary.n), "score": summary.score_official}


def measure(kind, args, data: Path, work: Path) -> dict:
    with kind(args) as server:
        pinned = pin(server.pid, 1) and pin(0, 0)
        with quiet_gc():  # as `modeldeploy eval` runs
            runs = [one_run(server, data, work / f"{kind.name}{i}", args.n, args.concurrency, args.max_tokens,
                            args.loop) for i in range(1 + args.runs)]
    warm_up, runs = runs[0], runs[1:]
    keys = ("overhead_pct", "floor_overhead_pct", "cpu_share_pct", "cpu_us_per_request", "wall_s", "ideal_wall_s",
            "requests_per_s", "server_cpu_us_per_request", "before_first_request_ms", "after_last_answer_ms")
    return {"pinned": pinned, "median": {k: round(statistics.median(r[k] for r in runs), 2) for k in keys},
            "runs": runs, "warm_up": warm_up}


def has_uvloop() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", choices=("both", "sim", "fixed"), default="both")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ttft-ms", type=float, default=50, help="simulator")
    parser.add_argument("--tpot-ms", type=float, default=10, help="simulator")
    parser.add_argument("--latency-ms", type=float, default=50, help="fixed-latency server")
    parser.add_argument("--max-tokens", type=int, default=8)
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop" if has_uvloop() else "asyncio")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="eval-bench-"))
    data = work / "add.jsonl"
    data.write_text("".join(json.dumps({"id": f"q{i}", "a": i, "b": i + 1, "answer": str(2 * i + 1)}) + "\n"
                            for i in range(args.n)))
    report = {"n": args.n, "concurrency": args.concurrency, "runs": args.runs, "loop": args.loop,
              "load_average": [round(x, 2) for x in os.getloadavg()]}
    if args.server == "both":  # each server measured by a fresh process: the second one's figures came out 2-3x
        for name in ("sim", "fixed"):  # worse when both ran in one process (cause not found)
            child = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--server", name], capture_output=True,
                                   text=True, check=True)
            report[name] = json.loads(child.stdout)[name]
    else:
        kind = {"sim": Sim, "fixed": Fixed}[args.server]
        report[kind.name] = measure(kind, args, data, work)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
