"""`pip install .` gives one top-level package, `modeldeploy`, with its data files and console script."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    return next(out.glob("modeldeploy-*.whl"))


def test_wheel_holds_only_the_modeldeploy_package_and_its_data(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"modeldeploy", next(t for t in tops if t.endswith(".dist-info"))}
    for required in ("modeldeploy/catalog/frameworks.yaml", "modeldeploy/prompts/choose_framework.md",
                     "modeldeploy/catalog/eval_suites/addition.yaml", "modeldeploy/catalog/eval_suites/addition.jsonl",
                     "modeldeploy/experience_store/migrations/script.py.mako",
                     "modeldeploy/experience_store/migrations/versions/0001_initial.py",
                     "modeldeploy/graph/builder.py", "modeldeploy/cli/main.py"):
        assert required in names
    assert not any(n.startswith("modeldeploy/tests/") for n in names)
    entry_points = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("entry_points.txt"))).decode()
    assert "modeldeploy = modeldeploy.cli.main:run" in entry_points


def test_fresh_venv_install_runs_and_has_no_stray_top_level_modules(wheel, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "--no-deps", "-q", str(wheel)],
                   check=True, capture_output=True, timeout=300)
    site = Path(subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    installed = {p.name for p in site.iterdir() if not p.name.endswith((".dist-info", ".pth")) and p.name != "__pycache__"}
    assert installed == {"modeldeploy"}
    for stray in ("graph", "nodes", "tools", "prompts", "experience_store", "server", "cli"):
        assert not (site / stray).exists() and not (site / f"{stray}.py").exists()
    # Dependencies come from this test run's environment, appended after the fresh venv's own site-packages.
    env = {**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"]}
    proc = subprocess.run([str(venv / "bin" / "modeldeploy"), "plan", str(ROOT / "models" / "tiny-llama"), "--json"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    where = subprocess.run([str(py), "-c", "import modeldeploy; print(modeldeploy.__file__)"],
                           capture_output=True, text=True, env=env, check=True).stdout
    assert where.startswith(str(site))
