"""The benchmark's configuration and its result document (schema version 1, documented in docs/benchmarking.md).

Times in the document are milliseconds (`*_ms`) or seconds (`*_s`); throughputs are per second of the
run's window, which is the first request's send to the last response's end (warm-up excluded).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

SCHEMA_VERSION = 1
TokenSource = Literal["usage", "tokenizer", "chunks"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SLO(_Strict):
    """Per-request limits; a request meets the SLO when it is under every limit given."""
    ttft_ms: float | None = Field(None, gt=0)
    tpot_ms: float | None = Field(None, gt=0)
    e2e_ms: float | None = Field(None, gt=0)

    def empty(self) -> bool:
        return self.ttft_ms is None and self.tpot_ms is None and self.e2e_ms is None


class Load(_Strict):
    """One load point: a fixed number of users (closed loop), or an arrival rate (open loop)."""
    concurrency: int | None = Field(None, ge=1)
    rate: float | None = Field(None, gt=0, description="Requests per second; arrivals Poisson (burstiness 1) or gamma.")
    burstiness: float = Field(1.0, gt=0, description="Gamma shape: 1 = Poisson, < 1 burstier, > 1 more regular.")
    max_concurrency: int | None = Field(None, ge=1, description="With a rate: at most this many in flight.")

    @model_validator(mode="after")
    def _one_shape(self) -> "Load":
        if (self.concurrency is None) == (self.rate is None):
            raise ValueError("a load is either a concurrency or a rate")
        if self.concurrency is not None and self.max_concurrency is not None:
            raise ValueError("max_concurrency only caps a rate")
        return self

    @property
    def label(self) -> str:
        if self.concurrency is not None:
            return f"concurrency {self.concurrency}"
        cap = f" (cap {self.max_concurrency})" if self.max_concurrency else ""
        return f"rate {self.rate:g}/s{cap}"


class WorkloadSpec(_Strict):
    """What to send. `random`: prompts of `input_len` tokens (± `range_ratio`), `output_len` tokens asked."""
    kind: Literal["random", "sharegpt", "jsonl", "prefix"] = "random"
    input_len: int = Field(128, ge=1)
    output_len: int = Field(128, ge=1)
    range_ratio: float = Field(0.0, ge=0, lt=1, description="Lengths drawn uniformly in [len*(1-r), len*(1+r)].")
    dataset: str | None = None
    prefix_len: int = Field(0, ge=0, description="kind=prefix: tokens shared by every prompt of a group.")
    num_prefixes: int = Field(1, ge=1)
    seed: int = 0


class BenchConfig(_Strict):
    """Everything a benchmark needs; the CLI and the graph node both build one."""
    endpoint: str
    model: str
    api: Literal["chat", "completions"] = "chat"
    loads: list[Load] = Field(default_factory=lambda: [Load(concurrency=1)])
    num_requests: int | None = Field(None, ge=1)
    duration_s: float | None = Field(None, gt=0)
    warmup_requests: int = Field(0, ge=0)
    workload: WorkloadSpec = Field(default_factory=WorkloadSpec)
    slo: SLO = Field(default_factory=SLO)
    ignore_eos: bool = Field(True, description="Send ignore_eos and min_tokens so that outputs are as long as asked.")
    tokenizer: str | None = Field(None, description="Tokenizer directory or hub id; default: the model's, if found.")
    timeout_s: float = Field(600.0, gt=0)
    scrape_metrics: bool = True
    scrape_interval_s: float = Field(1.0, gt=0)
    seed: int = 0

    @field_validator("endpoint")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"endpoint must be an http(s) URL, got {value!r}")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _bounded(self) -> "BenchConfig":
        if self.num_requests is None and self.duration_s is None:
            self.num_requests = 100
        return self


class Stats(BaseModel):
    count: int = 0
    mean: float | None = None
    median: float | None = None
    p90: float | None = None
    p95: float | None = None
    p99: float | None = None
    min: float | None = None
    max: float | None = None
    std: float | None = None


class Goodput(BaseModel):
    slo: SLO
    requests: int = Field(description="Completed requests meeting every limit of the SLO.")
    request_rate: float = Field(description="Those requests / the run's duration.")
    fraction: float = Field(description="Of completed requests.")


class Validity(BaseModel):
    """Client-side health of one run; `reasons` names every check that failed (empty when valid)."""
    target_rate: float | None = None
    achieved_rate: float = Field(description="(Requests dispatched - 1) / the window from the first to the last "
                                             "dispatch (before any wait for a concurrency cap).")
    target_concurrency: int | None = None
    achieved_concurrency: float = Field(description="Time-weighted mean of requests in flight over the run.")
    dispatch_lag_ms: Stats = Field(description="Send time - scheduled time (rate) or - the previous response's end "
                                               "on the same user (concurrency); client queueing under a cap excluded.")
    client_queue_ms: Stats = Field(default_factory=Stats, description="Time waiting for the concurrency cap.")
    loop_lag_ms: Stats = Field(description="Event-loop oversleep of a 20 ms timer: delay of every timestamp taken.")
    client_cpu_percent: float = Field(description="Client process CPU (user+system) / wall time, % of one core.")
    client_cpu_peak_percent: float
    reasons: list[str] = Field(default_factory=list)


class ServerMetrics(BaseModel):
    """The server's own view from Prometheus /metrics: deltas over the run and gauges sampled during it."""
    url: str
    samples: int
    queue_time_ms_mean: float | None = None
    server_ttft_ms_mean: float | None = None
    server_tpot_ms_mean: float | None = None
    server_e2e_ms_mean: float | None = None
    requests_finished: float | None = None
    generation_tokens: float | None = None
    prompt_tokens: float | None = None
    running: Stats = Field(default_factory=Stats)
    waiting: Stats = Field(default_factory=Stats)
    kv_cache_usage_percent: Stats = Field(default_factory=Stats)
    timeline: list[dict] = Field(default_factory=list, description="[{t_s, running, waiting, kv_cache_usage_percent}]")
    error: str | None = None


