"""The simulator as a real subprocess on a loopback port: readiness, the OpenAI API, metrics, the latency
model under 32 concurrent streams, HTTP details, each framework's flavour, SIGTERM.

Readiness is awaited on the server's own log lines (a reader thread and a condition variable), never
with fixed sleeps; timing assertions are lower bounds the latency model guarantees, not wall-clock limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from gguf_factory import write_tiny_gguf

from modeldeploy.simulator.textgen import chat_prompt_tokens, count_tokens

ROOT = Path(__file__).resolve().parents[2]
TINY = str(ROOT / "models" / "tiny-llama")
READY = {"vllm": "Application startup complete.", "sglang": "The server is fired up and ready to roll!",
         "tgi": "Connected", "llama.cpp": "main: server is listening on", "transformers": "Uvicorn running"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SimProcess:
    """A simulator subprocess whose merged stdout/stderr is collected line by line."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None, port: int | None = None,
                 command: list[str] | None = None, cwd: str | None = None):
        self.port = port or free_port()
        self.lines: list[str] = []
        self._cond = threading.Condition()
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("MODELDEPLOY_SIM_")}
        full_env.update({"MODELDEPLOY_SIM_STARTUP_S": "0.2", **(env or {})})
        cmd = (command or [sys.executable, "-m", "modeldeploy.simulator"]) + args
        if "--port" not in args:
            cmd += ["--port", str(self.port)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=full_env, cwd=cwd,
                                     text=True, bufsize=1)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append(line.rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    @property
    def log(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not any(text in line for line in self.lines):
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"{text!r} not logged (exit {self.proc.poll()}):\n" + "\n".join(self.lines[-40:]))
                self._cond.wait(min(left, 0.5))

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def terminate(self, timeout: float = 10.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture(scope="module")
def server():
    sim = SimProcess(["--model", TINY, "--served-model-name", "tiny", "--host", "127.0.0.1"],
                     env={"MODELDEPLOY_SIM_SLOTS": "4", "MODELDEPLOY_SIM_TTFT_MS": "40", "MODELDEPLOY_SIM_TPOT_MS": "10"})
    try:
        sim.wait_for(READY["vllm"])
        yield sim
    finally:
        assert sim.terminate() == 0
        sim.kill()


def post(sim: SimProcess, path: str, body: dict, timeout: float = 30.0) -> httpx.Response:
    return httpx.post(sim.url(path), json=body, timeout=timeout)


def sse_events(response: httpx.Response) -> list:
    events = []
    for line in response.iter_lines():
        if line.startswith("data: "):
            payload = line[6:]
            events.append(payload if payload == "[DONE]" else json.loads(payload))
    return events


# --- readiness -----------------------------------------------------------------------------------


def test_health_answers_while_loading_but_models_waits_for_the_weights():
    sim = SimProcess(["--model", TINY, "--host", "127.0.0.1"], env={"MODELDEPLOY_SIM_STARTUP_S": "2"})
    try:
        sim.wait_for("Resolved architecture: LlamaForCausalLM")  # logged once the socket is bound
        assert httpx.get(sim.url("/health"), timeout=5).status_code == 200
        assert httpx.get(sim.url("/v1/models"), timeout=5).status_code == 503
        chat = post(sim, "/v1/chat/completions", {"messages": [{"role": "user", "content": "hi"}]})
        assert chat.status_code == 503
        sim.wait_for(READY["vllm"])
        models = httpx.get(sim.url("/v1/models"), timeout=5).json()
        assert [m["id"] for m in models["data"]] == [TINY] and models["data"][0]["max_model_len"] == 2048
        log = sim.log
        assert log.index("vLLM API server version") < log.index("Loading safetensors checkpoint shards: 100% Completed | 1/1") \
            < log.index("Application startup complete.")
    finally:
        assert sim.terminate() == 0


def test_models_and_health(server):
    assert httpx.get(server.url("/health"), timeout=5).status_code == 200
    doc = httpx.get(server.url("/v1/models"), timeout=5).json()
    assert doc["object"] == "list"
    (model,) = doc["data"]
    assert (model["id"], model["object"], model["owned_by"], model["root"], model["max_model_len"]) == \
        ("tiny", "model", "vllm", TINY, 2048)


# --- the API ------------------------------------------------------------------------------------


def test_chat_usage_is_consistent(server):
    messages = [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Tell me about GPUs."}]
    doc = post(server, "/v1/chat/completions", {"model": "tiny", "messages": messages, "temperature": 0}).json()
    (choice,) = doc["choices"]
    text = choice["message"]["content"]
    usage = doc["usage"]
    assert doc["object"] == "chat.completion" and doc["id"].startswith("chatcmpl-") and doc["model"] == "tiny"
    assert choice["message"]["role"] == "assistant" and choice["finish_reason"] == "stop"
    assert usage["prompt_tokens"] == chat_prompt_tokens(messages)
    assert usage["completion_tokens"] == count_tokens(text) > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    again = post(server, "/v1/chat/completions", {"model": "tiny", "messages": messages, "temperature": 0}).json()
    assert again["choices"][0]["message"]["content"] == text  # deterministic


@pytest.mark.parametrize("a,b", [(2, 3), (17, 25), (-40, 2), (999, 1)])
def test_the_addition_rule_answers_exactly(server, a, b):
    doc = post(server, "/v1/chat/completions", {"model": "tiny", "max_tokens": 16, "messages": [
        {"role": "user", "content": "What is 1 plus 1?"}, {"role": "assistant", "content": "2"},
        {"role": "user", "content": f"What is {a} plus {b}?"}]}).json()
    assert doc["choices"][0]["message"]["content"] == str(a + b)
    assert doc["choices"][0]["finish_reason"] == "stop"
    assert doc["usage"]["completion_tokens"] == count_tokens(str(a + b))


def test_max_tokens_min_tokens_and_stop(server):
    msg = [{"role": "user", "content": "Tell me about GPUs."}]
    cut = post(server, "/v1/chat/completions", {"model": "tiny", "messages": msg, "max_tokens": 3}).json()
    assert cut["choices"][0]["finish_reason"] == "length" and cut["usage"]["completion_tokens"] == 3
    long = post(server, "/v1/chat/completions", {"model": "tiny", "messages": [
        {"role": "user", "content": "What is 1 plus 2?"}], "min_tokens": 12, "max_tokens": 40}).json()
    assert long["usage"]["completion_tokens"] >= 12 and long["choices"][0]["message"]["content"].startswith("3 ")
    forced = post(server, "/v1/chat/completions", {"model": "tiny", "messages": msg, "max_tokens": 50,
                                                   "ignore_eos": True}).json()
    assert forced["usage"]["completion_tokens"] == 50 and forced["choices"][0]["finish_reason"] == "length"
    full = cut["choices"][0]["message"]["content"]
    word = full.split()[1]
    stopped = post(server, "/v1/chat/completions", {"model": "tiny", "messages": msg, "stop": [word]}).json()
    assert stopped["choices"][0]["finish_reason"] == "stop" and word not in stopped["choices"][0]["message"]["content"]


def test_chat_stream_with_usage(server):
    messages = [{"role": "user", "content": "Tell me about GPUs."}]
    body = {"model": "tiny", "messages": messages, "stream": True, "max_tokens": 12,
            "stream_options": {"include_usage": True}}
    with httpx.stream("POST", server.url("/v1/chat/completions"), json=body, timeout=30) as response:
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["transfer-encoding"] == "chunked"
        events = sse_events(response)
    assert events[-1] == "[DONE]"
    first, *content, usage_chunk, _ = events
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert first["object"] == "chat.completion.chunk" and "usage" not in first
    assert all(e["object"] == "chat.completion.chunk" and e["id"] == first["id"] for e in events[:-1])
    assert content[-1]["choices"][0]["finish_reason"] == "length"
    assert all(e["choices"][0]["finish_reason"] is None for e in content[:-1])
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in content)
    assert usage_chunk["choices"] == []
    assert usage_chunk["usage"] == {"prompt_tokens": chat_prompt_tokens(messages), "completion_tokens": 12,
                                    "total_tokens": chat_prompt_tokens(messages) + 12, "prompt_tokens_details": None}
    assert len(content) == 12 and count_tokens(text) == 12


def test_stream_without_usage_has_no_usage_chunk(server):
    body = {"model": "tiny", "messages": [{"role": "user", "content": "What is 4 plus 4?"}], "stream": True}
    with httpx.stream("POST", server.url("/v1/chat/completions"), json=body, timeout=30) as response:
        events = sse_events(response)
    assert events[-1] == "[DONE]" and all("usage" not in e for e in events[:-1])
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1]) == "8"
    assert events[-2]["choices"][0]["finish_reason"] == "stop"


