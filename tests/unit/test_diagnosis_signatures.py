"""The signature catalog (catalog/failure_signatures.yaml) and the fast line matcher.

The catalog must hold every row of failure-signatures.md with a valid category and a fix or a human
action; bad catalog text is refused with the reason. `match_line` must return exactly what trying every
signature's regex on the line returns (its gates are only a shortcut), and be fast.
"""

from __future__ import annotations

import random
import re
import time
from pathlib import Path

import pytest

from modeldeploy.tools.diagnosis.signatures import (ACTIONS, CATEGORIES, Matcher, choose_gate, load_signatures,
                                                    match_line, matcher, parse_catalog, required_literals,
                                                    signature)

ROOT = Path(__file__).resolve().parents[2]
LOG_FIXTURES = ROOT / "tests" / "fixtures" / "logs"

REQUIRED_IDS = {
    "cuda_oom": 1, "kv_cache_too_small": 2, "no_cache_blocks": 3, "bf16_unsupported": 4, "fp8_unsupported": 5,
    "trust_remote_code": 6, "arch_unsupported": 7, "tp_heads": 8, "driver_too_old": 9, "nvidia_cli_cuda": 10,
    "error_804": 11, "no_gpu_runtime": 12, "no_kernel_image": 13, "flash_attn_ampere": 14, "nccl_shm": 15,
    "max_len_above_derived": 16, "gated_repo": 17, "engine_core_wrapper": 18, "tgi_prefill_oom": 19,
    "tgi_shard_heads": 20, "sglang_mem_fraction": 21, "llamacpp_unknown_arch": 22, "llamacpp_cuda_oom": 23,
    "k8s_startup_probe": 24, "port_in_use": 25, "safetensors_corrupt": 26,
}
EXTRA_IDS = {"missing_tokenizer": "missing_tokenizer", "model_not_found": "model_not_found",
             "bad_argument": "bad_argument", "head_dim_unsupported": "unsupported_head_dim_or_kernel",
             "first_request_crash": "other"}
HUMAN_ONLY = {"no_gpu_runtime": "gpu_runtime_missing", "gated_repo": "gated_model"}


def test_every_reference_row_has_a_signature():
    sigs = {s.id: s for s in load_signatures().signatures}
    for sid, row in REQUIRED_IDS.items():
        assert sid in sigs, sid
        assert sigs[sid].row == row, sid
    assert sorted(s.row for s in sigs.values() if s.row) == list(range(1, 27))


def test_extra_signatures_and_categories():
    for sid, category in {**EXTRA_IDS, **HUMAN_ONLY}.items():
        assert signature(sid).category == category
    assert signature("engine_core_wrapper").priority == "wrapper"
    assert signature("first_request_crash").priority == "generic"
    for sid in HUMAN_ONLY:
        assert not signature(sid).fix and signature(sid).human_action


def test_every_signature_is_usable():
    for sig in load_signatures().signatures:
        assert sig.category in CATEGORIES
        assert sig.fix or sig.human_action, sig.id
        assert sig.human_action, f"{sig.id}: say what a person does when the fixes run out"
        for rule in sig.fix:
            assert rule.action in ACTIONS
        assert sig.frameworks


def test_signature_lookup_by_id():
    assert signature("cuda_oom").category == "oom_or_kv_cache"
    with pytest.raises(KeyError):
        signature("no_such_signature")


@pytest.mark.parametrize("yaml_text,error", [
    ("signatures: [{id: a, pattern: '(unclosed', category: other, human_action: x}]", "invalid regex"),
    ("signatures: [{id: a, pattern: 'x', category: oom, human_action: x}]", "category"),
    ("signatures: [{id: a, pattern: 'x', category: other, fix: [{action: reboot}]}]", "action"),
    ("signatures: [{id: a, pattern: 'x', category: other}]", "fix or a human_action"),
    ("signatures: [{id: a, pattern: 'x', category: other, human_action: x}, "
     "{id: a, pattern: 'y', category: other, human_action: y}]", "duplicate"),
    ("signatures: [{id: a, pattern: 'x', category: other, human_action: x, capture: 'no group'}]", "named group"),
    ("signatures: [{id: A-1, pattern: 'x', category: other, human_action: x}]", "id"),
    ("- just a list", "mapping"),
])
def test_bad_catalog_text_is_refused(yaml_text, error):
    with pytest.raises(ValueError, match=error):
        parse_catalog(yaml_text)


# --- the gated matcher agrees with brute force ---------------------------------------------------------

def _brute(line: str) -> list[str]:
    return [s.id for s in load_signatures().signatures if s.matches(line)]


