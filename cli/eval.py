"""`modeldeploy eval`: score an OpenAI-compatible endpoint on a suite, reproducibly.

    modeldeploy eval --endpoint http://127.0.0.1:8000/v1 --model NAME --suite mmlu_pro --data pack/ --json --out res/
    modeldeploy eval --endpoint URL --model NAME --suite addition
    modeldeploy eval suites
    modeldeploy eval import ~/.cache/huggingface/hub/datasets--TIGER-Lab--MMLU-Pro --suite mmlu_pro --out packs/mmlu-pro

With --json stdout is one JSON object (suite, n, score_official, score_strict, unparsed_rate, truncated_rate,
error_rate, ci95, dataset_sha256, template_sha256, ..., and `post` with --post). --out DIR writes
results_<suite>.json (lm-eval layout) and samples_<suite>.jsonl; running the same command again resumes from them.
--post URL (or MODELDEPLOY_EVAL_POST_URL) then POSTs the results document there. Exit 0 scored, 1 some requests
failed after retries or the POST failed (rerun: only what is missing is asked, and the POST is made again),
2 bad input. Mount with `app.add_typer(eval_app, name="eval")`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from modeldeploy.errors import ModelDeployError, UserInputError

app = typer.Typer(help="Evaluate an endpoint: MMLU-Pro, AIME 2025, GSM8K, custom YAML suites.",
                  invoke_without_command=True, no_args_is_help=False)

API_KEY_ENV = "MODELDEPLOY_EVAL_API_KEY"
POST_URL_ENV = "MODELDEPLOY_EVAL_POST_URL"


class RequestsFailed(ModelDeployError):
    """Some samples got no answer after the retries (exit 1; a rerun with the same --out asks only those)."""


@app.callback()
def eval_command(
    ctx: typer.Context,
    endpoint: Annotated[str | None, typer.Option(help="Base URL of the server (http://host:port or .../v1).")] = None,
    model: Annotated[str | None, typer.Option(help="Served model name.")] = None,
    suite: Annotated[str | None, typer.Option(help="mmlu_pro, aime2025, gsm8k, a catalog suite (addition) or a .yaml.")] = None,
    data: Annotated[Path | None, typer.Option(help="Pack: a JSONL/JSON/Parquet file or a directory in the official schema.")] = None,
    fewshot: Annotated[Path | None, typer.Option(help="MMLU-Pro: the validation split (default: beside --data).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N questions.")] = None,
    concurrency: Annotated[int, typer.Option(min=1, max=1024, help="Requests in flight at once.")] = 8,
    repeats: Annotated[int | None, typer.Option(min=1, help="Samples per question (avg@n); default per suite.")] = None,
    n_shot: Annotated[int | None, typer.Option(min=0, max=10, help="Override the suite's shots (MMLU-Pro: 5).")] = None,
    max_tokens: Annotated[int | None, typer.Option(min=1, help="Override the suite's max_tokens.")] = None,
    temperature: Annotated[float | None, typer.Option(min=0, help="Override the suite's temperature.")] = None,
    seed: Annotated[int | None, typer.Option(help="Base seed sent with requests (repeat r gets seed + r).")] = None,
    timeout: Annotated[float, typer.Option(min=1, help="Per-request timeout (s).")] = 600.0,
    retries: Annotated[int, typer.Option(min=0, help="Retries of a request on transport errors, 429 and 5xx.")] = 4,
    as_json: Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout.")] = False,
    out: Annotated[Path | None, typer.Option(help="Write results_<suite>.json and samples_<suite>.jsonl here (resumable).")] = None,
    post: Annotated[str | None, typer.Option(help=f"POST the results document to this URL (default: ${POST_URL_ENV}).")] = None,
) -> None:
    """Score an endpoint on a suite: official and strict scores, unparsed and truncated rates, a 95% interval."""
    if ctx.invoked_subcommand is not None:
        return
    missing = [name for name, value in (("--endpoint", endpoint), ("--model", model), ("--suite", suite)) if not value]
    if missing:
        raise UserInputError(f"modeldeploy eval needs {', '.join(missing)} (or a subcommand: suites)")
    if not endpoint.startswith(("http://", "https://")):
        raise UserInputError(f"--endpoint must be an http(s) URL, got {endpoint!r}")
    post = post or os.environ.get(POST_URL_ENV) or None
    if post is not None and not post.startswith(("http://", "https://")):
        raise UserInputError(f"--post (or ${POST_URL_ENV}) must be an http(s) URL, got {post!r}")
    from modeldeploy.tools.eval.runner import EvalConfig, run_eval

    try:
        cfg = EvalConfig(endpoint=endpoint, model=model, suite=suite, data=data, fewshot=fewshot, limit=limit,
                         concurrency=concurrency, repeats=repeats, n_shot=n_shot, max_tokens=max_tokens,
                         temperature=temperature, seed=seed, api_key=os.environ.get(API_KEY_ENV) or None,
                         timeout_s=timeout, retries=retries, out=out)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UserInputError(f"invalid {'.'.join(str(p) for p in err['loc']) or 'input'}: {err['msg']}") from None
    progress = None if as_json or not sys.stderr.isatty() else _progress()
    run = run_eval(cfg, on_record=progress)
    if progress is not None:
        sys.stderr.write("\n")
    summary = run.summary
    posted = _post(post, run.document, summary.suite, out) if post else None
    if as_json:
        from modeldeploy.cli.output import echo_json

        echo_json({**summary.model_dump(mode="json"), **({"post": posted.as_dict()} if posted else {})})
    else:
        _print_summary(summary)
        if posted is not None and posted.ok:
            print(f"  posted to {posted.url} (HTTP {posted.status})")
    failed = round(summary.error_rate * summary.n)
    if failed:
        first = next(r.error for r in run.records if r.error)
        raise RequestsFailed(f"{failed} of {summary.n} requests failed after {retries} retries (first: {first}); "
                             "scores count them wrong" + ("; rerun the same command to ask only those" if out else ""))
    if posted is not None and not posted.ok:
        kept = summary.results_path or posted.saved
        raise PostFailed(f"the result was not posted to {posted.url} ({posted.error}, {posted.attempts} attempts); "
                         f"it is kept in {kept}" + ("; rerun the same command to post it (every sample is resumed)"
                                                    if out else ""))


class PostFailed(ModelDeployError):
    """The result could not be POSTed (exit 1); the local result is kept."""


def _post(url: str, document: dict, suite: str, out: Path | None):
    from modeldeploy.settings import home_dir
    from modeldeploy.tools.eval.post import TOKEN_ENV, keep_unposted, post_document

    result = post_document(url, document, token=os.environ.get(TOKEN_ENV) or None)
    if not result.ok and out is None:
        result.saved = str(keep_unposted(home_dir(), document, suite))
    return result


@app.command("import")
def import_command(
    src: Annotated[Path, typer.Argument(help="A downloaded dataset: HF hub/datasets cache dir, repo snapshot, or a Parquet/Arrow/JSONL file.")],
    suite: Annotated[str, typer.Option(help="mmlu_pro, aime2025 or gsm8k.")],
    out: Annotated[Path, typer.Option(help="The pack directory to write (replaced if it is a previous pack).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the pack manifest as one JSON object.")] = False,
) -> None:
    """Turn a downloaded benchmark into a pack (<split>.jsonl + pack.json) that --data accepts; nothing is downloaded."""
    from modeldeploy.tools.eval.importer import import_pack

    manifest = import_pack(src, suite, out)
    if as_json:
        from modeldeploy.cli.output import echo_json

        echo_json(manifest)
        return
    for split, info in manifest["splits"].items():
        print(f"{split}\t{info['rows']} rows\t{out / info['file']}\tsha256 {info['sha256'][:16]}")
    print(f"pack written: {out} (use --data {out})")


@app.command("suites")
def suites_command() -> None:
    """List the suites: built-in benchmarks and the YAML suites in the catalog."""
    from modeldeploy.tools.eval.registry import builtin_names, catalog_names

    for name in builtin_names():
        print(f"{name}\tbuilt-in")
    for name in catalog_names():
        print(f"{name}\tcatalog/eval_suites/{name}.yaml")


def _progress():
    done = [0]

    def tick(record) -> None:
        done[0] += 1
        sys.stderr.write(f"\r{done[0]} answered")
        sys.stderr.flush()

    return tick


def _print_summary(s) -> None:
    from rich.console import Console

    console = Console(soft_wrap=True)
    console.print(f"{s.suite} on {s.model}: {s.n} samples ({s.n_docs} questions x {s.repeats}), {s.wall_time_s:.1f} s")
    console.print(f"  official {s.score_official:.4f}  (95% CI {s.ci95[0]:.4f}-{s.ci95[1]:.4f})   strict {s.score_strict:.4f}")
    console.print(f"  unparsed {s.unparsed_rate:.2%}   truncated {s.truncated_rate:.2%}   errors {s.error_rate:.2%}"
                  + (f"   resumed {s.resumed}" if s.resumed else ""))
    for name, c in s.categories.items():
        console.print(f"    {name:<20} {c['score_official']:.4f}  (n={int(c['n'])})")
    console.print(f"  dataset sha256 {s.dataset_sha256[:16]}…  template sha256 {s.template_sha256[:16]}…")
    if s.results_path:
        console.print(f"  results: {s.results_path}\n  samples: {s.samples_path}")
