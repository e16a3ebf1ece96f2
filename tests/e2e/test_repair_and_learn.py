"""The repair loop and the experience library, end to end with the simulator as a local process.

The hardware file says A100 (bf16-capable) but the virtual GPU the simulator plays is a T4
(compute capability 7.5): the first start fails with vLLM's real bf16 error, the rules switch
to float16, the second start serves. The next deployment of the same model on the same
hardware follows the recorded recipe: one attempt, no LLM call. A lesson whose fix later
fails loses strength. Run once with the default SQLite files and once with one PostgreSQL
database (MODELDEPLOY_DATABASE_URL) holding the library, the registry and the checkpoints.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("modeldeploy"))
TINY = str(ROOT / "models" / "tiny-llama")
A100 = str(ROOT / "tests" / "fixtures" / "machines" / "a100-80gb-x1.json")
T4 = json.dumps({"name": "Tesla T4", "memory_total_mib": 15360, "compute_capability": "7.5", "count": 1,
                 "cuda_driver_version": "12.4"})
SIMULATOR = f"{sys.executable} -m modeldeploy.simulator"


DB_URL: dict[Path, str] = {}


def _env(home: Path) -> dict[str, str]:
    env = {**os.environ, "MODELDEPLOY_HOME": str(home)}
    if home in DB_URL:
        env["MODELDEPLOY_DATABASE_URL"] = DB_URL[home]
    return env


def deploy(home: Path, *extra: str) -> dict:
    proc = subprocess.run([CLI, "deploy", TINY, "--runtime", "process", "--command", SIMULATOR, "--hardware", A100,
                           "--virtual-gpus", "--env", f"MODELDEPLOY_SIM_GPU={T4}", "--yes", "--json", *extra],
                          capture_output=True, text=True, cwd=ROOT, timeout=300, env=_env(home))
    assert proc.stdout, proc.stderr
    doc = json.loads(proc.stdout)
    subprocess.run([CLI, "down", doc["name"]], capture_output=True, cwd=ROOT, timeout=120, env=_env(home))
    return doc


def lesson(home: Path) -> dict:
    proc = subprocess.run([CLI, "experience", "list", "--json"], capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env=_env(home))
    lessons = json.loads(proc.stdout)
    assert len(lessons) == 1, lessons
    return lessons[0]


def test_repair_then_learn_then_weaken(tmp_path, db_url):
    home = tmp_path / "home"
    if db_url.startswith("postgresql"):
        DB_URL[home] = db_url
    first = deploy(home)
    assert first["status"] == "ready", first["reasons"]
    assert [a["outcome"] for a in first["attempts"]] == ["crashed", "ready"]
    (repair,) = first["repairs"]
    assert repair["category"] == "dtype_unsupported" and repair["fix"] == {"dtype": "float16"}
    assert repair["decided_by"] == "rules" and "Bfloat16 is only supported" in repair["fatal"]
    assert first["usage"] == []
    learned = lesson(home)
    assert learned["fix"] == {"dtype": "float16"} and learned["status"] == "candidate" and learned["source"] == "agent"

    second = deploy(home, "--name", "md-tiny-second")
    assert second["status"] == "ready" and second["decided_by"] == "experience"
    assert [a["outcome"] for a in second["attempts"]] == ["ready"] and second["usage"] == []
    strengthened = lesson(home)
    assert strengthened["strength"] == learned["strength"] + 1

    # The same recipe on a "GPU" that now fails every start: the lesson it applied loses strength.
    third = deploy(home, "--name", "md-tiny-third", "--env", "MODELDEPLOY_SIM_FAIL=1")
    assert third["status"] == "failed"
    assert lesson(home)["strength"] == strengthened["strength"] - 1
    if db_url.startswith("postgresql"):   # everything went to the one database: no SQLite file was made
        from sqlalchemy import create_engine, text

        assert not list(home.glob("*.db")), list(home.glob("*.db"))
        engine = create_engine(db_url)
        try:
            with engine.connect() as conn:
                threads = conn.execute(text("SELECT count(DISTINCT thread_id) FROM checkpoints")).scalar()
                runs = conn.execute(text("SELECT count(*) FROM run")).scalar()
        finally:
            engine.dispose()
        assert threads == 3 and runs == 3
