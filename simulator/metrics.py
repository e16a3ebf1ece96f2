"""Prometheus text exposition with vLLM's metric names (plus a few native names of the other servers).

vLLM names: vllm:num_requests_running, vllm:num_requests_waiting, vllm:gpu_cache_usage_perc (and the
newer vllm:kv_cache_usage_perc), vllm:prompt_tokens_total, vllm:generation_tokens_total,
vllm:request_success_total{finished_reason}, and the histograms vllm:time_to_first_token_seconds,
vllm:time_per_output_token_seconds, vllm:e2e_request_latency_seconds, vllm:request_queue_time_seconds,
vllm:request_prompt_tokens, vllm:request_generation_tokens. Buckets are vLLM's.

vLLM's API server also carries prometheus-fastapi-instrumentator's HTTP metrics (its /metrics, /health, /load,
/ping, /version and /server_info excluded): http_requests_total{handler,method,status}, the high-resolution
http_request_duration_highr_seconds (no labels) and http_request_duration_seconds{handler,method}. They time a
request from its bytes reaching the process (or the end of the previous request on its connection, if they came
earlier) to its last byte written: what the server spent on it, HTTP parsing, serialisation and its event loop's
queue included, which the engine histograms leave out (bench/eval_client_overhead.py reads them).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0,
                40.0, 80.0, 160.0, 640.0, 2560.0)
TPOT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0,
                80.0)
LATENCY_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0,
                   480.0, 960.0, 1920.0, 7680.0)
HTTP_HIGHR_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0,
                      7.5, 10.0, 30.0, 60.0)
HTTP_BUCKETS = (0.1, 0.5, 1.0)
HTTP_EXCLUDED = frozenset({"/metrics", "/health", "/load", "/ping", "/version", "/server_info"})
TOKEN_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000)


@dataclass
class Histogram:
    buckets: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    n: int = 0

    def __post_init__(self):
        self.counts = [0] * (len(self.buckets) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.total += value
        self.n += 1


class HttpMetrics:
    """prometheus-fastapi-instrumentator's default metrics, as vLLM's API server exposes them."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, str, str], int] = {}
        self.highr = Histogram(HTTP_HIGHR_BUCKETS)
        self.duration: dict[tuple[str, str], Histogram] = {}

    def observe(self, handler: str, method: str, status: int, seconds: float) -> None:
        if handler in HTTP_EXCLUDED:
            return
        key = (handler, method, f"{status // 100}xx")
        self.requests[key] = self.requests.get(key, 0) + 1
        self.highr.observe(seconds)
        hist = self.duration.get((handler, method))
        if hist is None:
            hist = self.duration[(handler, method)] = Histogram(HTTP_BUCKETS)
        hist.observe(seconds)

    def render(self) -> list[str]:
        out = ["# HELP http_requests_total Total number of requests by method, status and handler.",
               "# TYPE http_requests_total counter"]
        for (handler, method, status), n in sorted(self.requests.items()):
            out.append(f'http_requests_total{{handler="{_escape(handler)}",method="{method}",status="{status}"}} '
                       f"{_num(n)}")
        out += _histogram("http_request_duration_highr_seconds",
                          "Latency with many buckets but no API specific labels. Made for more accurate percentile "
                          "calculations.", [("", self.highr)])
        out += _histogram("http_request_duration_seconds",
                          "Latency with only few buckets by handler. Made to be only used if aggregation by handler "
                          "is important.",
                          [(f'handler="{_escape(h)}",method="{m}"', hist) for (h, m), hist in
                           sorted(self.duration.items())])
        return out


def _histogram(name: str, help_: str, series: list[tuple[str, Histogram]]) -> list[str]:
    out = [f"# HELP {name} {help_}", f"# TYPE {name} histogram"]
    for labels, h in series:
        sep = "," if labels else ""
        cumulative = 0
        for bound, count in zip(h.buckets, h.counts, strict=False):
            cumulative += count
            out.append(f'{name}_bucket{{{labels}{sep}le="{_num(bound)}"}} {_num(cumulative)}')
        out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {_num(h.n)}')
        braces = f"{{{labels}}}" if labels else ""
        out.append(f"{name}_count{braces} {_num(h.n)}")
        out.append(f"{name}_sum{braces} {_num(h.total)}")
    return out


def _num(v: float) -> str:
    return repr(float(v))


