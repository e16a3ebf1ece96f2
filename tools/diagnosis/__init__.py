"""Failure diagnosis by rules: known log signatures (catalog/failure_signatures.yaml) and their fixes.

- `signatures.match_line(line)`: ids of the known signatures a log line shows (fast; runs on every line).
- `rules.diagnose(log, ...)`: the decisive line of a failed start, its category and the slot changes that fix it.
"""

from modeldeploy.tools.diagnosis.signatures import match_line, signature

__all__ = ["match_line", "signature", "diagnose", "Diagnosis"]


def __getattr__(name: str):  # rules imports schemas; keep `import ...signatures` light for the log digest
    if name in ("diagnose", "Diagnosis"):
        from modeldeploy.tools.diagnosis import rules

        return getattr(rules, name)
    raise AttributeError(name)