def _literals_corpus(rng: random.Random) -> list[str]:
    """Lines built from the signatures' own literals, cut and glued: near misses and hits."""
    pieces = []
    for sig in load_signatures().signatures:
        for branch in required_literals(sig.pattern) or []:
            pieces.extend(branch)
    lines = []
    for _ in range(3000):
        parts = rng.sample(pieces, rng.randint(1, 3))
        cut = [p[rng.randint(0, len(p) // 2):] if rng.random() < 0.5 else p for p in parts]
        lines.append(" ".join(cut))
    return lines


def _fixture_lines() -> list[str]:
    lines: list[str] = []
    for path in sorted(LOG_FIXTURES.glob("*.log")) if LOG_FIXTURES.is_dir() else []:
        lines.extend(path.read_text(encoding="utf-8", errors="replace").splitlines())
    return lines


def test_match_line_equals_trying_every_regex():
    rng = random.Random(3)
    corpus = _literals_corpus(rng) + _fixture_lines()
    hits = 0
    for line in corpus:
        got = match_line(line)
        assert got == _brute(line), line
        hits += bool(got)
    assert hits > 500  # the corpus does exercise the signatures


def test_required_literals():
    assert required_literals(r"CUDA out of memory|torch\.(?:cuda\.)?OutOfMemoryError") == [
        ["CUDA out of memory"], ["torch.", "OutOfMemoryError"]]
    assert required_literals(r"Total number of attention heads \(\d+\) must be") == [
        ["Total number of attention heads (", ") must be"]]
    assert required_literals(r"[Aa]ddress already in use") == [["ddress already in use"]]
    assert required_literals(r"(?i)cuda") is None          # ignores case: cannot be gated
    assert required_literals(r"\d+|ab") is None            # an alternative without a literal


def test_gates_are_substrings_of_the_literals():
    for literal in ("Bfloat16 is only supported", "error: unrecognized arguments:", "SIGSEGV", "abc"):
        gate = choose_gate([literal])
        assert gate in literal and len(gate) >= min(3, len(literal))


def test_an_ungated_signature_still_matches():
    catalog = parse_catalog("signatures: [{id: a, pattern: '(?i)kaboom', category: other, human_action: x},"
                            "{id: b, pattern: 'plain text here', category: other, human_action: y}]")
    m = Matcher(catalog)
    assert [s.id for s in m.ungated] == ["a"]
    assert m.match("KABOOM plain text here") == ["a", "b"]
    assert m.match("nothing") == []


def test_ordinary_lines_do_not_reach_the_regexes():
    """Serving logs are most of a big log: no gate may occur in them."""
    m = matcher()
    ordinary = [
        '(APIServer pid=7) INFO:     127.0.0.1:51234 - "POST /v1/chat/completions HTTP/1.1" 200 OK',
        "(APIServer pid=7) INFO 11-25 12:00:00 [loggers.py:123] Engine 000: Avg prompt throughput: 11.0 tokens/s, "
        "Avg generation throughput: 99.0 tokens/s, Running: 3 reqs, Waiting: 0 reqs, GPU KV cache usage: 2.0%, "
        "Prefix cache hit rate: 0.0%",
        "[2025-11-25 12:00:00 TP0] Decode batch. #running-req: 4, #token: 900, token usage: 0.02, gen throughput "
        "(token/s): 400.00, #queue-req: 0",
        "srv  log_server_r: request: POST /v1/chat/completions 127.0.0.1 200",
    ]
    for line in ordinary:
        assert m.gate_regex.search(line) is None, line


def _speed_corpus(n: int) -> list[str]:
    rng = random.Random(11)
    base = _fixture_lines() or ["(EngineCore_DP0 pid=1) ERROR 11-25 12:00:00 [core.py:708] EngineCore failed to start."]
    serving = [
        '(APIServer pid={p}) INFO:     127.0.0.1:{port} - "POST /v1/chat/completions HTTP/1.1" 200 OK',
        "(APIServer pid={p}) INFO 11-25 12:00:{s:02d} [loggers.py:123] Engine 000: Avg prompt throughput: {f:.1f} "
        "tokens/s, Avg generation throughput: {f:.1f} tokens/s, Running: 3 reqs, Waiting: 0 reqs, GPU KV cache usage: "
        "{f:.1f}%, Prefix cache hit rate: 0.0%",
        "(APIServer pid={p}) INFO 11-25 12:00:{s:02d} [logger.py:43] Received request chatcmpl-{port}: params: "
        "SamplingParams(n=1, temperature=0.7, top_p=1.0, max_tokens=256)",
    ]
    lines = []
    for _ in range(n):
        if rng.random() < 0.1:
            lines.append(rng.choice(base))
        else:
            lines.append(rng.choice(serving).format(p=rng.randint(1, 99999), port=rng.randint(30000, 60000),
                                                    s=rng.randint(0, 59), f=rng.random() * 100))
    return lines


def test_match_line_speed():
    lines = _speed_corpus(200_000)
    match_line(lines[0])  # load the catalog outside the timing
    started = time.perf_counter()
    for line in lines:
        match_line(line)
    rate = len(lines) / (time.perf_counter() - started)
    print(f"\nmatch_line: {rate:,.0f} lines/s on {len(lines):,} lines")
    assert rate > 50_000, f"match_line is too slow: {rate:,.0f} lines/s"


def test_yaml_ids_are_the_ones_rules_know():
    from modeldeploy.tools.diagnosis.rules import ACTIONS as RULE_ACTIONS

    assert set(RULE_ACTIONS) == set(ACTIONS)
    text = (ROOT / "catalog" / "failure_signatures.yaml").read_text(encoding="utf-8")
    for action in set(re.findall(r"\{action: (\w+)", text)):
        assert action in RULE_ACTIONS
