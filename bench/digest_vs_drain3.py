"""The log digest against Drain3: throughput and error-signature recall on the same generated logs.

Run (drain3 is a bench/test extra: ``pip install drain3``):

    .venv/bin/python bench/digest_vs_drain3.py                # 200,000 lines, 3 repeats
    .venv/bin/python bench/digest_vs_drain3.py --lines 1000000 --repeats 1

The log is generated (seeded, so every run sees the same lines): a vLLM 0.11 server's
serving phase (uvicorn access lines, engine metrics, request-id lines, several
warnings at various rates, CR-overwritten progress bars, ANSI colours) with 16 known startup
failures from failure-signatures.md injected 1-4 times each at random places, some inside
vLLM-style prefixed tracebacks.

Measured, on the same in-memory lines:
- lines/s of ``digest_log(lines, budget_tokens=1500)`` (the whole digest: cleaning,
  traceback joining, masking, grouping, template merge, budgeted render), also streamed from a file,
  and with the signature catalogue's matcher (``modeldeploy.tools.diagnosis.signatures``) when present;
- lines/s of Drain3's ``TemplateMiner().add_log_message(line)`` over every line (default
  configuration, no masking; and with the masking instructions of Drain3's example drain3.ini);
- error-signature recall: the fraction of injected failure lines whose signature's fixed
  text appears in the output. Ours: in ``render()`` (at most 1,500 tokens). Drain3: in any
  cluster template (all clusters, unbounded), and in the templates that fit 1,500 tokens when
  clusters are listed largest first (the way a template list is cut for a prompt).
"""

from __future__ import annotations

import argparse
import math
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FAILURES: list[tuple[str, str]] = [  # (fixed text, line with {placeholders} for the variable parts)
    ("CUDA out of memory", "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate {f} GiB. GPU 0 has a total "
                           "capacity of {f} GiB of which {f} MiB is free. Process {n} has {f} GiB memory in use."),
    ("is larger than the maximum number of tokens that can be stored in KV cache",
     "ValueError: The model's max seq len ({n}) is larger than the maximum number of tokens that can be stored in KV "
     "cache ({n}). Try increasing `gpu_memory_utilization` or decreasing `max_model_len` when initializing the engine."),
    ("No available memory for the cache blocks", "ValueError: No available memory for the cache blocks. Try increasing "
                                                 "`gpu_memory_utilization` when initializing the engine."),
    ("is only supported on GPUs with compute capability of at least",
     "ValueError: Bfloat16 is only supported on GPUs with compute capability of at least 8.0. Your Tesla T4 GPU has "
     "compute capability 7.5. You can use float16 instead by explicitly setting the`dtype` flag in CLI, for example: "
     "--dtype=half."),
    ("requires you to execute the configuration file in that repo",
     "ValueError: Loading /models/internlm{n} requires you to execute the configuration file in that repo on your local "
     "machine. Make sure you have read the code there to avoid malicious use, then set the option "
     "`trust_remote_code=True` to remove this error."),
    ("are not supported for now", "ValueError: Model architectures ['Frob{n}ForCausalLM'] are not supported for now."),
    ("must be divisible by tensor parallel size",
     "ValueError: Total number of attention heads ({n}) must be divisible by tensor parallel size ({n})."),
    ("NVIDIA driver on your system is too old",
     "RuntimeError: The NVIDIA driver on your system is too old (found version {n}). Please update your GPU driver."),
    ("no kernel image is available for execution on the device",
     "RuntimeError: CUDA error: no kernel image is available for execution on the device"),
    ("unhandled system error", "torch.distributed.DistBackendError: NCCL error in: ../torch/csrc/distributed/c10d/"
                               "ProcessGroupNCCL.cpp:{n}, unhandled system error (run with NCCL_DEBUG=INFO for "
                               "details), NCCL version 2.21.5"),
    ("is greater than the derived max_model_len",
     "ValueError: User-specified max_model_len ({n}) is greater than the derived max_model_len "
     "(max_position_embeddings={n} or model_max_length=None in model's config.json)."),
    ("GatedRepoError", "huggingface_hub.errors.GatedRepoError: 401 Client Error. (Request ID: Root=1-{h}-{h})"),
    ("address already in use", "ERROR:    [Errno 98] error while attempting to bind on address ('0.0.0.0', {n}): "
                               "address already in use"),
    ("Error while deserializing header", "safetensors_rust.SafetensorError: Error while deserializing header: "
                                         "MetadataIncompleteBuffer"),
    ("FlashAttention only supports Ampere GPUs or newer", "ValueError: FlashAttention only supports Ampere GPUs or newer."),
    ("cudaMalloc failed: out of memory", "ggml_backend_cuda_buffer_type_alloc_buffer: allocating {f} MiB on device 0: "
                                         "cudaMalloc failed: out of memory"),
]