class Metrics:
    """Counters, gauges and histograms of one served model."""

    def __init__(self, model_name: str):
        self.model_name = model_name
        self.prompt_tokens = 0
        self.generation_tokens = 0
        self.success: dict[str, int] = {"stop": 0, "length": 0, "abort": 0}
        self.running = 0
        self.waiting = 0
        self.cache_usage = 0.0
        self.ttft = Histogram(TTFT_BUCKETS)
        self.tpot = Histogram(TPOT_BUCKETS)
        self.e2e = Histogram(LATENCY_BUCKETS)
        self.queue = Histogram(LATENCY_BUCKETS)
        self.prefill = Histogram(LATENCY_BUCKETS)
        self.decode = Histogram(LATENCY_BUCKETS)
        self.prompt_hist = Histogram(TOKEN_BUCKETS)
        self.gen_hist = Histogram(TOKEN_BUCKETS)
        self.http = HttpMetrics()

    def finished(self, reason: str, prompt_tokens: int, output_tokens: int, queue_s: float, ttft_s: float | None,
                 e2e_s: float, first_token_at: float | None, last_token_at: float | None) -> None:
        self.success[reason] = self.success.get(reason, 0) + 1
        self.prompt_hist.observe(prompt_tokens)
        self.gen_hist.observe(output_tokens)
        self.queue.observe(queue_s)
        self.e2e.observe(e2e_s)
        if ttft_s is not None:
            self.prefill.observe(max(ttft_s - queue_s, 0.0))
        if first_token_at is not None and last_token_at is not None:
            self.decode.observe(max(last_token_at - first_token_at, 0.0))
            if output_tokens > 1:
                self.tpot.observe((last_token_at - first_token_at) / (output_tokens - 1))

    def render(self, framework: str = "vllm") -> str:
        labels = f'engine="0",model_name="{_escape(self.model_name)}"'
        out: list[str] = []

        def metric(name: str, kind: str, help_: str, value: float, extra: str = "") -> None:
            out.append(f"# HELP {name} {help_}")
            out.append(f"# TYPE {name} {kind}")
            out.append(f"{name}{{{labels}{extra}}} {_num(value)}")

        def histogram(name: str, help_: str, h: Histogram) -> None:
            out.extend(_histogram(name, help_, [(labels, h)]))

        metric("vllm:num_requests_running", "gauge", "Number of requests in model execution batches.", self.running)
        metric("vllm:num_requests_waiting", "gauge", "Number of requests waiting to be processed.", self.waiting)
        metric("vllm:gpu_cache_usage_perc", "gauge", "GPU KV-cache usage. 1 means 100 percent usage.", self.cache_usage)
        metric("vllm:kv_cache_usage_perc", "gauge", "KV-cache usage. 1 means 100 percent usage.", self.cache_usage)
        metric("vllm:num_preemptions_total", "counter", "Cumulative number of preemption from the engine.", 0)
        metric("vllm:prompt_tokens_total", "counter", "Number of prefill tokens processed.", self.prompt_tokens)
        metric("vllm:generation_tokens_total", "counter", "Number of generation tokens processed.",
               self.generation_tokens)
        out.append("# HELP vllm:request_success_total Count of successfully processed requests.")
        out.append("# TYPE vllm:request_success_total counter")
        for reason in sorted(self.success):
            out.append(f'vllm:request_success_total{{{labels},finished_reason="{reason}"}} {_num(self.success[reason])}')
        histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", self.ttft)
        histogram("vllm:time_per_output_token_seconds", "Histogram of time per output token in seconds.", self.tpot)
        histogram("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.", self.e2e)
        histogram("vllm:request_queue_time_seconds", "Histogram of time spent in WAITING phase for request.",
                  self.queue)
        histogram("vllm:request_prefill_time_seconds", "Histogram of time spent in PREFILL phase for request.",
                  self.prefill)
        histogram("vllm:request_decode_time_seconds", "Histogram of time spent in DECODE phase for request.",
                  self.decode)
        histogram("vllm:request_prompt_tokens", "Number of prefill tokens processed.", self.prompt_hist)
        histogram("vllm:request_generation_tokens", "Number of generation tokens processed.", self.gen_hist)
        if framework == "vllm":
            out.extend(self.http.render())
        out.extend(self._native(framework))
        return "\n".join(out) + "\n"

    def _native(self, framework: str) -> list[str]:
        done = sum(self.success.values())
        if framework == "sglang":
            rows = [("sglang:num_running_reqs", "gauge", self.running), ("sglang:num_queue_reqs", "gauge", self.waiting),
                    ("sglang:token_usage", "gauge", self.cache_usage),
                    ("sglang:prompt_tokens_total", "counter", self.prompt_tokens),
                    ("sglang:generation_tokens_total", "counter", self.generation_tokens),
                    ("sglang:num_requests_total", "counter", done)]
            labels = f'{{model_name="{_escape(self.model_name)}"}}'
        elif framework == "tgi":
            rows = [("tgi_queue_size", "gauge", self.waiting), ("tgi_batch_current_size", "gauge", self.running),
                    ("tgi_request_success", "counter", done - self.success.get("abort", 0)),
                    ("tgi_request_count", "counter", done)]
            labels = ""
        elif framework == "llama.cpp":
            rows = [("llamacpp:prompt_tokens_total", "counter", self.prompt_tokens),
                    ("llamacpp:tokens_predicted_total", "counter", self.generation_tokens),
                    ("llamacpp:requests_processing", "gauge", self.running),
                    ("llamacpp:requests_deferred", "gauge", self.waiting),
                    ("llamacpp:kv_cache_usage_ratio", "gauge", self.cache_usage)]
            labels = ""
        else:
            return []
        out = []
        for name, kind, value in rows:
            out += [f"# TYPE {name} {kind}", f"{name}{labels} {_num(value)}"]
        return out


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