def test_completions(server):
    prompt = "Q: What is 3 plus 4?\nA: 7\nQ: What is 10 plus 20?\nA:"
    doc = post(server, "/v1/completions", {"model": "tiny", "prompt": prompt, "max_tokens": 8}).json()
    assert doc["object"] == "text_completion" and doc["id"].startswith("cmpl-")
    assert doc["choices"][0]["text"] == "30" and doc["choices"][0]["finish_reason"] == "stop"
    assert doc["usage"]["prompt_tokens"] == count_tokens(prompt) and doc["usage"]["completion_tokens"] == 1
    default = post(server, "/v1/completions", {"model": "tiny", "prompt": "Once upon a time", "ignore_eos": True}).json()
    assert default["usage"]["completion_tokens"] == 16  # vLLM's default max_tokens for completions
    body = {"model": "tiny", "prompt": "Once upon a time", "max_tokens": 5, "stream": True,
            "stream_options": {"include_usage": True}}
    with httpx.stream("POST", server.url("/v1/completions"), json=body, timeout=30) as response:
        events = sse_events(response)
    texts = [e["choices"][0]["text"] for e in events[:-2]]
    assert len(texts) == 5 and events[-3]["choices"][0]["finish_reason"] == "length"
    assert events[-2]["usage"]["completion_tokens"] == 5 and events[-1] == "[DONE]"
    ids = post(server, "/v1/completions", {"model": "tiny", "prompt": [1, 2, 3, 4], "max_tokens": 2}).json()
    assert ids["usage"]["prompt_tokens"] == 4


