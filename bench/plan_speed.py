"""How fast planning is: the planner over the fixture matrix, and `modeldeploy plan` end to end.

Run: .venv/bin/python bench/plan_speed.py  (prints a small table; numbers go in the README)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def planner_matrix() -> tuple[int, float]:
    from modeldeploy.schemas.run import DeployRequest
    from modeldeploy.tools.hardware.probe import load_hardware_file
    from modeldeploy.tools.model_inspect.inspect import inspect_model
    from modeldeploy.tools.planning.planner import plan_deployment

    models = [inspect_model(str(p.parent)) for p in sorted((ROOT / "tests/fixtures/models").glob("*/config.json"))]
    machines = [load_hardware_file(p) for p in sorted((ROOT / "tests/fixtures/machines").glob("*.json"))]
    start = time.perf_counter()
    n = 0
    for m in models:
        for hw in machines:
            plan_deployment(m, hw, DeployRequest(model=m.source.ref))
            n += 1
    return n, (time.perf_counter() - start) / n * 1000


def cli_runs(args: list[str], repeat: int = 5) -> float:
    exe = str(Path(sys.executable).with_name("modeldeploy"))
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([exe, *args], check=False, capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    n, ms = planner_matrix()
    print(f"planner: {n} model x machine plans, {ms:.2f} ms per plan (mean, includes infeasible ones' alternatives search)")
    print(f"modeldeploy --help: {cli_runs(['--help']):.2f} s median of 5")
    plan_args = ["plan", "tests/fixtures/models/llama-3.1-70b-instruct", "--hardware",
                 "tests/fixtures/machines/a100-80gb-x4.json", "--json"]
    print(f"modeldeploy plan (70B on 4xA100, --json): {cli_runs(plan_args):.2f} s median of 5")


if __name__ == "__main__":
    main()
