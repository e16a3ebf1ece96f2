"""`modeldeploy eval import`: downloaded datasets (hub cache with Parquet shards, the `datasets` library's Arrow
cache, a single JSONL file) become packs that `modeldeploy eval --data` scores; a wrong schema is one line, exit 2.

The sources are written here with pyarrow in the layouts the hub and `datasets` leave on disk, with generated
rows in the upstream schemas (tests/support/eval_packs.py).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from eval_packs import aime_pack, gsm8k_pack, mmlu_pro_row, mmlu_pro_validation
from eval_server import AnswerServer

from modeldeploy.errors import UserInputError
from modeldeploy.tools.eval.importer import import_pack
from modeldeploy.tools.eval.packs import sha256_file
from modeldeploy.tools.eval.runner import EvalConfig, run_eval

CLI = [sys.executable, "-m", "modeldeploy.cli.main", "eval", "import"]


def parquet(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def arrow_stream(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows)
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return path


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def mmlu_hub_cache(root):
    """datasets--TIGER-Lab--MMLU-Pro/snapshots/<rev>/data/{test,validation}-00000-of-00001.parquet (+ blobs/)."""
    repo = root / "datasets--TIGER-Lab--MMLU-Pro"
    snap = repo / "snapshots" / "3373e0b3"
    test = [mmlu_pro_row(100 + i, cat, n, idx) for i, (cat, n, idx) in
            enumerate([("math", 10, 1), ("law", 4, 3), ("biology", 10, 0)])]
    parquet(snap / "data" / "test-00000-of-00001.parquet", test)
    parquet(snap / "data" / "validation-00000-of-00001.parquet", mmlu_pro_validation())
    (repo / "blobs").mkdir()
    (repo / "blobs" / "test-deadbeef.parquet").write_bytes(b"not a parquet file")  # never read
    return repo, test


def test_a_hub_cache_mmlu_pro_becomes_a_pack_that_eval_scores(tmp_path):
    repo, test_rows = mmlu_hub_cache(tmp_path / "hub")
    out = tmp_path / "packs" / "mmlu-pro"
    manifest = import_pack(repo, "mmlu-pro", out)
    assert manifest["suite"] == "mmlu_pro" and set(manifest["splits"]) == {"test", "validation"}
    assert read_jsonl(out / "test.jsonl") == test_rows                      # rows unchanged, in source order
    assert len(read_jsonl(out / "validation.jsonl")) == len(mmlu_pro_validation())
    on_disk = json.loads((out / "pack.json").read_text())
    assert on_disk["splits"]["test"]["sha256"] == sha256_file(out / "test.jsonl")
    source = on_disk["splits"]["test"]["sources"][0]
    assert source["path"].endswith("snapshots/3373e0b3/data/test-00000-of-00001.parquet")
    assert source["sha256"] == sha256_file(repo / "snapshots" / "3373e0b3" / "data" / "test-00000-of-00001.parquet")
    assert [p.name for p in (tmp_path / "packs").iterdir()] == ["mmlu-pro"]  # no scratch directory left

    letters = {100: "B", 101: "D", 102: "A"}
    with AnswerServer(lambda ask: f"The answer is ({letters[int(ask.prompt.rsplit('question ', 1)[1].split(':')[0])]})") as s:
        run = run_eval(EvalConfig(endpoint=s.url, model=s.model, suite="mmlu_pro", data=out))
    assert run.summary.score_official == 1.0 and run.summary.n == 3
    assert run.summary.dataset_sha256 == manifest["splits"]["test"]["sha256"]
    assert run.summary.fewshot_sha256 == manifest["splits"]["validation"]["sha256"]


def test_the_datasets_arrow_cache_of_gsm8k_takes_the_main_config(tmp_path):
    rows = [{"question": f"Q{i}: 3 apples and {i} more?", "answer": f"3 + {i} = {3 + i}\n#### {3 + i}"} for i in range(4)]
    cache = tmp_path / "datasets" / "openai___gsm8k"
    arrow_stream(cache / "main" / "0.0.0" / "e53f0487" / "gsm8k-test.arrow", rows)
    arrow_stream(cache / "main" / "0.0.0" / "e53f0487" / "gsm8k-train.arrow", rows[:1])
    arrow_stream(cache / "socratic" / "0.0.0" / "e53f0487" / "gsm8k-test.arrow", rows[:2])
    manifest = import_pack(cache, "gsm8k", tmp_path / "pack")
    assert manifest["splits"]["test"]["rows"] == 4 and "/main/" in manifest["splits"]["test"]["sources"][0]["path"]
    assert read_jsonl(tmp_path / "pack" / "test.jsonl") == rows
    assert not (tmp_path / "pack" / "train.jsonl").exists()


def test_shards_are_concatenated_in_order_and_a_single_aime_file_becomes_the_train_split(tmp_path):
    path, answers = aime_pack(tmp_path / "aime.jsonl", n=6)
    rows = read_jsonl(path)
    parquet(tmp_path / "repo" / "data" / "train-00001-of-00002.parquet", rows[3:])
    parquet(tmp_path / "repo" / "data" / "train-00000-of-00002.parquet", rows[:3])
    sharded = import_pack(tmp_path / "repo", "aime2025", tmp_path / "from-shards")
    single = import_pack(path, "aime25", tmp_path / "from-file")
    assert read_jsonl(tmp_path / "from-shards" / "train.jsonl") == rows == read_jsonl(tmp_path / "from-file" / "train.jsonl")
    assert [s["path"].rsplit("/", 1)[1] for s in sharded["splits"]["train"]["sources"]] == [
        "train-00000-of-00002.parquet", "train-00001-of-00002.parquet"]
    assert single["splits"]["train"]["sha256"] == sharded["splits"]["train"]["sha256"]


@pytest.mark.parametrize(("make", "suite", "message"), [
    pytest.param(lambda t: parquet(t / "data" / "test-00000-of-00001.parquet", [{"question": "q"}]), "gsm8k",
                 "test-00000-of-00001.parquet: row 1 lacks answer", id="wrong-schema-names-the-source"),
    pytest.param(lambda t: gsm8k_pack(t / "gsm8k.jsonl")[0], "mmlu_pro", "no validation split beside it",
                 id="mmlu-file-without-validation"),
    pytest.param(lambda t: gsm8k_pack(t / "gsm8k.jsonl")[0], "addition", "eval import knows", id="custom-suite"),
    pytest.param(lambda t: t / "missing", "gsm8k", "import source not found", id="missing-source"),
    pytest.param(lambda t: (parquet(t / "a" / "test.parquet", []), parquet(t / "b" / "test.parquet", []))[0].parents[1],
                 "gsm8k", "several copies of the test split", id="ambiguous"),
])
def test_bad_sources_are_one_line_exit_2_and_write_nothing(tmp_path, make, suite, message):
    src = make(tmp_path / "src")
    out = tmp_path / "pack"
    with pytest.raises(UserInputError, match=message):
        import_pack(src, suite, out)
    assert not out.exists()


def test_the_cli_prints_the_manifest_and_exits_2_on_bad_input(tmp_path):
    path, _ = gsm8k_pack(tmp_path / "gsm8k.jsonl")
    ok = subprocess.run([*CLI, str(path), "--suite", "gsm8k", "--out", str(tmp_path / "pack"), "--json"],
                        capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["splits"]["test"]["rows"] == 5
    bad = subprocess.run([*CLI, str(path), "--suite", "mmlu_pro", "--out", str(tmp_path / "pack2")],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr
    assert "no validation split" in bad.stderr