def _fill(template: str, rnd: random.Random) -> str:
    out = template
    while "{" in out:
        i = out.index("{")
        key = out[i + 1]
        value = {"n": str(rnd.randint(2, 200000)), "f": f"{rnd.uniform(0.1, 80):.2f}",
                 "h": "%08x" % rnd.getrandbits(32)}[key]
        out = out[:i] + value + out[i + 3:]
    return out


def generate(n_lines: int, seed: int = 0) -> tuple[list[str], list[tuple[int, str]]]:
    """(lines, injected) where injected holds (index, fixed text) of every injected failure line."""
    rnd = random.Random(seed)
    lines: list[str] = []
    clock = [13 * 3600]

    def ts() -> str:
        clock[0] += rnd.random() < 0.05
        s = clock[0]
        return f"11-25 {s // 3600 % 24:02d}:{s // 60 % 60:02d}:{s % 60:02d}"

    def api(level: str, src: str, msg: str) -> str:
        colour = {"INFO": "\x1b[32m", "WARNING": "\x1b[33m", "ERROR": "\x1b[31m"}[level] if rnd.random() < 0.3 else ""
        return f"(APIServer pid=1) {colour}{level}{chr(27) + '[0m' if colour else ''} {ts()} [{src}] {msg}"

    ignored = ["{'top_k_typo'}", "{'repetition_penality'}", "{'stream_option'}", "{'seed_'}"]
    while len(lines) < n_lines:
        r = rnd.random()
        ip = f"10.{rnd.randint(0, 9)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}:{rnd.randint(1024, 65535)}"
        if r < 0.45:
            status = rnd.choice(["200 OK"] * 30 + ["400 Bad Request", "404 Not Found"])
            path = rnd.choice(["/v1/chat/completions"] * 8 + ["/v1/completions", "/v1/models", "/health", "/metrics"])
            lines.append(f'(APIServer pid=1) INFO:     {ip} - "{rnd.choice(["POST"] * 5 + ["GET"])} {path} HTTP/1.1" '
                         f"{status}")
        elif r < 0.60:
            lines.append(api("INFO", "loggers.py:127", f"Engine 000: Avg prompt throughput: {rnd.uniform(0, 9000):.1f} "
                             f"tokens/s, Avg generation throughput: {rnd.uniform(0, 900):.1f} tokens/s, Running: "
                             f"{rnd.randint(0, 256)} reqs, Waiting: {rnd.randint(0, 50)} reqs, GPU KV cache usage: "
                             f"{rnd.uniform(0, 100):.1f}%, Prefix cache hit rate: {rnd.uniform(0, 100):.1f}%"))
        elif r < 0.66:
            rid = "%032x" % rnd.getrandbits(128)
            lines.append(api("INFO", "async_llm.py:354", f"Added request chatcmpl-{rid}."))
        elif r < 0.70:
            rid = "%032x" % rnd.getrandbits(128)
            lines.append(api("INFO", "async_llm.py:391", f"Aborted request chatcmpl-{rid}."))
        elif r < 0.85:
            lines.append(api("WARNING", "protocol.py:93",
                             f"The following fields were present in the request but ignored: {rnd.choice(ignored)}"))
        elif r < 0.88:
            lines.append(api("WARNING", "serving_chat.py:211", f"max_tokens={rnd.randint(33000, 40000)} exceeds the "
                             f"remaining context; clamped to {rnd.randint(100, 4000)}"))
        elif r < 0.90:
            lines.append(api("WARNING", "scheduler.py:1043", f"Sequence group cmpl-{rnd.getrandbits(40):x} is preempted "
                             f"by PreemptionMode.RECOMPUTE mode because there is not enough KV cache space. "
                             f"total_num_cumulative_preemption={rnd.randint(1, 5000)}"))
        elif r < 0.93:
            lines.append(api("INFO", "metrics.py:460", f"Prefix cache hit rate: GPU: {rnd.uniform(0, 100):.2f}%, "
                             f"CPU: {rnd.uniform(0, 100):.2f}%"))
        elif r < 0.95:
            total = rnd.randint(2, 80)
            segs = [f"Capturing CUDA graphs (decode, FULL): {100 * k // total:3d}%|"
                    f"{chr(0x2588) * (10 * k // total):<10}| {k}/{total} [00:0{k % 10}<00:0{(total - k) % 10}, "
                    f"{rnd.uniform(5, 15):.2f}it/s]" for k in range(0, total + 1, max(total // 5, 1))]
            lines.append("\r".join(segs))
        elif r < 0.97:
            lines.append(api("INFO", "chat_utils.py:538", f"Detected the chat template content format to be "
                             f"'{rnd.choice(['string', 'openai'])}'. You can set `--chat-template-content-format` to "
                             f"override this."))
        else:
            lines.append(f"(EngineCore_DP0 pid={rnd.randint(100, 999)}) INFO {ts()} [block_pool.py:{rnd.randint(100, 400)}] "
                         f"Successfully reset prefix cache")
    injected: list[tuple[int, str]] = []
    positions = sorted(rnd.sample(range(n_lines), sum(rnd.randint(1, 4) for _ in FAILURES)))
    plan = [f for f in FAILURES for _ in range(rnd.randint(1, 4))]
    rnd.shuffle(plan)
    out: list[str] = []
    pos_iter = iter(positions)
    next_pos = next(pos_iter, None)
    k = 0
    for i, line in enumerate(lines):
        out.append(line)
        while next_pos == i and k < len(plan):
            fixed, template = plan[k]
            k += 1
            pid = rnd.randint(100, 999)
            prefix = f"(EngineCore_DP0 pid={pid}) ERROR {ts()} [core.py:708] "
            text = _fill(template, rnd)
            if rnd.random() < 0.5 and not text.startswith("ERROR:"):  # inside a traceback
                out.append(prefix + "Traceback (most recent call last):")
                for frame in range(rnd.randint(2, 6)):
                    out.append(prefix + f'  File "/usr/local/lib/python3.12/dist-packages/vllm/v1/engine/core.py", '
                               f"line {rnd.randint(50, 900)}, in f{frame}")
                    out.append(prefix + f"    call_{frame}(vllm_config)")
            injected.append((len(out), fixed))
            out.append(prefix + text if not text.startswith("ERROR:") else f"(APIServer pid=1) {text}")
            next_pos = next(pos_iter, None)
    return out, injected


def drain3_run(lines: list[str], masking: bool) -> tuple[float, list[tuple[int, str]]]:
    from drain3 import TemplateMiner
    from drain3.masking import MaskingInstruction
    from drain3.template_miner_config import TemplateMinerConfig

    config = TemplateMinerConfig()
    config.profiling_enabled = False
    if masking:  # the masking instructions of Drain3's example drain3.ini
        config.masking_instructions = [
            MaskingInstruction(r"((?<=[^A-Za-z0-9])|^)(([0-9a-f]{2,}:){3,}([0-9a-f]{2,}))((?=[^A-Za-z0-9])|$)", "ID"),
            MaskingInstruction(r"((?<=[^A-Za-z0-9])|^)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})((?=[^A-Za-z0-9])|$)", "IP"),
            MaskingInstruction(r"((?<=[^A-Za-z0-9])|^)([0-9a-f]{6,} ?){3,}((?=[^A-Za-z0-9])|$)", "SEQ"),
            MaskingInstruction(r"((?<=[^A-Za-z0-9])|^)([0-9A-F]{4} ?){4,}((?=[^A-Za-z0-9])|$)", "SEQ"),
            MaskingInstruction(r"((?<=[^A-Za-z0-9])|^)(0x[a-f0-9A-F]+)((?=[^A-Za-z0-9])|$)", "HEX"),
            MaskingInstruction(r"((?<=[^A-Za-z0-9])|^)([\-\+]?\d+)((?=[^A-Za-z0-9])|$)", "NUM"),
            MaskingInstruction(r"(?<=executed cmd )(\".+?\")", "CMD"),
        ]
    miner = TemplateMiner(config=config)
    add = miner.add_log_message
    start = time.perf_counter()
    for line in lines:
        add(line)
    elapsed = time.perf_counter() - start
    clusters = [(c.size, c.get_template()) for c in miner.drain.clusters]
    return elapsed, clusters


def drain3_recall(clusters: list[tuple[int, str]], injected: list[tuple[int, str]], budget_tokens: int | None):
    texts = [t for _, t in sorted(clusters, key=lambda c: -c[0])]
    if budget_tokens is not None:
        kept, used = [], 0
        for t in texts:
            cost = len(t) + 1
            if used + cost > budget_tokens * 4:
                continue
            kept.append(t)
            used += cost
        texts = kept
    blob = "\n".join(texts)
    return sum(1 for _, fixed in injected if fixed in blob) / len(injected)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--budget", type=int, default=1500)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT.parent))
    from modeldeploy.tools.logs import digest_log

    lines, injected = generate(args.lines)
    n = len(lines)
    no_match = lambda line: []  # noqa: E731  (the signature catalogue is not part of this comparison)

    # the methods run interleaved, best of `repeats` each, so that a busy machine slows all of them alike
    results: dict[str, object] = {}
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.log"
        path.write_text("\n".join(lines) + "\n")
        methods = {
            "ours": lambda: digest_log(lines, budget_tokens=args.budget, matcher=no_match),
            "ours_file": lambda: digest_log(path, budget_tokens=args.budget, matcher=no_match),
            "ours_sigs": lambda: digest_log(lines, budget_tokens=args.budget),   # + the signature catalogue
            "drain3": lambda: drain3_run(lines, masking=False),
        }
        for _ in range(args.repeats):
            for name, fn in methods.items():
                start = time.perf_counter()
                results[name] = fn()
                elapsed = time.perf_counter() - start
                if name.startswith("drain3"):
                    elapsed = results[name][0]          # add_log_message calls only
                best[name] = min(best.get(name, elapsed), elapsed)
    dm_t, clusters_m = drain3_run(lines, masking=True)
    digest = results["ours"]
    ours_t, file_t, d_t = best["ours"], best["ours_file"], best["drain3"]
    clusters = results["drain3"][1]
    text = digest.render()
    ours_recall = sum(1 for _, fixed in injected if fixed in text) / len(injected)

    rows = [
        ("digest_log (lines in memory)", n / ours_t, f"{ours_recall:.0%}", f"{digest.tokens} tokens",
         len(digest.groups)),
        ("digest_log (file, streamed)", n / file_t, "", "", ""),
        ("digest_log + signature matcher", n / best["ours_sigs"], f"{len(results['ours_sigs'].signatures)} ids",
         f"{results['ours_sigs'].tokens} tokens", ""),
        ("Drain3 default", n / d_t, f"{drain3_recall(clusters, injected, None):.0%} all / "
                                    f"{drain3_recall(clusters, injected, args.budget):.0%} in {args.budget}",
         f"{math.ceil(sum(len(t) + 1 for _, t in clusters) / 4)} tokens", len(clusters)),
        ("Drain3 + example masking", n / dm_t, f"{drain3_recall(clusters_m, injected, None):.0%} all / "
                                               f"{drain3_recall(clusters_m, injected, args.budget):.0%} in {args.budget}",
         f"{math.ceil(sum(len(t) + 1 for _, t in clusters_m) / 4)} tokens", len(clusters_m)),
    ]
    print(f"{n:,} lines, {len(injected)} injected failure lines ({len(FAILURES)} signatures), best of {args.repeats} "
          f"(interleaved; Drain3 with masking: 1 run)")
    print(f"{'':32} {'lines/s':>11} {'x Drain3':>9}  {'signature recall':<24} {'output':>14} {'groups':>7}")
    for name, rate, recall, size, groups in rows:
        print(f"{name:32} {rate:>11,.0f} {rate / (n / d_t):>8.1f}x  {recall:<24} {size:>14} {groups!s:>7}")
    print(f"fatal (line {digest.fatal_line}): {(digest.fatal or '')[:120]}")


if __name__ == "__main__":
    main()
