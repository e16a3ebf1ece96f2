"""Suite lookup: the built-in benchmarks, the YAML suites shipped in catalog/eval_suites, or a YAML path."""

from __future__ import annotations

from pathlib import Path

from modeldeploy.errors import UserInputError
from modeldeploy.tools.eval.suite import Suite

CATALOG = Path(__file__).resolve().parents[2] / "catalog" / "eval_suites"
ALIASES = {"mmlu-pro": "mmlu_pro", "mmlupro": "mmlu_pro", "aime25": "aime2025", "aime_2025": "aime2025",
           "aime-2025": "aime2025"}


def builtin_names() -> list[str]:
    return ["mmlu_pro", "aime2025", "gsm8k"]


def catalog_names() -> list[str]:
    return sorted(p.stem for p in CATALOG.glob("*.yaml")) if CATALOG.is_dir() else []


def load_suite(name: str) -> Suite:
    """`mmlu_pro`, `aime2025`, `gsm8k`, a catalog suite (`addition`), or a path to a suite YAML file."""
    from modeldeploy.tools.eval.aime import AIME2025
    from modeldeploy.tools.eval.custom import CustomSuite, load_spec
    from modeldeploy.tools.eval.gsm8k import GSM8K
    from modeldeploy.tools.eval.mmlu_pro import MMLUPro

    key = ALIASES.get(name.lower(), name.lower())
    builtins = {"mmlu_pro": MMLUPro, "aime2025": AIME2025, "gsm8k": GSM8K}
    if key in builtins:
        return builtins[key]()
    path = Path(name)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise UserInputError(f"suite file not found: {path}")
        return CustomSuite(load_spec(path), path.resolve())
    shipped = CATALOG / f"{name}.yaml"
    if shipped.is_file():
        return CustomSuite(load_spec(shipped), shipped)
    known = ", ".join(builtin_names() + catalog_names())
    raise UserInputError(f"unknown suite {name!r} (known: {known}; or a path to a suite .yaml)")