@pytest.mark.parametrize("path,body,status,fragment", [
    ("/v1/chat/completions", {"model": "nope", "messages": [{"role": "user", "content": "hi"}]}, 404,
     "The model `nope` does not exist."),
    ("/v1/chat/completions", {"model": "tiny", "messages": []}, 400, "messages"),
    ("/v1/chat/completions", {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "n": 2}, 400, "n must be 1"),
    ("/v1/chat/completions", {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5000}, 400,
     "This model's maximum context length is 2048 tokens. However, you requested 5007 tokens (7 in the messages, "
     "5000 in the completion)."),
    ("/v1/chat/completions", {"model": "tiny", "messages": [{"role": "user", "content": "hi"}], "temperature": -1}, 400,
     "temperature must be non-negative"),
    ("/v1/chat/completions", {"model": "tiny", "messages": [{"role": "user", "content": "hi"}],
                              "stream_options": {"include_usage": True}}, 400, "Stream options can only be defined"),
    ("/v1/completions", {"model": "tiny", "prompt": "hi", "max_tokens": 0}, 400, "max_tokens must be at least 1"),
    ("/v1/completions", {"model": "tiny", "prompt": ["a", "b"]}, 400, "Only one prompt per request"),
], ids=["unknown-model", "no-messages", "n-2", "context", "temperature", "stream-options", "zero-max-tokens", "two-prompts"])
def test_bad_requests_get_openai_errors(server, path, body, status, fragment):
    response = post(server, path, body)
    assert response.status_code == status
    error = response.json()["error"]
    assert fragment in error["message"] and error["code"] == status and error["type"]


def test_http_edges(server):
    assert httpx.post(server.url("/v1/chat/completions"), content=b"{not json", timeout=5).status_code == 400
    assert httpx.get(server.url("/v1/nothing"), timeout=5).status_code == 404
    assert httpx.get(server.url("/v1/chat/completions"), timeout=5).status_code == 405
    assert httpx.get(server.url("/version"), timeout=5).json() == {"version": "0.11.0"}
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/health")
    first = conn.getresponse()
    first.read()
    sock = conn.sock
    conn.request("POST", "/v1/completions", body=json.dumps({"model": "tiny", "prompt": "What is 1 plus 5?"}),
                 headers={"Content-Type": "application/json"})
    second = conn.getresponse()
    assert first.status == 200 and second.status == 200 and conn.sock is sock  # keep-alive
    assert json.loads(second.read())["choices"][0]["text"] == "6"
    conn.close()


