"""The log digest: cleaning, traceback joining, masking, deduplication, the fatal line, the budget, the matcher."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from modeldeploy.tools.logs import clean_line, digest_log, estimate_tokens, mask_line, read_lines
from modeldeploy.tools.logs.clean import progress_label, strip_spinner
from modeldeploy.tools.logs.digest import default_matcher

LOGS = Path(__file__).resolve().parents[1] / "fixtures" / "logs"
NO_MATCH = lambda line: []  # noqa: E731


def read(name: str) -> str:
    """A sample log as text, its carriage returns kept (Path.read_text would turn them into line breaks)."""
    return (LOGS / name).read_bytes().decode()


def digest(text: str, **kw):
    kw.setdefault("matcher", NO_MATCH)
    return digest_log(text, **kw)


def group(d, needle: str):
    found = [g for g in d.groups if needle in g.template or needle in g.example]
    assert found, f"no group with {needle!r}: {[g.template for g in d.groups]}"
    return found[0]


# -- noise ---------------------------------------------------------------------------------------------

def test_ansi_escapes_are_stripped():
    assert clean_line("\x1b[32mINFO\x1b[0m 12:00:01 ready \x1b]0;title\x07done") == "INFO 12:00:01 ready done"
    d = digest("\x1b[31mERROR\x1b[0m boom 1\n\x1b[31mERROR\x1b[0m boom 2\n")
    g = group(d, "boom")
    assert g.count == 2 and "\x1b" not in g.example and "\x1b" not in d.render()


def test_carriage_return_overwrites_keep_the_last_visible_state():
    assert clean_line("Downloading:  10%\rDownloading:  55%\rDownloading: 100%\r") == "Downloading: 100%"
    d = digest("start\nshard:  10%|█         | 1/10 [00:01<00:09]\rshard: 100%|██████████| 10/10 [00:10<00:00]\ndone\n")
    assert d.total_lines == 3
    assert any("100%" in line and "10%" not in line for line in d.tail)


def test_progress_bars_collapse_into_one_group_with_the_last_state():
    bars = [f"Loading safetensors checkpoint shards: {p:3d}% Completed | {k}/4 [00:0{k}<00:0{4 - k}, 1.1s/it]"
            for k, p in enumerate((0, 25, 50, 75, 100))]
    tqdm = [f"Capturing CUDA graphs: {p:3d}%|{'█' * (p // 10):<10}| {p // 10}/10 [00:01<00:02, 9.1it/s]"
            for p in (10, 40, 100)]
    d = digest("\n".join(["INFO boot"] + bars + tqdm + ["INFO ready"]))
    progress = [g for g in d.groups if g.kind == "progress"]
    assert sorted(g.count for g in progress) == [3, 5]
    shards = group(d, "Loading safetensors")
    assert "100% Completed | 4/4" in shards.example and shards.first_line == 2 and shards.last_line == 6
    assert progress_label("GPU KV cache usage: 23.4%, Prefix cache hit rate: 45.1%") is None


def test_spinner_lines_collapse():
    spin = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
    lines = [f"{spin[k % 10]} waiting for http://localhost:8000/v1/models ({k}s)" for k in range(30)]
    d = digest("\n".join(["INFO starting"] + lines + ["INFO up"]), tail_lines=5)
    g = group(d, "waiting for")
    assert g.count == 30 and not g.template.startswith(spin[0])
    assert strip_spinner("⠼ waiting") == "waiting"
    # in the tail the 30 spinner lines are one entry
    spin_tail = [m for t, m in zip(d.tail, d.tail_meta) if "waiting for" in t]
    assert len(spin_tail) == 1 and spin_tail[0].count == 30 and spin_tail[0].first_line == 2


# -- tracebacks ------------------------------------------------------------------------------------------

PLAIN_TB = """INFO: starting
Traceback (most recent call last):
  File "/app/server.py", line 10, in <module>
    main()
  File "/app/server.py", line 6, in main
    load()
