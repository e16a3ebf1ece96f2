"""The bench client's run-time setup: uvloop when installed, no full garbage collection during a measured run,
and the comparison script's verdict (median of runs, shared criterion and the client's own verdict)."""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import sys
from pathlib import Path

import pytest

from modeldeploy.cli.bench import loop_factory
from modeldeploy.tools.bench.runner import event_loop_name
from modeldeploy.tools.quiet_gc import quiet_gc

ROOT = Path(__file__).resolve().parents[2]


def load_compare():
    spec = importlib.util.spec_from_file_location("compare_load_clients", ROOT / "bench" / "compare_load_clients.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_loop_factory_is_uvloop_when_installed_and_none_without(monkeypatch):
    uvloop = pytest.importorskip("uvloop")
    assert loop_factory() is uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        assert runner.run(_loop_name()) == "uvloop"
    monkeypatch.setitem(sys.modules, "uvloop", None)  # import uvloop now raises ImportError
    assert loop_factory() is None
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        assert runner.run(_loop_name()) == "asyncio"


async def _loop_name() -> str | None:
    return event_loop_name()


def test_event_loop_name_outside_a_loop_is_none():
    assert event_loop_name() is None


class Cycle:
    def __init__(self):
        self.me = self


def test_quiet_gc_skips_full_collections_keeps_young_ones_and_restores():
    before = gc.get_threshold()
    collected: list[int] = []

    def watch(phase, info):
        if phase == "stop":
            collected.append(info["generation"])

    gc.callbacks.append(watch)
    try:
        with quiet_gc():
            collected.clear()  # quiet_gc's own gc.collect() before the run is allowed
            assert gc.get_freeze_count() > 0
            kept = [Cycle() for _ in range(200_000)]  # long-lived, like the run's records: normally full collections
            for _ in range(10_000):
                Cycle()  # short-lived cycles: the young generations still collect them
            assert 0 in collected
            assert len(kept) == 200_000
            assert 2 not in collected
            assert gc.get_threshold()[2] >= 1_000_000
        assert gc.get_threshold() == before
        assert gc.get_freeze_count() == 0
    finally:
        gc.callbacks.remove(watch)


def test_quiet_gc_restores_after_an_error():
    before = gc.get_threshold()
    with pytest.raises(RuntimeError):
        with quiet_gc():
            raise RuntimeError("boom")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def fake_client(outcomes: dict[float, list[dict]]):
    calls: dict[float, int] = {}

    def run(url, model, rate, seconds, tmp):
        i = calls.get(rate, 0)
        calls[rate] = i + 1
        return outcomes[rate][i]

    return run, calls


def ok(rate, valid=True, failed=0, frac=1.0):
    return {"completed": int(rate * 4 * frac), "failed": failed, "duration_s": 4.0, "valid": valid,
            "reasons": [] if valid else ["late"], "cpu_percent": 50.0}


def test_ladder_takes_the_median_and_stops_at_the_first_miss(monkeypatch, tmp_path):
    compare = load_compare()
    run, calls = fake_client({
        100: [ok(100), ok(100, frac=0.5), ok(100)],                          # one bad run: the median holds
        200: [ok(200, valid=False), ok(200), ok(200, valid=False)],          # sustained, but not valid by its verdict
        300: [ok(300), ok(300, valid=False), ok(300)],                       # sustained and valid (2 of 3)
        400: [ok(400, frac=0.9), ok(400, frac=0.5), ok(400)],                # median 90% < 95%: the miss
        800: [ok(800)] * 3,                                                  # never tried
    })
    monkeypatch.setitem(compare.CLIENTS, "modeldeploy bench", run)
    result = compare.capacity_ladder("modeldeploy bench", "http://x/v1", [100, 200, 300, 400, 800], 4.0, 3, tmp_path)
    assert result["sustained_rate"] == 300
    assert result["valid_rate"] == 300
    assert result["invalid_below"] == [200]
    assert [t["delivered"] for t in result["tried"]] == [100.0, 200.0, 300.0, 360.0]
    assert result["tried"][1]["valid_runs"] == [False, True, False]
    assert calls == {100: 3, 200: 3, 300: 3, 400: 3}


def test_a_point_with_failures_or_errors_is_not_sustained(monkeypatch, tmp_path):
    compare = load_compare()
    run, _ = fake_client({100: [ok(100, failed=3), ok(100, failed=1), ok(100)],
                          200: [{"error": "boom"}, {"error": "boom"}, ok(200)]})
    monkeypatch.setitem(compare.CLIENTS, "guidellm", run)
    failing = compare.point("guidellm", "http://x/v1", 100, 4.0, 3, tmp_path)
    assert failing["delivered"] == 100.0 and not failing["ok"]
    erroring = compare.point("guidellm", "http://x/v1", 200, 4.0, 3, tmp_path)
    assert not erroring["ok"] and erroring["error"] == "boom" and erroring["delivered"] == 0.0
