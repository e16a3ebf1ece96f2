"""`modeldeploy eval --post URL` (or MODELDEPLOY_EVAL_POST_URL) sends the results document to a real loopback HTTP
receiver; a failed POST is reported (exit 1, one line) and never loses the local result."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys

from eval_packs import write_jsonl
from eval_server import AnswerServer
from post_receiver import PostReceiver

CLI = [sys.executable, "-m", "modeldeploy.cli.main", "eval"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MODELDEPLOY_EVAL_")}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120, env={**base, **(env or {})})


def adder(ask) -> str:
    a, b = map(int, re.findall(r"\d+", ask.prompt))
    return str(a + b)


def pack(tmp_path):
    return write_jsonl(tmp_path / "add.jsonl", [{"id": f"q{i}", "a": i, "b": 1, "answer": str(i + 1)} for i in range(4)])


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/results"  # nothing listens there any more


def test_the_results_document_is_posted_with_the_token_and_equals_the_local_file(tmp_path):
    out = tmp_path / "out"
    with AnswerServer(adder) as server, PostReceiver() as rx:
        p = run("--endpoint", server.url, "--model", server.model, "--suite", "addition", "--data", str(pack(tmp_path)),
                "--out", str(out), "--json", "--post", rx.url, env={"MODELDEPLOY_EVAL_POST_TOKEN": "s3cret"})
    assert p.returncode == 0, p.stderr
    doc = json.loads(p.stdout)
    assert doc["post"]["ok"] and doc["post"]["status"] == 200 and doc["post"]["attempts"] == 1
    assert len(rx.received) == 1
    got = rx.received[0]
    assert got.path == "/results" and got.headers["content-type"] == "application/json"
    assert got.headers["authorization"] == "Bearer s3cret"
    assert got.body == json.loads((out / "results_addition.json").read_text())
    assert got.body["results"]["addition"]["exact_match,official"] == 1.0


def test_the_url_comes_from_the_environment_and_a_503_is_retried(tmp_path):
    with AnswerServer(adder) as server, PostReceiver(statuses=[503, 200]) as rx:
        p = run("--endpoint", server.url, "--model", server.model, "--suite", "addition", "--data", str(pack(tmp_path)),
                "--json", env={"MODELDEPLOY_EVAL_POST_URL": rx.url})
    assert p.returncode == 0, p.stderr
    assert [r.status for r in rx.received] == [503, 200]
    assert json.loads(p.stdout)["post"] == {"url": rx.url, "ok": True, "status": 200, "error": None, "attempts": 2,
                                            "saved": None}
    assert rx.received[0].body == rx.received[1].body and rx.received[1].body["modeldeploy"]["n"] == 4


def test_a_refused_post_exits_1_keeps_the_local_result_and_a_rerun_posts_it(tmp_path):
    out = tmp_path / "out"
    args = ["--endpoint", None, "--model", "eval-model", "--suite", "addition", "--data", str(pack(tmp_path)),
            "--out", str(out), "--json", "--post", None]
    with AnswerServer(adder) as server, PostReceiver(statuses=[403, 200]) as rx:
        args[1], args[-1] = server.url, rx.url
        first = run(*args)
        kept = json.loads((out / "results_addition.json").read_text())
        second = run(*args)
        asked = len(server.bodies)
    assert first.returncode == 1
    lines = first.stderr.strip().splitlines()
    assert len(lines) == 1 and "not posted" in lines[0] and "HTTP 403" in lines[0] and str(out) in lines[0], first.stderr
    assert json.loads(first.stdout)["post"]["ok"] is False and json.loads(first.stdout)["score_official"] == 1.0
    assert kept["results"]["addition"]["exact_match,official"] == 1.0
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout)["resumed"] == 4 and asked == 4   # the rerun asked nothing again
    assert [r.status for r in rx.received] == [403, 200]
    assert rx.received[1].body["results"] == kept["results"]


def test_an_unreachable_collector_without_out_saves_the_document_under_home(tmp_path):
    home = tmp_path / "home"
    with AnswerServer(adder) as server:
        p = run("--endpoint", server.url, "--model", server.model, "--suite", "addition", "--data", str(pack(tmp_path)),
                "--json", "--post", closed_port_url(), env={"MODELDEPLOY_HOME": str(home)})
    assert p.returncode == 1
    post = json.loads(p.stdout)["post"]
    assert post["ok"] is False and post["status"] is None and post["attempts"] == 3 and "Connect" in post["error"]
    saved = json.loads(open(post["saved"]).read())
    assert post["saved"].startswith(str(home / "eval" / "unposted"))
    assert saved["results"]["addition"]["exact_match,official"] == 1.0
    assert post["saved"] in p.stderr.strip().splitlines()[-1]


def test_a_post_url_that_is_not_http_is_exit_2_before_any_request(tmp_path):
    with AnswerServer(adder) as server:
        p = run("--endpoint", server.url, "--model", server.model, "--suite", "addition", "--data", str(pack(tmp_path)),
                "--post", "ftp://collector/x")
        asked = len(server.bodies)
    assert p.returncode == 2 and asked == 0
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "--post" in lines[0], p.stderr
