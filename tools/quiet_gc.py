"""No full garbage collection while requests are in flight, for a client that has the process to itself (the
`bench` and `eval` CLIs; not a server or a graph run, which share their process with others).

Measured (docs/benchmarking.md): a full (oldest-generation) collection walks every object of the process,
the tokenizer's, pydantic's and the imported libraries' included: 80 ms at 2,000 req/s, during which no read is
timestamped and no request is sent. In an eval of 1,000 questions at concurrency 32 (~1.7 s), one 16 ms full
collection is a point of client overhead (bench/eval_client_overhead.py).

Held off for a whole eval, however long, it costs no memory: the request loop leaves no cycles for the oldest
generation to find (100,000 questions against a 1 ms server: 365 MB resident at the end with and without it,
the records the run returns).
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_gc() -> Iterator[None]:
    """Collect once before the run, freeze what survives (the oldest generation's scans skip it) and leave the
    oldest generation alone until the run ends; the young generations still collect the per-request cycles."""
    gc.collect()
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], thresholds[1], max(thresholds[2], 1_000_000))
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()
