"""The bench's pure parts: SSE framing, per-request metrics, token sources, stats, arrivals, validity,
Prometheus parsing, workloads, CLI parsing."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from modeldeploy.errors import UserInputError
from modeldeploy.tools.bench.analyze import goodput, request_metrics, run_source
from modeldeploy.tools.bench.client import Record
from modeldeploy.tools.bench.loadgen import arrival_offsets
from modeldeploy.tools.bench.prometheus import parse
from modeldeploy.tools.bench.schema import SLO, BenchConfig, Load
from modeldeploy.tools.bench.sse import events
from modeldeploy.tools.bench.stats import summarize
from modeldeploy.tools.bench.validity import verdict
from modeldeploy.tools.bench.workloads import RequestSpec, WorkloadSpec, build_specs, detect_kind
from modeldeploy.tools.bench.tokenizer import load_tokenizer

ROOT = Path(__file__).resolve().parents[2]
SPEC = RequestSpec("hi", 2, 8)


def sse(doc) -> bytes:
    return b"data: " + (doc if isinstance(doc, bytes) else json.dumps(doc).encode()) + b"\n\n"


def chat(text=None, role=False, usage=None, finish=None) -> bytes:
    delta = {"role": "assistant", "content": ""} if role else ({"content": text} if text is not None else {})
    doc = {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    if usage is not None:
        doc["usage"] = {"prompt_tokens": 5, "completion_tokens": usage}
    return sse(doc)


def record(parts: list[tuple[float, bytes]], sent: float = 10.0, **kw) -> Record:
    r = Record(index=0, spec=0, sent=sent, ready=sent, started=sent, end=parts[-1][0] if parts else sent, **kw)
    r.times, r.reads = [t for t, _ in parts], [b for _, b in parts]
    return r


def test_an_event_arrives_with_the_read_that_completes_it_and_crlf_framing_works():
    got = list(events([1.0, 2.0, 3.0], [b"data: a\r", b"\n\r\ndata: b", b"\n\ndata: [DONE]\n\n"]))
    assert got == [(2.0, "a"), (3.0, "b"), (3.0, "[DONE]")]


def test_the_role_only_first_chunk_is_not_the_first_token():
    r = record([(10.001, chat(role=True)), (10.200, chat("a", usage=1)), (10.210, chat(" b", usage=2)),
                (10.220, chat(" c", usage=3, finish="length")), (10.221, sse(b"[DONE]"))])
    m = request_metrics(r, SPEC, 10.0, None)
    assert m.ok and m.source == "usage" and m.output_tokens == 3 and m.input_tokens == 5
    assert m.ttft_ms == pytest.approx(200.0)
    assert m.e2e_ms == pytest.approx(221.0)
    assert m.tpot_ms == pytest.approx((221.0 - 200.0) / 2)
    assert m.itl_chunk_ms == pytest.approx([10.0, 10.0])


def test_token_level_itl_splits_a_chunk_gap_over_its_tokens_by_continuous_usage():
    r = record([(10.2, chat("a", usage=1)), (10.24, chat(" b c d e", usage=5)), (10.27, chat(" f g h", usage=8)),
                (10.27, sse({"choices": [], "usage": {"completion_tokens": 8}}))])
    m = request_metrics(r, SPEC, 10.0, None)
    assert m.itl_chunk_ms == pytest.approx([40.0, 30.0])
    assert m.itl_ms == pytest.approx([10.0] * 7)


def test_without_usage_tokens_come_from_the_tokenizer_and_are_split_by_text_length():
    tok = load_tokenizer(str(ROOT / "models" / "tiny-llama"))
    assert tok is not None
    r = record([(10.2, chat("Hello")), (10.3, chat(" there, how are you today?"))])
    m = request_metrics(r, SPEC, 10.0, tok)
    assert m.source == "tokenizer" and m.output_tokens == tok.count("Hello there, how are you today?")
    assert len(m.itl_ms) == m.output_tokens - tok.count("Hello")  # the second chunk's tokens share its gap
    assert sum(m.itl_ms) == pytest.approx(100.0)


def test_without_usage_or_tokenizer_a_chunk_counts_as_a_token_and_the_run_says_so():
    r = record([(10.2, chat("a")), (10.3, chat("b"))])
    m = request_metrics(r, SPEC, 10.0, None)
    assert (m.source, m.output_tokens) == ("chunks", 2)
    ok = request_metrics(record([(10.2, chat("a", usage=1))]), SPEC, 10.0, None)
    assert run_source([ok, m]) == "chunks"


@pytest.mark.parametrize("parts, error", [
    ([(10.1, sse({"error": {"message": "boom"}}))], "stream_error"),
    ([(10.1, chat(role=True)), (10.2, sse(b"[DONE]"))], "no_content"),
    ([(10.1, sse(b"{not json"))], "bad_stream"),
], ids=["error-event", "empty", "garbage"])
def test_broken_streams_are_failures_by_type(parts, error):
    m = request_metrics(record(parts), SPEC, 10.0, None)
    assert not m.ok and m.error == error


def test_completions_text_and_reasoning_deltas_count_as_content():
    r = record([(10.1, sse({"choices": [{"delta": {"reasoning_content": "think"}}]})),
                (10.2, sse({"choices": [{"text": "x"}]}))])
    m = request_metrics(r, SPEC, 10.0, None)
    assert m.ttft_ms == pytest.approx(100.0) and m.chunks == 2


def test_goodput_counts_requests_under_every_limit():
    fast = request_metrics(record([(10.1, chat("a", usage=1)), (10.11, chat("b", usage=2))]), SPEC, 10.0, None)
    slow = request_metrics(record([(10.5, chat("a", usage=1)), (10.51, chat("b", usage=2))]), SPEC, 10.0, None)
    g = goodput([fast, slow], SLO(ttft_ms=200, tpot_ms=50), duration_s=2.0)
    assert (g.requests, g.request_rate, g.fraction) == (1, 0.5, 0.5)
    assert goodput([fast], SLO(), 1.0) is None


def test_stats_are_numpy_linear_percentiles():
    s = summarize(list(range(1, 101)))
    assert (s.mean, s.median, s.max, s.count) == (50.5, 50.5, 100, 100)
    assert s.p99 == pytest.approx(99.01) and s.p90 == pytest.approx(90.1)
    assert summarize([]).mean is None


@pytest.mark.parametrize("burstiness", [1.0, 0.25, 4.0])
def test_arrivals_have_exactly_the_target_mean_rate_and_the_asked_burstiness(burstiness):
    offsets = arrival_offsets(2001, 50.0, burstiness, seed=1)
    assert offsets[0] == 0 and offsets[-1] == pytest.approx(2000 / 50.0)
    gaps = np.diff(offsets)
    cv = gaps.std() / gaps.mean()  # gamma: CV = 1/sqrt(shape)
    assert cv == pytest.approx(1 / np.sqrt(burstiness), rel=0.15)


def _rows(n: int, rate: float, lag_ms: float = 0.1):
    from modeldeploy.tools.bench.analyze import RequestMetrics

    return [RequestMetrics(index=i, ok=True, error=None, message="", dispatched_s=i / rate, sent_s=i / rate,
                           end_s=i / rate + 0.5, dispatch_lag_ms=lag_ms, input_tokens=1, output_tokens=1,
                           requested_output_tokens=1, source="usage") for i in range(n)]


def test_a_client_that_under_delivers_its_rate_is_flagged_with_each_reason():
    ok = verdict(Load(rate=10), _rows(50, 10.0), 5.5, [0.5] * 100, 20.0, [20.0], [])
    assert ok.reasons == [] and ok.achieved_rate == pytest.approx(10.0)
    bad = verdict(Load(rate=10), _rows(50, 8.0, lag_ms=40), 6.6, [30.0] * 100, 97.0, [99.0], [])
    assert len(bad.reasons) == 4
    assert "below 95%" in bad.reasons[0] and "dispatch lag" in bad.reasons[1]
    assert "event-loop" in bad.reasons[2] and "CPU" in bad.reasons[3]


def test_prometheus_text_sums_label_sets_and_skips_buckets():
    text = ('# HELP x\nvllm:num_requests_running{model_name="a"} 2.0\nvllm:num_requests_running{model_name="b"} 1\n'
            'vllm:e2e_request_latency_seconds_bucket{le="1.0"} 4\nvllm:e2e_request_latency_seconds_sum{a="b"} 2.5\n'
            'vllm:e2e_request_latency_seconds_count 5\n')
    values = parse(text)
    assert values == {"vllm:num_requests_running": 3.0, "vllm:e2e_request_latency_seconds_sum": 2.5,
                      "vllm:e2e_request_latency_seconds_count": 5.0}


def test_random_prompts_are_exact_in_tokens_with_a_tokenizer():
    tok = load_tokenizer(str(ROOT / "models" / "tiny-llama"))
    specs = build_specs(WorkloadSpec(input_len=100, output_len=7, range_ratio=0.5, seed=3), 20, tok)
    assert all(tok.count(s.prompt) == s.input_len for s in specs)
    assert len({s.input_len for s in specs}) > 5 and all(50 <= s.input_len <= 150 for s in specs)
    words = build_specs(WorkloadSpec(input_len=12), 3, None)
    assert all(len(s.prompt.split()) == 12 for s in words)


def test_shared_prefix_prompts_share_their_group_prefix():
    specs = build_specs(WorkloadSpec(kind="prefix", prefix_len=30, input_len=5, num_prefixes=2), 6, None)
    heads = [" ".join(s.prompt.split()[:30]) for s in specs]
    assert heads[0] == heads[2] == heads[4] and heads[1] == heads[3] and heads[0] != heads[1]
    assert all(s.input_len == 35 for s in specs)


def test_datasets_jsonl_and_sharegpt(tmp_path: Path):
    jsonl = tmp_path / "p.jsonl"
    jsonl.write_text('{"prompt": "one two three", "output_len": 9}\n\n{"prompt": "four", "expected_output_len": 3}\n')
    specs = build_specs(WorkloadSpec(kind=detect_kind(str(jsonl)), dataset=str(jsonl)), 10, None)
    assert [(s.prompt, s.input_len, s.output_len) for s in specs] == [("one two three", 3, 9), ("four", 1, 3)]
    share = tmp_path / "sg.json"
    conv = [{"conversations": [{"from": "human", "value": "a b c d e"}, {"from": "gpt", "value": "f g h i j k"}]},
            {"conversations": [{"from": "human", "value": "too short"}, {"from": "gpt", "value": "x y z w"}]}]
    share.write_text(json.dumps(conv))
    specs = build_specs(WorkloadSpec(kind=detect_kind(str(share)), dataset=str(share)), 10, None)
    assert [(s.input_len, s.output_len) for s in specs] == [(5, 6)]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "x"}\n')
    with pytest.raises(UserInputError, match="bad.jsonl:1"):
        build_specs(WorkloadSpec(kind="jsonl", dataset=str(bad)), 10, None)


def test_config_needs_one_shape_per_load_and_defaults_to_100_requests():
    with pytest.raises(ValueError):
        Load(concurrency=2, rate=3)
    with pytest.raises(ValueError):
        Load(concurrency=2, max_concurrency=3)
    assert BenchConfig(endpoint="http://x:1/v1/", model="m").num_requests == 100
    with pytest.raises(ValueError):
        BenchConfig(endpoint="x:1", model="m")


def test_slo_option_parsing():
    from modeldeploy.cli.bench import parse_slo

    assert parse_slo("ttft=500,tpot=50ms,e2e=2000") == {"ttft_ms": 500, "tpot_ms": 50, "e2e_ms": 2000}
    for bad in ("ttft", "speed=3", "ttft=abc", "tpot=-1"):
        with pytest.raises(UserInputError):
            parse_slo(bad)
