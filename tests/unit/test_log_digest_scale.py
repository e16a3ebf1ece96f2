"""The digest at scale: a generated 10,000-line log and a streamed 1,000,000-line file stay within 1,500 tokens
with the fatal line present, and the big file is never held in memory whole."""

from __future__ import annotations

import random
import resource
import time

from modeldeploy.tools.logs import digest_log, read_lines

NO_MATCH = lambda line: []  # noqa: E731
FATAL = ("(EngineCore_DP0 pid=4242) ERROR 11-25 14:07:41 [core.py:710] torch.OutOfMemoryError: CUDA out of memory. "
         "Tried to allocate 7.83 GiB. GPU 0 has a total capacity of 23.55 GiB of which 1.12 GiB is free.")


def noisy_lines(n: int, seed: int = 1) -> list[str]:
    """Serving noise with many distinct error and warning templates (words the masks cannot fold), long lines,
    progress bars with carriage returns, ANSI colours, and harmless tracebacks along the way."""
    rnd = random.Random(seed)
    words = [f"{a}{b}" for a in ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel")
             for b in ("red", "green", "blue", "amber", "violet", "cyan")]
    out = []
    while len(out) < n:
        r = rnd.random()
        ip = f"10.{rnd.randint(0, 9)}.{rnd.randint(0, 255)}.{rnd.randint(1, 254)}:{rnd.randint(1024, 65535)}"
        if r < 0.5:
            out.append(f'(APIServer pid=1) INFO:     {ip} - "POST /v1/chat/completions HTTP/1.1" 200 OK')
        elif r < 0.65:
            out.append(f"(APIServer pid=1) \x1b[32mINFO\x1b[0m 11-25 13:00:{rnd.randint(10, 59)} [loggers.py:127] "
                       f"Engine 000: Avg prompt throughput: {rnd.uniform(0, 9e3):.1f} tokens/s, Running: "
                       f"{rnd.randint(0, 99)} reqs, GPU KV cache usage: {rnd.uniform(0, 100):.1f}%")
        elif r < 0.80:
            out.append(f"(APIServer pid=1) WARNING 11-25 13:00:00 [serving.py:{rnd.randint(1, 999)}] request field "
                       f"{rnd.choice(words)} ignored for client {rnd.choice(words)} " + "x" * rnd.randint(0, 400))
        elif r < 0.90:
            out.append(f"(APIServer pid=1) ERROR 11-25 13:00:00 [serving.py:88] upstream {rnd.choice(words)} "
                       f"rejected batch {rnd.randint(0, 10**6)} from {rnd.choice(words)}: " + "y" * rnd.randint(0, 600))
        elif r < 0.95:
            segs = [f"Capturing CUDA graphs: {p:3d}%|{'#' * (p // 10):<10}| {p}/100 [00:01<00:02, 9.1it/s]"
                    for p in range(0, 101, 20)]
            out.append("\r".join(segs))
        elif r < 0.96:
            p = f"(APIServer pid={rnd.randint(2, 9)}) "
            out += [p + "Traceback (most recent call last):", p + '  File "/app/h.py", line 3, in handle',
                    p + "    step()", p + f"KeyError: '{rnd.choice(words)}'"]
        else:
            out.append(f"(EngineCore_DP0 pid=4242) INFO 11-25 13:00:00 [block_pool.py:{rnd.randint(1, 400)}] "
                       f"Successfully reset prefix cache")
    return out[:n]


def crash_tail() -> list[str]:
    p = "(EngineCore_DP0 pid=4242) ERROR 11-25 14:07:41 [core.py:710] "
    return [p[:-1] + " EngineCore encountered a fatal error.", p + "Traceback (most recent call last):",
            p + '  File "/v/gpu_model_runner.py", line 2297, in execute_model',
            p + "    logits = self.model.compute_logits(sample_hidden_states)", FATAL,
            "(APIServer pid=1) ERROR 11-25 14:07:41 [async_llm.py:480] AsyncLLM output_handler failed.",
            "(APIServer pid=1) ERROR 11-25 14:07:41 [async_llm.py:480] Traceback (most recent call last):",
            '(APIServer pid=1) ERROR 11-25 14:07:41 [async_llm.py:480]   File "/v/async_llm.py", line 439, in f',
            "(APIServer pid=1) ERROR 11-25 14:07:41 [async_llm.py:480] vllm.v1.engine.exceptions.EngineDeadError: "
            "EngineCore encountered an issue. See stack trace (above) for the root cause."]


def test_10000_lines_fit_the_budget_with_the_fatal_line():
    lines = noisy_lines(10_000 - 9) + crash_tail()
    d = digest_log(lines, budget_tokens=1500, matcher=NO_MATCH)
    assert d.total_lines == 10_000
    assert d.tokens <= 1500 and d.fatal == FATAL and d.fatal_line == 10_000 - 4
    assert FATAL in d.render() and d.truncated
    for budget in (100, 400, 800):
        small = digest_log(lines, budget_tokens=budget, matcher=NO_MATCH)
        assert small.tokens <= budget and "torch.OutOfMemoryError: CUDA out of memory" in small.render()


def test_any_10000_lines_fit_the_budget():
    lines = noisy_lines(50_000, seed=7)
    for start in (0, 12_345, 40_000):
        window = lines[start:start + 10_000]
        d = digest_log(window, budget_tokens=1500, matcher=NO_MATCH)
        assert d.tokens <= 1500
        if d.fatal:
            assert d.fatal.split("\n")[0] in d.render()


def test_a_million_line_file_is_streamed_within_the_budget(tmp_path):
    block = noisy_lines(10_000, seed=3)
    path = tmp_path / "server.log"
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for k in range(100):
            if k == 57:   # a harmless early crash report; the real one is last
                fh.write("ERROR 11-25 13:30:00 worker 7 died: Segmentation fault (core dumped)\n")
                fh.write("\n".join(block[1:]) + "\n")
            else:
                fh.write("\n".join(block) + "\n")
        fh.write("\n".join(crash_tail()) + "\n")
    size = path.stat().st_size
    total = 100 * 10_000 + len(crash_tail())
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    start = time.perf_counter()
    d = digest_log(path, budget_tokens=1500, matcher=NO_MATCH)
    elapsed = time.perf_counter() - start
    peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert d.total_lines == total
    assert d.tokens <= 1500
    assert d.fatal == FATAL and d.fatal_line == total - 4 and FATAL in d.render()
    assert read_lines(path, d.fatal_line, d.fatal_line) == [FATAL]
    # streamed: the peak memory grows by far less than the file (groups only, a few chunks)
    assert peak_after - peak_before < size / 2, (peak_after - peak_before, size)
    assert elapsed < 60, elapsed   # about a second on a quiet machine