ValueError: bad config value 42
INFO: shutting down
"""


def test_a_traceback_is_one_event_ending_at_its_exception_line():
    d = digest(PLAIN_TB)
    tbs = [g for g in d.groups if g.kind == "traceback"]
    assert len(tbs) == 1
    tb = tbs[0]
    assert tb.example == "ValueError: bad config value 42" and tb.first_line == 7
    assert tb.location == "server.py:6 in main" and tb.template == "ValueError: bad config value <NUM>"
    assert d.fatal == "ValueError: bad config value 42" and d.fatal_line == 7
    # frames are not groups of their own, and the lines around stay info
    assert not any('File "' in g.template for g in d.groups)
    assert group(d, "shutting down").level == "info"


def test_chained_exceptions_stay_one_traceback_and_the_last_exception_is_fatal():
    text = """Traceback (most recent call last):
  File "/app/a.py", line 3, in f
    open(path)
FileNotFoundError: [Errno 2] No such file or directory: '/models/x/tokenizer.json'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/app/b.py", line 9, in g
    f()
OSError: Can't load tokenizer for '/models/x'.
[2025-01-01 00:00:00] exiting
"""
    d = digest(text)
    tbs = [g for g in d.groups if g.kind == "traceback"]
    assert {g.example.split(":")[0] for g in tbs} == {"FileNotFoundError", "OSError"}
    assert d.fatal == "OSError: Can't load tokenizer for '/models/x'." and d.fatal_line == 11
    assert next(g for g in tbs if g.fatal).location == "b.py:9 in g"


def test_prefixed_tracebacks_with_interleaved_lines_and_multiline_messages():
    p = "(EngineCore_DP0 pid=77) ERROR 11-25 12:00:00 [core.py:708] "
    q = "(EngineCore_DP0 pid=77) ERROR 11-25 12:00:01 [core.py:708] "   # the clock ticks mid-traceback
    text = "\n".join([
        "(APIServer pid=1) INFO 11-25 12:00:00 [api_server.py:1] starting",
        p + "Traceback (most recent call last):",
        p + '  File "/v/core.py", line 699, in run_engine_core',
        "(APIServer pid=1) INFO 11-25 12:00:00 [api_server.py:2] still waiting",      # another process
        q + "    engine_core = EngineCoreProc(*args, **kwargs)",
        q + '  File "/v/pynccl.py", line 99, in __init__',
        q + "    self.all_reduce(data)",
        q + "torch.distributed.DistBackendError: NCCL error in: x.cpp:3356, unhandled system error",
        q + "ncclSystemError: System call (e.g. socket, malloc) or external library call failed.",
        q + "Last error:",
        q + "Error while creating shared memory segment /dev/shm/nccl-abc (size 9637888)",
        "(APIServer pid=1) Traceback (most recent call last):",
        '(APIServer pid=1)   File "/v/utils.py", line 785, in wait_for_engine_startup',
        "(APIServer pid=1) RuntimeError: Engine core initialization failed. See root cause above.",
    ])
    d = digest(text)
    assert d.fatal_line == 8
    assert d.fatal.splitlines() == [q + "torch.distributed.DistBackendError: NCCL error in: x.cpp:3356, unhandled "
                                        "system error", *text.splitlines()[8:11]]
    assert group(d, "still waiting").level == "info"
    nccl = group(d, "DistBackendError")
    assert nccl.kind == "traceback" and nccl.location == "pynccl.py:99 in __init__"
    assert nccl.template.startswith("torch.distributed.DistBackendError: NCCL error in: x.cpp:<NUM>")
    # the wrapper is an error group, but not the fatal line
    wrapper = group(d, "Engine core initialization failed")
    assert wrapper.kind == "traceback" and not wrapper.fatal


def test_sglang_style_header_after_a_prefix_and_bare_frames():
    text = """[2026-11-25 12:41:04 TP0] Load weight end. avail mem=7.09 GB
