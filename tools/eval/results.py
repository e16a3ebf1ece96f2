"""The result document in lm-evaluation-harness's layout, so that tools that read lm-eval results read ours.

Top-level keys as lm-eval writes them: `results` (per task, "metric,filter" keys), `configs`, `versions`,
`n-shot`, `higher_is_better`, `n-samples`, `config`, `git_hash`, `date`; plus `modeldeploy` with the summary
(hashes, rates, interval) that lm-eval has no key for.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from modeldeploy.tools.eval.schema import EvalSummary
from modeldeploy.tools.eval.suite import Suite


def git_hash() -> str | None:
    """The short commit hash of the checkout this package runs from (None outside one), like lm-eval's `git_hash`.

    Read from .git (HEAD, the loose ref or packed-refs; a worktree's `gitdir:` file), with `git rev-parse` as the
    fallback: a subprocess costs ~6 ms of CPU on the core the requests are being sent from."""
    try:
        commit = _read_head(Path(__file__).resolve().parent)
    except LookupError:  # not in a checkout (an installed package)
        return None
    except (OSError, ValueError, UnicodeDecodeError):
        commit = None
    return commit[:7] if commit else _git_rev_parse()


def _read_head(start: Path) -> str | None:
    for folder in (start, *start.parents):
        dot_git = folder / ".git"
        if dot_git.is_file():  # a worktree or submodule: "gitdir: <path>"
            gitdir = (folder / dot_git.read_text().split(":", 1)[1].strip()).resolve()
        elif dot_git.is_dir():
            gitdir = dot_git
        else:
            continue
        common = (gitdir / (gitdir / "commondir").read_text().strip()).resolve() \
            if (gitdir / "commondir").is_file() else gitdir
        head = (gitdir / "HEAD").read_text().strip()
        if not head.startswith("ref:"):
            return head if _is_sha(head) else None  # detached
        ref = head[4:].strip()
        for base in (gitdir, common):
            if (base / ref).is_file():
                sha = (base / ref).read_text().strip()
                return sha if _is_sha(sha) else None
        packed = common / "packed-refs"
        for line in packed.read_text().splitlines() if packed.is_file() else ():
            sha, _, name = line.partition(" ")
            if name == ref and _is_sha(sha):
                return sha
        return None  # an unborn branch, or a layout we do not know: ask git
    raise LookupError("no .git above the package")


def _is_sha(text: str) -> bool:
    return len(text) in (40, 64) and all(c in "0123456789abcdef" for c in text)


def _git_rev_parse() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent, capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


LOOK_UP = object()


def lm_eval_document(suite: Suite, summary: EvalSummary, concurrency: int, n_original: int,
                     commit: str | None | object = LOOK_UP) -> dict[str, Any]:
    """The lm-eval document; `commit` is the repository's short hash (looked up when not given)."""
    task = suite.name
    official, strict = suite.metric_official, suite.metric_strict
    results = {"alias": task,
               f"exact_match,{official}": summary.score_official,
               f"exact_match_stderr,{official}": summary.stderr,
               f"exact_match,{strict}": summary.score_strict,
               f"exact_match_stderr,{strict}": "N/A",
               "unparsed_rate,none": summary.unparsed_rate,
               "truncated_rate,none": summary.truncated_rate,
               "error_rate,none": summary.error_rate}
    config = suite.describe()
    config.update({"dataset_sha256": summary.dataset_sha256, "fewshot_sha256": summary.fewshot_sha256,
                   "template_sha256": summary.template_sha256, "repeats": summary.repeats})
    return {
        "results": {task: results},
        "group_subtasks": {task: []},
        "configs": {task: config},
        "versions": {task: float(suite.version) if suite.version.replace(".", "", 1).isdigit() else suite.version},
        "n-shot": {task: suite.n_shot},
        "higher_is_better": {task: {"exact_match": True, "unparsed_rate": False, "truncated_rate": False,
                                    "error_rate": False}},
        "n-samples": {task: {"original": n_original, "effective": summary.n_docs}},
        "config": {"model": "local-chat-completions",
                   "model_args": f"base_url={summary.endpoint}/chat/completions,model={summary.model}",
                   "batch_size": concurrency, "limit": summary.n_docs if summary.n_docs < n_original else None,
                   "gen_kwargs": summary.generation.model_dump(mode="json"), "random_seed": summary.generation.seed},
        "git_hash": git_hash() if commit is LOOK_UP else commit,
        "date": time.time(),
        "model_name": summary.model,
        "modeldeploy": summary.model_dump(mode="json"),
    }


def write_results(out: Path, document: dict[str, Any], suite: str) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"results_{suite}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
