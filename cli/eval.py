"""`modeldeploy eval`: score an OpenAI-compatible endpoint on a suite, reproducibly.

    modeldeploy eval --endpoint http://127.0.0.1:8000/v1 --model NAME --suite mmlu_pro --data pack/ --json --out res/
    modeldeploy eval --endpoint URL --model NAME --suite addition
    modeldeploy eval suites
    modeldeploy eval --endpoint URL --model NAME --suite gsm8k --data pack/ --deployment my-llm   # stored, compared
    modeldeploy eval list [--deployment NAME] [--suite S] [--json];  modeldeploy eval show ID [--json]
    modeldeploy eval import ~/.cache/huggingface/hub/datasets--TIGER-Lab--MMLU-Pro --suite mmlu_pro --out packs/mmlu-pro

With --json stdout is one JSON object (suite, n, score_official, score_strict, unparsed_rate, truncated_rate,
error_rate, ci95, dataset_sha256, template_sha256, ..., and `post` with --post). --out DIR writes
results_<suite>.json (lm-eval layout) and samples_<suite>.jsonl; running the same command again resumes from them.
--deployment NAME stores the summary in the database (table eval_run) and prints the comparison with the previous
run of the same deployment and suite (`comparison` in --json; scores are comparable only when the dataset and
template hashes both match). The run uses uvloop's event loop when uvloop is installed.
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
    deployment: Annotated[str | None, typer.Option(help="Store the result under this deployment and compare it with the previous run of the same suite.")] = None,
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
    from modeldeploy.tools.quiet_gc import quiet_gc

    try:
        cfg = EvalConfig(endpoint=endpoint, model=model, suite=suite, data=data, fewshot=fewshot, limit=limit,
                         concurrency=concurrency, repeats=repeats, n_shot=n_shot, max_tokens=max_tokens,
                         temperature=temperature, seed=seed, api_key=os.environ.get(API_KEY_ENV) or None,
                         timeout_s=timeout, retries=retries, out=out)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise UserInputError(f"invalid {'.'.join(str(p) for p in err['loc']) or 'input'}: {err['msg']}") from None
    progress = None if as_json or not sys.stderr.isatty() else _progress()
    with quiet_gc():  # the CLI has the process to itself
        run = run_eval(cfg, on_record=progress, loop_factory=_loop_factory())
    if progress is not None:
        sys.stderr.write("\n")
    summary = run.summary
    failed = round(summary.error_rate * summary.n)
    comparison = None
    if deployment and not failed:  # a run with unanswered samples would compare as a false regression
        from modeldeploy.tools.eval.store import store_eval

        comparison = store_eval(summary, deployment)
    posted = _post(post, run.document, summary.suite, out) if post else None
    if as_json:
        from modeldeploy.cli.output import echo_json

        echo_json({**summary.model_dump(mode="json"), **({"post": posted.as_dict()} if posted else {}),
                   **({"comparison": comparison} if deployment else {})})
    else:
        _print_summary(summary)
        if comparison is not None:
            _print_comparison(comparison)
        if posted is not None and posted.ok:
            print(f"  posted to {posted.url} (HTTP {posted.status})")
    if failed:
        first = next(r.error for r in run.records if r.error)
        raise RequestsFailed(f"{failed} of {summary.n} requests failed after {retries} retries (first: {first}); "
                             "scores count them wrong" + (f"; not stored under {deployment}" if deployment else "")
                             + ("; rerun the same command to ask only those" if out else ""))
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


@app.command("list")
def list_command(
    deployment: Annotated[str | None, typer.Option(help="Only this deployment (or endpoint URL, for runs stored without one).")] = None,
    suite: Annotated[str | None, typer.Option(help="Only this suite.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """Stored evaluations (`eval --deployment NAME` stores them), newest first."""
    from modeldeploy.tools.eval.store import list_evals

    rows = list_evals(deployment=deployment, suite=suite, limit=limit)
    if as_json:
        from modeldeploy.cli.output import echo_json

        echo_json(rows)
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "when (UTC)", "deployment", "suite", "n", "official", "strict", "unparsed", "ci95",
                  "dataset sha", box=box.SIMPLE_HEAD)
    for r in rows:
        table.add_row(str(r["id"]), r["created_at"][:16].replace("T", " "), r["deployment"], r["suite"], str(r["n"]),
                      f"{r['score_official']:.4f}", f"{r['score_strict']:.4f}", f"{r['unparsed_rate']:.2%}",
                      f"{r['ci95'][0]:.4f}-{r['ci95'][1]:.4f}", r["dataset_sha256"][:12])
    # not a terminal (a pipe, a file): wide enough that rows are not wrapped or cut
    console = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
    console.print(table if rows else "no stored evaluations" + (" matching the filters" if deployment or suite else ""))


@app.command("show")
def show_command(
    eval_id: Annotated[int, typer.Argument(metavar="ID", help="The id `eval list` shows.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the stored run (whole summary, comparison) as JSON.")] = False,
) -> None:
    """One stored evaluation: its whole summary and how it compares with the run before it."""
    from modeldeploy.tools.eval.store import get_eval

    found = get_eval(eval_id)
    if found is None:
        raise UserInputError(f"no stored evaluation with id {eval_id} (see modeldeploy eval list)")
    if as_json:
        from modeldeploy.cli.output import echo_json

        echo_json(found)
        return
    from modeldeploy.tools.eval.schema import EvalSummary

    print(f"eval #{found['id']}  {found['created_at'][:19].replace('T', ' ')} UTC  deployment {found['deployment']}")
    _print_summary(EvalSummary.model_validate(found["summary"]))
    _print_comparison(found["comparison"])


def _loop_factory():
    """uvloop's event loop when it is installed (less client CPU per request), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _print_comparison(c: dict) -> None:
    if "id" in c:
        print(f"  stored as eval #{c['id']} under {c['deployment']}")
    prev = c["previous"]
    if prev is None:
        print(f"  {c['note']}")
    elif c["comparable"]:
        print(f"  vs #{prev['id']} ({prev['created_at'][:19].replace('T', ' ')}): official "
              f"{prev['score_official']:.4f} -> {prev['score_official'] + c['score_official_delta']:.4f} "
              f"({c['score_official_delta']:+.4f}), strict {c['score_strict_delta']:+.4f}, unparsed "
              f"{c['unparsed_rate_delta']:+.2%}; " + ("the 95% intervals do not overlap" if c["significant"]
                                                      else "within the 95% intervals")
              + (f"; the served model changed (was {prev['model']})" if c.get("model_changed") else ""))
    else:
        print(f"  {c['note']}")


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