def test_http_1_0_streams_until_close(server):
    body = json.dumps({"model": "tiny", "prompt": "What is 5 plus 5?", "stream": True}).encode()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"POST /v1/completions HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\n\r\n" + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    assert b"transfer-encoding" not in head.lower()
    assert payload.startswith(b"data: {") and payload.endswith(b"data: [DONE]\n\n") and b'"text":"10"' in payload


def test_metrics_move(server):
    def scrape() -> dict[str, float]:
        text = httpx.get(server.url("/metrics"), timeout=5).text
        values = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                values[name.split("{")[0] + ("{" + name.split("{", 1)[1] if "finished_reason" in name else "")] = float(value)
        return values

    before = scrape()
    doc = post(server, "/v1/chat/completions", {"model": "tiny", "max_tokens": 7, "ignore_eos": True,
                                                "messages": [{"role": "user", "content": "Count to seven."}]}).json()
    after = scrape()
    assert after["vllm:prompt_tokens_total"] - before["vllm:prompt_tokens_total"] == doc["usage"]["prompt_tokens"]
    assert after["vllm:generation_tokens_total"] - before["vllm:generation_tokens_total"] == 7
    assert after["vllm:time_to_first_token_seconds_count"] == before["vllm:time_to_first_token_seconds_count"] + 1
    assert after["vllm:e2e_request_latency_seconds_count"] == before["vllm:e2e_request_latency_seconds_count"] + 1
    assert after["vllm:request_queue_time_seconds_count"] == before["vllm:request_queue_time_seconds_count"] + 1
    assert after["vllm:e2e_request_latency_seconds_sum"] - before["vllm:e2e_request_latency_seconds_sum"] >= 0.04 + 6 * 0.01
    assert after["vllm:num_requests_running"] == 0 and after["vllm:num_requests_waiting"] == 0
    assert "vllm:gpu_cache_usage_perc" in after
    assert '"POST /v1/chat/completions HTTP/1.1" 200 OK' in server.log


def scrape_http(sim: SimProcess) -> dict[str, float]:
    text = httpx.get(sim.url("/metrics"), timeout=5).text
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
            if line.startswith(("http_", "vllm:e2e_request_latency_seconds_"))}


CHAT = 'handler="/v1/chat/completions",method="POST"'


def test_http_duration_metrics_time_each_request_to_its_last_byte_as_vllms_instrumentator_does(server):
    before = scrape_http(server)
    post(server, "/v1/chat/completions", {"model": "tiny", "max_tokens": 3, "ignore_eos": True,
                                          "messages": [{"role": "user", "content": "Count to three."}]})
    middle = scrape_http(server)
    assert httpx.post(server.url("/v1/chat/completions"), json={"model": "tiny"}, timeout=5).status_code == 400
    assert httpx.get(server.url("/no/such/route"), timeout=5).status_code == 404
    httpx.get(server.url("/health"), timeout=5)
    after = scrape_http(server)

    def delta(key: str, start=before, end=after) -> float:
        return end.get(key, 0.0) - start.get(key, 0.0)

    assert delta(f'http_requests_total{{{CHAT},status="2xx"}}') == 1
    assert delta(f'http_requests_total{{{CHAT},status="4xx"}}') == 1
    assert delta(f"http_request_duration_seconds_count{{{CHAT}}}") == 2
    assert delta("http_request_duration_highr_seconds_count") == 2  # no label: every instrumented request
    # the engine's e2e leaves out parsing and serialisation; the HTTP duration of the same request covers them
    engine = delta('vllm:e2e_request_latency_seconds_sum{engine="0",model_name="tiny"}', end=middle)
    assert engine >= 0.04 + 2 * 0.01
    assert delta(f"http_request_duration_seconds_sum{{{CHAT}}}", end=middle) > engine
    assert not any("/health" in k or "/metrics" in k or "/no/such/route" in k for k in after if k.startswith("http_"))


