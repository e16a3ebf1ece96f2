"""Load testing of OpenAI-compatible endpoints: `modeldeploy bench` and the benchmark node.

Modules, one job each:
- `schema`: the result document (pydantic) and the run configuration.
- `workloads`: what to send (random lengths, ShareGPT, JSONL, shared prefixes).
- `tokenizer`: the model's tokenizer when one can be found (exact lengths, token counts).
- `client`: one streamed request over aiohttp; the hot path only timestamps raw reads.
- `sse`: raw reads to server-sent events with their arrival times (after the run, off the hot path).
- `loadgen`: load shapes (concurrency, Poisson/gamma rate, capped rate), bounds, warm-up.
- `monitor`: event-loop lag and client CPU while a run goes on.
- `analyze`: records to metrics (TTFT, TPOT, ITL, E2E, throughput, goodput, errors).
- `validity`: was the client the bottleneck? the verdict.
- `prometheus`: the server's own /metrics before, during and after.
- `sweep`: concurrency/rate sweeps and the SLO search.
- `runner`: one benchmark from a `BenchConfig` to a `BenchDocument`.
- `results`, `html_report`, `progress`, `summary`: JSON/CSV files, the HTML report, the live terminal
  display, the terminal table.
- `stats`: mean, median, p90, p95, p99, max.
- `store`: results in the database by deployment, compared with the previous run.
"""