[2026-11-25 12:41:04 TP0] Scheduler hit an exception: Traceback (most recent call last):
  File "/sgl/scheduler.py", line 2440, in run_scheduler_process
    scheduler = Scheduler(
  File "/sgl/model_runner.py", line 313, in initialize
    self.init_memory_pool(
RuntimeError: Not enough memory. Please try to increase --mem-fraction-static.

[2026-11-25 12:41:04] Received sigquit from a child process. It usually means the child failed.
"""
    d = digest(text)
    assert d.fatal == "RuntimeError: Not enough memory. Please try to increase --mem-fraction-static."
    assert d.fatal_line == 7
    assert group(d, "Not enough memory").location == "model_runner.py:313 in initialize"


def test_pydantic_details_belong_to_the_exception():
    p = "(APIServer pid=9) "
    text = "\n".join([p + "Traceback (most recent call last):", p + '  File "/v/x.py", line 1, in f', p + "    g()",
                      p + "pydantic_core._pydantic_core.ValidationError: 1 validation error for ModelConfig",
                      p + "  Value error, Model architectures ['FooForCausalLM'] are not supported for now.",
                      p + "    For further information visit https://errors.pydantic.dev/2.11/v/value_error"])
    d = digest(text)
    assert d.fatal_line == 4 and len(d.fatal.splitlines()) == 3
    assert "are not supported for now" in d.fatal


# -- masking ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("line,template", [
    ("(APIServer pid=26830) INFO 11-25 12:41:03 [loggers.py:127] Running: 12 reqs, GPU KV cache usage: 23.4%",
     "(APIServer pid=<NUM>) INFO <TS> [loggers.py:<NUM>] Running: <NUM> reqs, GPU KV cache usage: <NUM>%"),
    ('INFO:     10.0.3.17:51234 - "POST /v1/chat/completions HTTP/1.1" 200 OK',
     'INFO:     <IP> - "POST <PATH> HTTP/<NUM>" <NUM> OK'),
    ("2026-11-25T12:41:04.231238Z  INFO text_generation_launcher: Args { model_id: \"/data/m\" }",
     "<TS>  INFO text_generation_launcher: Args { model_id: \"<PATH>\" }"),
    ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 448.00 MiB. GPU 0 has a total capacity of 14.58 GiB",
     "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate <SIZE>. GPU <NUM> has a total capacity of <SIZE>"),
    ("req 550e8400-e29b-41d4-a716-446655440000 at 0x7f3a9c done chatcmpl-a1b2c3d4e5f6a7b8c9d0",
     "req <UUID> at <HEX> done chatcmpl-<HEX>"),
    ("ValueError: Bfloat16 is only supported on GPUs with compute capability of at least 8.0. Your Tesla T4 GPU",
     "ValueError: Bfloat16 is only supported on GPUs with compute capability of at least <NUM>. Your Tesla T4 GPU"),
    ("Jan  5 10:00:01 host kernel: see https://example.com/a?b=1 and ./run/x.sock, 4096 bytes",
     "<TS> host kernel: see <URL> and <PATH>, <SIZE>"),
], ids=["vllm-metrics", "uvicorn-access", "tgi", "oom-sizes", "uuid-hex-ids", "glued-digits-kept", "syslog-url-path"])
def test_masking(line, template):
    assert mask_line(line) == template


def test_lines_differing_in_variable_parts_share_a_template():
    lines = [f"(EngineCore_DP0 pid={pid}) WARNING 11-25 12:0{k}:00 [cache.py:{k}] evicted {k * 17} blocks "
             f"from /tmp/run{k}/cache ({k}.5 GiB) req {k:08x}ab{k}c" for k, pid in enumerate((10, 2000, 31337))]
    d = digest("\n".join(lines))
    assert len([g for g in d.groups if g.level == "warning"]) == 1


# -- deduplication and line numbers ---------------------------------------------------------------------

def test_error_and_warning_lines_are_deduplicated_with_counts_and_first_last_lines():
    lines = []
    for k in range(1, 301):
        if k % 3 == 0:
            lines.append(f"ERROR 12:00:{k % 60:02d} worker {k} lost connection to 10.0.0.{k % 250}:{5000 + k}")
        elif k % 50 == 0:
            lines.append(f"WARNING 12:00:00 slow step {k} ms")
        else:
            lines.append(f"INFO 12:00:00 step {k} ok")
    d = digest("\n".join(lines))
    err = group(d, "lost connection")
    assert (err.level, err.count, err.first_line, err.last_line) == ("error", 100, 3, 300)
    assert err.example == lines[2] and err.template == "ERROR <TS> worker <NUM> lost connection to <IP>"
    warn = group(d, "slow step")
    assert (warn.count, warn.first_line, warn.last_line) == (4, 50, 250)   # 150 and 300 are errors
    assert d.counts == {"error": 100, "warning": 4, "info": 196}
    assert "x100 L3-300" in d.render()


def test_info_templates_differing_in_one_token_are_merged():
    words = ["alpha", "beta", "gamma", "delta"]
    d = digest("\n".join(f"INFO loaded adapter {w} into slot" for w in words * 5))
    infos = [g for g in d.groups if g.level == "info"]
    assert len(infos) == 1 and infos[0].template == "INFO loaded adapter <*> into slot" and infos[0].count == 20


def test_tail_is_verbatim_and_collapses_runs():
    lines = [f"INFO line {k}" for k in range(1, 51)] + ["WARNING retry 1", "WARNING retry 2", "WARNING retry 3",
                                                        "INFO last one"]
    d = digest("\n".join(lines), tail_lines=3)
    assert d.tail[-1] == "INFO last one" and d.tail_meta[-1].first_line == 54
    assert d.tail[-2] == "WARNING retry 3" and (d.tail_meta[-2].first_line, d.tail_meta[-2].count) == (51, 3)
    assert d.tail_meta[-2].kind == "repeat"
    assert digest("\n".join(lines), tail_lines=0).tail == []


def test_text_path_and_lines_give_the_same_digest(tmp_path):
    text = read("vllm_noisy_long.log")
    path = tmp_path / "x.log"
    path.write_bytes(text.encode())
    a = digest(text).model_dump()
    b = digest_log(path, matcher=NO_MATCH, source_name="text").model_dump()   # same header length
    lines = text.split("\n")[:-1]        # not splitlines(): a "\r" inside a line is a progress-bar overwrite
    c = digest(lines).model_dump()
    d = digest([line + "\n" for line in lines]).model_dump()
    for other in (b, c, d):
        other["source"] = "text"
        assert other == a


def test_chunk_boundaries_do_not_change_the_digest(monkeypatch):
    """Tiny chunks put tracebacks, runs and the tail across chunk boundaries (fast and slow paths mix)."""
    from modeldeploy.tools.logs import sources

    text = "\n".join(read(name) for name in ("vllm_oom.log", "tgi_prefill_oom.log", "vllm_noisy_long.log"))
    whole = digest(text).model_dump()
    for chunk, batch in ((64, 3), (1000, 17), (5000, 101)):
        monkeypatch.setattr(sources, "CHUNK_BYTES", chunk)
        monkeypatch.setattr(sources, "BATCH_LINES", batch)
        assert digest(text).model_dump() == whole
        assert digest(text.split("\n")[:-1]).model_dump() == whole


# -- the fatal line, per sample log --------------------------------------------------------------------------

EXPECTED = {
    "vllm_oom.log": "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 448.00 MiB",
    "vllm_kv_cache_too_small.log": "is larger than the maximum number of tokens that can be stored in KV cache (116192)",
    "vllm_no_cache_blocks.log": "ValueError: No available memory for the cache blocks.",
    "vllm_bf16_cc75.log": "Bfloat16 is only supported on GPUs with compute capability of at least 8.0",
    "vllm_trust_remote_code.log": "consider setting `trust_remote_code=True`",
    "vllm_unknown_arch.log": "Model architectures ['FrobnicatorForCausalLM'] are not supported for now",
    "vllm_tp_heads.log": "Total number of attention heads (64) must be divisible by tensor parallel size (3).",
    "vllm_driver_too_old.log": "The NVIDIA driver on your system is too old (found version 12020)",
    "vllm_nccl_shm.log": "unhandled system error (run with NCCL_DEBUG=INFO for details)",
    "vllm_max_model_len.log": "User-specified max_model_len (200000) is greater than the derived max_model_len",
    "vllm_gated_repo.log": "GatedRepoError: 401 Client Error.",
    "vllm_port_in_use.log": "address already in use",
    "vllm_truncated_safetensors.log": "SafetensorError: Error while deserializing header: MetadataIncompleteBuffer",
    "vllm_missing_tokenizer.log": "OSError: Can't load tokenizer for '/models/llama-3.1-8b-instruct'",
    "vllm_noisy_long.log": "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 7.83 GiB",
    "sglang_mem_fraction.log": "RuntimeError: Not enough memory. Please try to increase --mem-fraction-static.",
    "sglang_no_kernel_image.log": "no kernel image is available for execution on the device",
    "tgi_num_shard.log": "`num_heads` must be divisible by `num_shards` (got `num_heads`: 64 and `num_shards`: 3",
    "tgi_prefill_oom.log": "Not enough memory to handle 8192 prefill tokens",
    "llamacpp_unknown_arch.log": "unknown model architecture: 'frobnicator'",
    "llamacpp_cuda_oom.log": "unable to allocate CUDA0 buffer",
}


def test_every_sample_log_has_an_expectation():
    assert sorted(p.name for p in LOGS.glob("*.log")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED), ids=lambda n: n.removesuffix(".log"))
def test_fatal_line_is_verbatim_and_correct(name):
    path = LOGS / name
    d = digest_log(path, matcher=NO_MATCH)
    assert d.fatal is not None and EXPECTED[name] in d.fatal, d.fatal
    # verbatim: the fatal text is the file's own lines from fatal_line on (the first one exactly)
    first = d.fatal.split("\n")[0]
    assert first == clean_line(read_lines(path, d.fatal_line, d.fatal_line)[0])
    assert d.fatal.split("\n")[0] in d.render()
    assert d.tokens <= 1500 and d.tokens == estimate_tokens(d.render())
    # wrappers ("See root cause above", "Shard 0 failed to start") are never the decisive line
    for wrapper in ("Engine core initialization failed", "ShardCannotStart", "EngineDeadError", "exiting due to"):
        assert wrapper not in d.fatal


def test_error_line_without_traceback_and_fatal_phrases():
    d = digest("INFO a\nERROR something odd happened\nINFO b\nWARNING could not select device driver \"\" with "
               "capabilities: [[gpu]]\nINFO c\n")
    assert d.fatal == "ERROR something odd happened" and d.fatal_line == 2
    d = digest("INFO a\nmain: loading\nggml: cudaMalloc failed: out of memory\nmain: exiting due to model loading error\n")
    assert d.fatal == "ggml: cudaMalloc failed: out of memory" and d.fatal_line == 3
    d = digest("INFO a\nWARNING NCCL WARN Error while creating shared memory segment /dev/shm/x\nINFO b\n")
    assert d.fatal_line == 2
    assert digest("INFO all good\nINFO still good\n").fatal is None


# -- budget -----------------------------------------------------------------------------------------------

def test_budget_is_never_exceeded_and_the_fatal_line_and_signatures_stay():
    text = read("vllm_noisy_long.log")
    sigs = lambda line: ["cuda_oom"] if "CUDA out of memory" in line else (["ignored"] if "ignored" in line else [])  # noqa: E731
    for budget in (100, 150, 300, 600, 1500, 4000):
        d = digest_log(text, budget_tokens=budget, matcher=sigs)
        text_out = d.render()
        assert d.tokens == math.ceil(len(text_out) / 4) <= budget, budget
        assert d.signatures == ["ignored", "cuda_oom"]
        assert "cuda_oom" in text_out and "ignored" in text_out
        if budget >= 300:
            assert d.fatal in text_out
        else:
            assert d.truncated and "torch.OutOfMemoryError" in text_out
    small, big = digest(text, budget_tokens=300), digest(text, budget_tokens=4000)
    assert small.truncated and small.omitted and len(small.groups) < len(big.groups)
    with pytest.raises(ValueError):
        digest(text, budget_tokens=50)


@pytest.mark.parametrize("budget", [250, 350, 450, 700, 900, 1200, 1500])
def test_lower_priority_parts_go_first(budget):
    """Info templates go first, then warning groups, then the tail shrinks, then error groups."""
    d = digest(read("vllm_noisy_long.log"), budget_tokens=budget)
    full = digest(read("vllm_noisy_long.log"), budget_tokens=100_000)
    om = d.omitted
    order = ["error_groups", "tail_entries", "warning_groups", "info_templates"]
    totals = {"error_groups": sum(g.level == "error" for g in full.groups), "tail_entries": len(full.tail),
              "warning_groups": sum(g.level == "warning" for g in full.groups),
              "info_templates": sum(g.level == "info" for g in full.groups)}
    for higher, lower in zip(order, order[1:]):
        if om.get(higher):      # something of a higher part is missing: nothing of the lower parts is kept
            assert om.get(lower) == totals[lower], (budget, om)
    if om.get("tail_entries"):  # the tail shrinks from the oldest end
        assert d.tail == full.tail[len(full.tail) - len(d.tail):]


# -- the matcher hook ----------------------------------------------------------------------------------------

def test_matcher_ids_first_seen_order_deduplicated_and_called_per_template():
    calls = []

    def matcher(line: str) -> list[str]:
        calls.append(line)
        ids = []
        if "CUDA out of memory" in line:
            ids.append("cuda_oom")
        if "Engine core initialization failed" in line:
            ids.append("engine_core_wrapper")
        if "max_num_seqs" in line:
            ids.append("seqs_hint")
        return ids

    lines = ["INFO hint: lower max_num_seqs if needed"] * 500
    lines += ["ERROR CUDA out of memory. Tried to allocate 2.00 GiB"] * 3
    lines += ["ERROR RuntimeError: Engine core initialization failed. See root cause above.",
              "ERROR CUDA out of memory. Tried to allocate 4.00 GiB"]
    d = digest_log("\n".join(lines), matcher=matcher)
    assert d.signatures == ["seqs_hint", "cuda_oom", "engine_core_wrapper"]
    assert len(calls) <= 5                       # once per distinct template, not per line
    assert group(d, "CUDA out of memory").signatures == ["cuda_oom"]
    assert d.render().splitlines()[1] == "known signatures: seqs_hint, cuda_oom, engine_core_wrapper"
    assert d.fatal == "ERROR CUDA out of memory. Tried to allocate 4.00 GiB"   # a known failure beats the wrapper


def test_matcher_sees_traceback_exception_lines():
    seen = []
    d = digest_log(PLAIN_TB, matcher=lambda line: seen.append(line) or (["bad_value"] if "bad config" in line else []))
    assert "ValueError: bad config value 42" in seen and d.signatures == ["bad_value"]


def test_a_broken_matcher_does_not_lose_the_digest():
    def broken(line):
        raise RuntimeError("catalog exploded")

    d = digest_log(PLAIN_TB, matcher=broken)
    assert d.fatal == "ValueError: bad config value 42" and d.signatures == []


def test_default_matcher_is_the_diagnosis_module_when_present():
    m = default_matcher()
    assert m is None or callable(m)


# -- read_lines ---------------------------------------------------------------------------------------------

def test_read_lines_ranges(tmp_path):
    path = tmp_path / "log.txt"
    path.write_bytes(b"one\ntwo\r\nthree 10%\rthree 100%\n\x1b[31mfour\x1b[0m\nfive")
    assert read_lines(path, 1, 1) == ["one"]
    assert read_lines(path, 2, 3) == ["two", "three 10%\rthree 100%"]
    assert read_lines(path, 3, 4, clean=True) == ["three 100%", "four"]
    assert read_lines(path, 4, 99) == ["\x1b[31mfour\x1b[0m", "five"]
    assert read_lines(path, 6, 9) == []
    for bad in ((0, 1), (3, 2)):
        with pytest.raises(ValueError):
            read_lines(path, *bad)
    # line numbers of a digest address the file
    d = digest_log(path, matcher=NO_MATCH)
    assert d.total_lines == 5


def test_read_lines_streams_a_range_of_a_large_file(tmp_path):
    path = tmp_path / "big.log"
    with open(path, "w") as fh:
        for k in range(1, 200_001):
            fh.write(f"INFO line {k}\n")
    assert read_lines(path, 150_000, 150_002) == ["INFO line 150000", "INFO line 150001", "INFO line 150002"]
