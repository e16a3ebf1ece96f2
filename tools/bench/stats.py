"""Summary statistics of one metric: mean, median, p90, p95, p99, max (numpy's linear percentiles, as vLLM)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from modeldeploy.tools.bench.schema import Stats


def summarize(values: Sequence[float]) -> Stats:
    """Stats of `values` (milliseconds or any unit); all None when there are none."""
    if len(values) == 0:
        return Stats(count=0)
    arr = np.asarray(values, dtype=float)
    p = np.percentile(arr, [50, 90, 95, 99])
    return Stats(count=int(arr.size), mean=float(arr.mean()), median=float(p[0]), p90=float(p[1]), p95=float(p[2]),
                 p99=float(p[3]), min=float(arr.min()), max=float(arr.max()), std=float(arr.std()))