class RunResult(BaseModel):
    """One load point."""
    concurrency: int | None = None
    rate: float | None = None
    burstiness: float | None = None
    max_concurrency: int | None = None
    label: str
    completed: int
    failed: int
    errors: dict[str, int] = Field(default_factory=dict, description="Failed requests by type.")
    error_rate: float
    duration_s: float = Field(description="First send to last response end.")
    request_throughput: float
    output_token_throughput: float
    input_token_throughput: float
    total_token_throughput: float
    total_input_tokens: int
    total_output_tokens: int
    output_tokens_source: TokenSource
    ttft_ms: Stats
    tpot_ms: Stats
    itl_ms: Stats = Field(description="Token-level inter-token latency: chunk gaps split over the chunk's tokens.")
    itl_chunk_ms: Stats = Field(description="Gaps between consecutive content chunks as received.")
    e2e_ms: Stats
    input_len: Stats
    output_len: Stats
    goodput: Goodput | None = None
    valid: bool
    validity: Validity
    server: ServerMetrics | None = None
    timeline: list[dict] = Field(default_factory=list, description="Per second: {t_s, sent, completed, "
                                                                    "output_tokens, in_flight}.")


class SweepSummary(BaseModel):
    saturation_concurrency: int | None = Field(None, description="Smallest load beyond which throughput gains < 10%.")
    max_request_throughput: float
    max_output_token_throughput: float


class SLOSearch(BaseModel):
    slo: SLO
    attainment: float = Field(0.9, description="A load meets the SLO when this fraction of its completed requests "
                                                "meets every limit, the run is valid and at most 1% failed.")
    best_load: Load | None = Field(None, description="Highest load that met the SLO; None if even the lowest did not.")
    best_run: int | None = Field(None, description="Its index in `runs`.")
    tried: list[dict] = Field(default_factory=list, description="[{label, met, attainment}] in the order run.")


class BenchDocument(BaseModel):
    schema_version: int = SCHEMA_VERSION
    tool: str = "modeldeploy bench"
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    endpoint: str
    model: str
    api: str
    tokenizer: str | None = None
    config: dict
    runs: list[RunResult]
    sweep: SweepSummary | None = None
    slo_search: SLOSearch | None = None
    deployment: str | None = None
    comparison: list[dict] | None = Field(None, description="Against the previous run of the same deployment.")