def test_a_pipelined_request_is_timed_from_when_the_one_before_it_was_answered(server):
    body = json.dumps({"model": "tiny", "max_tokens": 1, "messages": [{"role": "user", "content": "Hi"}]}).encode()
    request = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: sim\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    before = scrape_http(server)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sent = time.perf_counter()
        sock.sendall(request * 2)  # both in one write: the second waits in the buffer while the first is served
        received = b""
        while received.count(b'"object":"chat.completion"') < 2:
            chunk = sock.recv(65536)
            assert chunk, "the connection closed before both answers came"
            received += chunk
        both = time.perf_counter() - sent
    after = scrape_http(server)
    count, total = (f"http_request_duration_seconds_{part}{{{CHAT}}}" for part in ("count", "sum"))
    assert after[count] - before.get(count, 0.0) == 2
    # the two server windows follow each other inside the client's (give or take the server's own bookkeeping after
    # its last write): timed from their common arrival instead, the second would cover the first (40 ms more)
    assert 2 * 0.04 <= after[total] - before.get(total, 0.0) <= both + 0.02


def test_32_concurrent_streams_queue_behind_4_slots(server):
    """SLOTS=4, TTFT=40 ms, TPOT=10 ms, 10 tokens each: a request served in wave k cannot see its first token
    before k full services (>= 40 + 9 x 10 ms each) have passed; at most 4 requests are in the first wave."""
    n, tokens, service = 32, 10, 0.040 + 9 * 0.010

    async def one(client: httpx.AsyncClient, i: int) -> tuple[float, float, int, dict]:
        body = {"model": "tiny", "messages": [{"role": "user", "content": f"Request {i}: tell me about GPUs."}],
                "stream": True, "max_tokens": tokens, "ignore_eos": True, "stream_options": {"include_usage": True}}
        sent = time.monotonic()
        first_content, chunks, usage = None, 0, {}
        async with client.stream("POST", "/v1/chat/completions", json=body) as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                event = json.loads(line[6:])
                if event.get("usage"):
                    usage = event["usage"]
                if event["choices"] and event["choices"][0]["delta"].get("content"):
                    chunks += 1
                    if first_content is None:
                        first_content = time.monotonic()
        return first_content - sent, time.monotonic() - sent, chunks, usage

    async def run() -> list:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=server.url(), limits=limits, timeout=60) as client:
            return await asyncio.gather(*(one(client, i) for i in range(n)))

    results = asyncio.run(run())
    assert all(chunks == tokens and usage["completion_tokens"] == tokens for _, _, chunks, usage in results)
    ttfts = sorted(r[0] for r in results)
    assert ttfts[0] >= 0.040
    assert sum(1 for t in ttfts if t < service) <= 4
    for rank, ttft in enumerate(ttfts):
        assert ttft >= (rank // 4) * service * 0.95, (rank, ttft)
    assert max(r[1] for r in results) >= (n // 4) * service * 0.95
    metrics = httpx.get(server.url("/metrics"), timeout=5).text
    queue_sum = next(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                     if line.startswith("vllm:request_queue_time_seconds_sum"))
    assert queue_sum >= sum((rank // 4) * service * 0.9 for rank in range(n))


def test_clients_that_hang_up_give_their_slots_back(server):
    """Four streams hold the four slots for ~10 s each; hanging up must free them at once (no slot leak)."""
    body = {"model": "tiny", "messages": [{"role": "user", "content": "Talk for a long time."}], "stream": True,
            "max_tokens": 1000, "ignore_eos": True}
    with httpx.Client(base_url=server.url(), timeout=30) as client, contextlib.ExitStack() as stack:
        for _ in range(4):
            response = stack.enter_context(client.stream("POST", "/v1/chat/completions", json=body))
            for line in response.iter_lines():
                if '"content":"' in line and '"role"' not in line:
                    break
    started = time.monotonic()
    quick = post(server, "/v1/completions", {"model": "tiny", "prompt": "What is 2 plus 2?"}, timeout=8)
    assert quick.json()["choices"][0]["text"] == "4" and time.monotonic() - started < 8
    metrics = httpx.get(server.url("/metrics"), timeout=5).text
    aborted = next(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
                   if line.startswith("vllm:request_success_total") and 'finished_reason="abort"' in line)
    assert aborted >= 4


# --- framework flavours --------------------------------------------------------------------------


@pytest.mark.parametrize("framework", ["sglang", "tgi", "llama.cpp", "transformers"])
def test_each_framework_logs_its_ready_line_and_serves(framework, tmp_path):
    model = TINY
    if framework == "llama.cpp":
        model = str(write_tiny_gguf(tmp_path / "tiny.gguf"))
    args = {"sglang": ["--model-path", model, "--served-model-name", "tiny", "--enable-metrics"],
            "tgi": ["--model-id", model, "--hostname", "127.0.0.1"],
            "llama.cpp": ["-m", model, "--alias", "tiny", "-c", "1024", "--parallel", "2", "--metrics"],
            "transformers": ["--force-model", model]}[framework]
    if framework != "tgi":
        args += ["--host", "127.0.0.1"]
    sim = SimProcess(args)
    try:
        sim.wait_for(READY[framework])
        models = httpx.get(sim.url("/v1/models"), timeout=5).json()["data"]
        name = models[0]["id"]
        reply = post(sim, "/v1/chat/completions", {"model": name, "messages": [
            {"role": "user", "content": "What is 20 plus 22?"}]}).json()
        assert reply["choices"][0]["message"]["content"] == "42"
        assert httpx.get(sim.url("/metrics"), timeout=5).status_code == 200 or framework == "transformers"
    finally:
        assert sim.terminate() == 0
    assert "Traceback" not in sim.log


def test_llama_cpp_health_is_503_while_loading(tmp_path):
    model = str(write_tiny_gguf(tmp_path / "tiny.gguf"))
    sim = SimProcess(["-m", model, "--host", "127.0.0.1"], env={"MODELDEPLOY_SIM_STARTUP_S": "2"})
    try:
        sim.wait_for("llama_model_loader: loaded meta data")
        loading = httpx.get(sim.url("/health"), timeout=5)
        assert loading.status_code == 503 and loading.json()["error"]["message"] == "Loading model"
        assert httpx.get(sim.url("/metrics"), timeout=5).status_code == 501  # no --metrics
        sim.wait_for(READY["llama.cpp"])
        assert httpx.get(sim.url("/health"), timeout=5).json() == {"status": "ok"}
    finally:
        sim.terminate()


def test_api_key_is_enforced():
    sim = SimProcess(["--model", TINY, "--host", "127.0.0.1", "--api-key", "sekrit"])
    try:
        sim.wait_for(READY["vllm"])
        assert httpx.get(sim.url("/v1/models"), timeout=5).status_code == 401
        ok = httpx.get(sim.url("/v1/models"), headers={"Authorization": "Bearer sekrit"}, timeout=5)
        assert ok.status_code == 200 and httpx.get(sim.url("/health"), timeout=5).status_code == 200
    finally:
        sim.terminate()


def test_unknown_flags_warn_and_still_serve():
    sim = SimProcess(["--model", TINY, "--host", "127.0.0.1", "--frobnicate", "7"])
    try:
        sim.wait_for(READY["vllm"])
        assert "['--frobnicate', '7']" in sim.log and " WARNING " in sim.log
    finally:
        sim.terminate()


# --- shutdown ------------------------------------------------------------------------------------


def test_sigterm_during_a_stream_exits_promptly():
    sim = SimProcess(["--model", TINY, "--host", "127.0.0.1"], env={"MODELDEPLOY_SIM_TPOT_MS": "50"})
    sim.wait_for(READY["vllm"])
    body = {"model": TINY, "messages": [{"role": "user", "content": "Go on forever."}], "stream": True,
            "max_tokens": 1000, "ignore_eos": True}
    with httpx.stream("POST", sim.url("/v1/chat/completions"), json=body, timeout=30) as response:
        for line in response.iter_lines():
            if '"content":"' in line and '"role"' not in line:
                break  # tokens are flowing
        started = time.monotonic()
        sim.proc.send_signal(signal.SIGTERM)
        code = sim.proc.wait(10)
        elapsed = time.monotonic() - started
    sim.terminate()
    assert code == 0 and elapsed < 5
    assert "Application shutdown complete." in sim.log


def test_sigterm_while_loading_exits_promptly():
    sim = SimProcess(["--model", TINY, "--host", "127.0.0.1"], env={"MODELDEPLOY_SIM_STARTUP_S": "60"})
    sim.wait_for("Resolved architecture")
    started = time.monotonic()
    assert sim.terminate() == 0 and time.monotonic() - started < 5
