"""Records to metrics, with the reference definitions (docs/benchmarking.md):

- TTFT: arrival of the first event carrying content (text or reasoning) - send time; a role-only or empty
  first chunk does not count (vllm#3759).
- E2E: arrival of the stream's last event - send time.
- TPOT: (E2E - TTFT) / (output tokens - 1), per request with at least 2 output tokens.
- ITL, chunk level: gaps between consecutive content events. Token level: each gap divided by the tokens
  its chunk carried, once per token (a chunk of 4 tokens after 40 ms is 4 gaps of 10 ms).
- Output tokens: the server's `usage.completion_tokens`, else the tokenizer on the text, else content
  chunks (`output_tokens_source` says which). Tokens per chunk: the `continuous_usage_stats` deltas when the
  server sends them, else the total split over the chunks in proportion to their tokens (tokenizer) or text.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

from modeldeploy.tools.bench.client import Record
from modeldeploy.tools.bench.schema import SLO, Goodput
from modeldeploy.tools.bench.sse import events
from modeldeploy.tools.bench.tokenizer import Tokenizer
from modeldeploy.tools.bench.workloads import RequestSpec

SOURCE_RANK = {"usage": 0, "tokenizer": 1, "chunks": 2}


@dataclass
class RequestMetrics:
    index: int
    ok: bool
    error: str | None
    message: str
    dispatched_s: float
    sent_s: float
    end_s: float
    dispatch_lag_ms: float
    input_tokens: int
    output_tokens: int
    requested_output_tokens: int
    source: str
    chunks: int = 0
    ttft_ms: float | None = None
    e2e_ms: float | None = None
    tpot_ms: float | None = None
    first_s: float | None = None
    itl_ms: list[float] = field(default_factory=list)
    itl_chunk_ms: list[float] = field(default_factory=list)


def _content(doc: dict) -> str:
    choices = doc.get("choices") or []
    if not choices or not isinstance(choices[0], dict):
        return ""
    choice = choices[0]
    delta = choice.get("delta")
    if isinstance(delta, dict):
        parts = [delta.get("content"), delta.get("reasoning_content"), delta.get("reasoning")]
        return "".join(p for p in parts if isinstance(p, str))
    text = choice.get("text")
    return text if isinstance(text, str) else ""


def _split(total: int, texts: Sequence[str], tokenizer: Tokenizer | None = None) -> list[int]:
    """`total` tokens over chunks in proportion to their tokens (tokenizer) or text length, at least one each."""
    n = len(texts)
    if total <= n:
        return [1] * n
    weights = [max(tokenizer.count(t) if tokenizer else len(t), 1) for t in texts]
    whole = sum(weights)
    if whole == total:
        return weights
    shares = [total * w / whole for w in weights]
    counts = [max(int(s), 1) for s in shares]
    order = sorted(range(n), key=lambda i: shares[i] - int(shares[i]), reverse=True)
    for i in order[:max(total - sum(counts), 0)]:
        counts[i] += 1
    while sum(counts) > total:  # the minimum of one per chunk overshot: take from the largest
        counts[counts.index(max(counts))] -= 1
    return counts


def request_metrics(record: Record, spec: RequestSpec, origin: float, tokenizer: Tokenizer | None) -> RequestMetrics:
    """One request's metrics (origin: the run's start, for relative times)."""
    lag = ((record.started - record.scheduled) if record.scheduled is not None else (record.sent - record.ready))
    dispatched = record.started if record.scheduled is not None else record.sent
    out = RequestMetrics(index=record.index, ok=False, error=record.error, message=record.message,
                         dispatched_s=dispatched - origin, sent_s=record.sent - origin, end_s=record.end - origin, dispatch_lag_ms=max(lag, 0.0) * 1000,
                         input_tokens=spec.input_len, output_tokens=0, requested_output_tokens=spec.output_len,
                         source="chunks")
    if record.error:
        return out
    times: list[float] = []
    texts: list[str] = []
    deltas: list[int | None] = []
    usage: dict | None = None
    previous = 0
    last_event = None
    done = False
    for t, data in events(record.times, record.reads):
        last_event = t
        if data == "[DONE]":
            done = True
            continue
        try:
            doc = json.loads(data)
        except json.JSONDecodeError:
            out.error, out.message = "bad_stream", f"not JSON: {data[:80]}"
            return out
        if not isinstance(doc, dict):
            continue
        if doc.get("error"):
            err = doc["error"]
            out.error, out.message = "stream_error", str(err.get("message") if isinstance(err, dict) else err)[:300]
            return out
        u = doc.get("usage")
        completion = u.get("completion_tokens") if isinstance(u, dict) else None
        text = _content(doc)
        if text:
            times.append(t)
            texts.append(text)
            deltas.append(completion - previous if isinstance(completion, int) and completion > previous else None)
        if isinstance(completion, int):
            usage, previous = u, max(previous, completion)
    if not times:
        out.error, out.message = "no_content", "the stream carried no text" + ("" if done else " and no [DONE]")
        return out
    if usage is not None and isinstance(usage.get("completion_tokens"), int):
        total, out.source = usage["completion_tokens"], "usage"
        if isinstance(usage.get("prompt_tokens"), int):
            out.input_tokens = usage["prompt_tokens"]
    elif tokenizer is not None:
        total, out.source = tokenizer.count("".join(texts)), "tokenizer"
    else:
        total = len(times)
    total = max(total, 1)
    per_chunk = deltas if all(d is not None for d in deltas) and sum(deltas) == total else _split(total, texts, tokenizer)
    out.ok = True
    out.chunks = len(times)
    out.output_tokens = total
    out.first_s = times[0] - origin
    out.ttft_ms = (times[0] - record.sent) * 1000
    out.e2e_ms = ((last_event or times[-1]) - record.sent) * 1000
    if total > 1:
        out.tpot_ms = (out.e2e_ms - out.ttft_ms) / (total - 1)
    for i in range(1, len(times)):
        gap = (times[i] - times[i - 1]) * 1000
        out.itl_chunk_ms.append(gap)
        n = max(per_chunk[i], 1)
        out.itl_ms.extend([gap / n] * n)
    return out


def run_source(metrics: Sequence[RequestMetrics]) -> str:
    """The weakest token source used by any completed request."""
    sources = [m.source for m in metrics if m.ok] or ["chunks"]
    return max(sources, key=lambda s: SOURCE_RANK[s])


def meets(m: RequestMetrics, slo: SLO) -> bool:
    if not m.ok:
        return False
    checks = ((slo.ttft_ms, m.ttft_ms), (slo.tpot_ms, m.tpot_ms), (slo.e2e_ms, m.e2e_ms))
    return all(limit is None or (value is not None and value <= limit) for limit, value in checks)


def goodput(metrics: Sequence[RequestMetrics], slo: SLO, duration_s: float) -> Goodput | None:
    if slo.empty():
        return None
    good = sum(1 for m in metrics if meets(m, slo))
    completed = sum(1 for m in metrics if m.ok)
    return Goodput(slo=slo, requests=good, request_rate=good / duration_s if duration_s > 0 else 0.0,
                   fraction=good / completed if completed else 0.0)


def error_counts(metrics: Sequence[RequestMetrics]) -> dict[str, int]:
    return dict(Counter(m.error for m in metrics if not m.ok and m.error))


def timeline(metrics: Sequence[RequestMetrics], duration_s: float) -> list[dict]:
    """Per second of the run: requests sent and completed, output tokens, requests in flight at the second's end."""
    seconds = int(duration_s) + 1
    rows = [{"t_s": s, "sent": 0, "completed": 0, "output_tokens": 0, "in_flight": 0} for s in range(seconds)]
    for m in metrics:
        rows[min(max(int(m.sent_s), 0), seconds - 1)]["sent"] += 1
        if m.ok:
            end = rows[min(max(int(m.end_s), 0), seconds - 1)]
            end["completed"] += 1
            end["output_tokens"] += m.output_tokens
    for row in rows:
        edge = row["t_s"] + 1
        row["in_flight"] = sum(1 for m in metrics if m.sent_s < edge <= m.end_s)
    return rows
