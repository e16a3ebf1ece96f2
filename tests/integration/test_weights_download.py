"""Weights download with the real huggingface_hub client against the stand-in hub on loopback.

HF_ENDPOINT points at `hub_server.HubServer` (the public hub is unreachable from
these machines); the server's request log proves what went over the wire: which
files were requested, Range headers, the Authorization header.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pytest
from huggingface_hub import constants
from huggingface_hub.utils import filter_repo_objects
from hub_server import HubServer, closed_port_url, write_repo

from modeldeploy.errors import ModelDeployError, UserInputError
from modeldeploy.tools.weights.download import (
    allow_patterns_for,
    check_disk,
    download_weights,
    plan_download,
)

REPO = "acme/tiny-llm"
GGUF_REPO = "acme/tiny-llm-gguf"
MiB = 1024 * 1024
WEIGHTS = random.Random(7).randbytes(2 * MiB + 4321)  # ~2 MB LFS file
CUT_AT = 700_000
TOKEN = "hf_testTokenDoNotLeak0123456789"

TINY_LLM = {
    "config.json": json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "num_hidden_layers": 2}),
    "generation_config.json": json.dumps({"temperature": 0.6}),
    "tokenizer.json": json.dumps({"version": "1.0", "model": {"type": "BPE"}}),
    "tokenizer_config.json": json.dumps({"chat_template": "{{ messages }}"}),
    "special_tokens_map.json": json.dumps({"eos_token": "</s>"}),
    "model.safetensors": WEIGHTS,
    "pytorch_model.bin": random.Random(8).randbytes(300_000),  # the same weights again: must be skipped
    "original/consolidated.00.pth": random.Random(9).randbytes(200_000),
    "modeling_tiny.py": "class TinyModel: pass\n",
    "README.md": "# tiny\n",
}
EXPECTED = {"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
            "special_tokens_map.json", "model.safetensors"}
TINY_GGUF = {
    "tiny-Q4_K_M.gguf": random.Random(10).randbytes(300_000),
    "tiny-Q8_0.gguf": random.Random(11).randbytes(500_000),
    "config.json": json.dumps({"model_type": "llama"}),
    "tokenizer.json": json.dumps({"version": "1.0"}),
    "README.md": "# gguf\n",
}


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The stand-in hub with two repos; huggingface_hub online, pointed at it, with no token of the developer's."""
    root = tmp_path / "hub"
    write_repo(root, REPO, TINY_LLM)
    write_repo(root, GGUF_REPO, TINY_GGUF)
    # conftest sets HF_HUB_OFFLINE=1 and huggingface_hub read it at import: undo both for these tests.
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_OIDC_RESOURCE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-hf-token"))
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_IMPLICIT_TOKEN", False)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    with HubServer(root) as server:
        monkeypatch.setenv("HF_ENDPOINT", server.url)  # read at call time by download_weights
        yield server


def _patterns(files: dict, chosen_gguf: str | None = None, trust_remote_code: bool = False):
    return allow_patterns_for(sorted(files), chosen_gguf, trust_remote_code)


def _one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message and message
    return message


def _files_under(dest: Path) -> set[str]:
    return {p.relative_to(dest).as_posix() for p in dest.rglob("*") if p.is_file() and ".cache" not in p.parts}


# -- the allow-list, applied the way snapshot_download applies it --------------------------------------


@pytest.mark.parametrize(("files", "chosen", "trust", "expected"), [
    (TINY_LLM, None, False, EXPECTED),
    (TINY_LLM, None, True, EXPECTED | {"modeling_tiny.py"}),
    ({"config.json": "", "pytorch_model-00001-of-00002.bin": "", "pytorch_model-00002-of-00002.bin": "",
      "pytorch_model.bin.index.json": "", "training_args.bin": "", "tokenizer.model": ""}, None, False,
     {"config.json", "pytorch_model-00001-of-00002.bin", "pytorch_model-00002-of-00002.bin",
      "pytorch_model.bin.index.json", "tokenizer.model"}),
    ({"params.json": "", "consolidated.safetensors": "", "tekken.json": ""}, None, False,
     {"params.json", "consolidated.safetensors", "tekken.json"}),
    ({"model-00001-of-00002.safetensors": "", "model-00002-of-00002.safetensors": "", "consolidated.safetensors": "",
      "model.safetensors.index.json": "", "chat_template.jinja": "", "config.json": ""}, None, False,
     {"model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json",
      "chat_template.jinja", "config.json"}),
    (TINY_GGUF, "tiny-Q4_K_M.gguf", False, {"tiny-Q4_K_M.gguf", "config.json", "tokenizer.json"}),
    ({"big-Q4_K_M-00001-of-00002.gguf": "", "big-Q4_K_M-00002-of-00002.gguf": "", "big-Q8_0.gguf": ""},
     "big-Q4_K_M-00001-of-00002.gguf", False, {"big-Q4_K_M-00001-of-00002.gguf", "big-Q4_K_M-00002-of-00002.gguf"}),
])
def test_allow_patterns_keep_one_copy_of_the_weights(files: dict, chosen: str | None, trust: bool, expected: set) -> None:
    allow, ignore = _patterns(files, chosen, trust)
    assert set(filter_repo_objects(sorted(files), allow_patterns=allow, ignore_patterns=ignore)) == expected


def test_allow_patterns_refuse_a_gguf_the_repo_does_not_have() -> None:
    with pytest.raises(UserInputError, match="not a file of this repo"):
        allow_patterns_for(sorted(TINY_GGUF), "tiny-Q2_K.gguf", False)


# -- the plan and the disk check ------------------------------------------------------------------------


def test_plan_lists_sizes_lfs_hashes_and_what_is_already_there(hub: HubServer, tmp_path: Path) -> None:
    allow, ignore = _patterns(TINY_LLM)
    dest = tmp_path / "weights"
    plan = plan_download(REPO, None, allow, ignore, dest_dir=dest)

    assert plan.revision == hub.commit(REPO) and plan.endpoint == hub.url
    by_name = {f.name: f for f in plan.files}
    assert set(by_name) == EXPECTED
    weights = by_name["model.safetensors"]
    assert weights.lfs and weights.size == len(WEIGHTS) and weights.sha256 == hashlib.sha256(WEIGHTS).hexdigest()
    assert not by_name["config.json"].lfs and by_name["config.json"].sha256 is None
    assert plan.total_bytes == sum(len(TINY_LLM[n].encode() if isinstance(TINY_LLM[n], str) else TINY_LLM[n]) for n in EXPECTED)
    assert plan.present_bytes == 0
    assert any(r.path == f"/api/models/{REPO}" and r.query.get("blobs") == "true" for r in hub.requests)

    download_weights(REPO, None, dest, allow, ignore)
    again = plan_download(REPO, None, allow, ignore, dest_dir=dest)
    assert again.present_bytes == again.total_bytes and again.bytes_needed == 0


def test_check_disk_names_needed_and_free_space(tmp_path: Path) -> None:
    check_disk(tmp_path / "not" / "yet" / "created", 1)  # the nearest existing parent is measured
    with pytest.raises(ModelDeployError) as exc:
        check_disk(tmp_path / "not" / "yet" / "created", 10**18)
    message = _one_line(exc)
    assert "931322574.62 GiB needed" in message and "GiB free" in message


def test_disk_check_fails_before_any_transfer(hub: HubServer, tmp_path: Path) -> None:
    allow, ignore = _patterns(TINY_LLM)
    plan = plan_download(REPO, None, allow, ignore)
    huge = plan.model_copy(update={"files": [f.model_copy(update={"size": 10**15}) if f.lfs else f for f in plan.files]})
    seen = len(hub.requests)
    dest = tmp_path / "weights"

    with pytest.raises(ModelDeployError) as exc:
        download_weights(REPO, None, dest, allow, ignore, plan=huge)

    assert "GiB needed" in _one_line(exc) and str(dest) in str(exc.value)
    assert hub.requests[seen:] == []  # not even a HEAD
    assert not dest.exists()


# -- downloading -----------------------------------------------------------------------------------------


def test_full_download_fetches_only_needed_files_and_verifies_them(hub: HubServer, tmp_path: Path) -> None:
    allow, ignore = _patterns(TINY_LLM)
    dest = tmp_path / "weights"
    stale = dest / ".cache" / "modeldeploy" / "partial" / f"model.safetensors.{'0' * 64}.incomplete"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"left by a download of another revision")
    events: list[dict] = []

    result = download_weights(REPO, None, dest, allow, ignore, events.append)

    assert _files_under(dest) == EXPECTED
    for name in EXPECTED:
        content = TINY_LLM[name]
        assert (dest / name).read_bytes() == (content.encode() if isinstance(content, str) else content)
    requested = {r.file for r in hub.requests if r.file} | {r.path for r in hub.requests}
    for skipped in ("pytorch_model.bin", "original/consolidated.00.pth", "modeling_tiny.py", "README.md"):
        assert not any(skipped in p for p in requested), skipped
    assert not any("xet" in r.path.lower() for r in hub.requests)

    assert result.revision == hub.commit(REPO) and result.endpoint == hub.url and result.dest_dir == str(dest)
    files = {f.name: f for f in result.files}
    assert set(files) == EXPECTED and all(f.verified for f in result.files)
    assert files["model.safetensors"].check == "sha256"
    assert files["model.safetensors"].sha256 == hashlib.sha256(WEIGHTS).hexdigest()
    assert files["config.json"].check == "git-sha1"
    total = sum(f.size for f in result.files)
    assert result.bytes_downloaded == total and result.bytes_reused == 0

    weights = [e for e in events if e["file"] == "model.safetensors" and e["phase"] == "download"]
    assert weights[-1]["bytes_done"] == weights[-1]["bytes_total"] == len(WEIGHTS)
    assert [e["bytes_done"] for e in weights] == sorted(e["bytes_done"] for e in weights)
    assert max(e["overall_done"] for e in events) == total
    assert all(not {"event", "node"} & set(e) for e in events)  # the node passes them on as **kwargs
    assert not list((dest / ".cache" / "modeldeploy" / "partial").iterdir())  # stale partials are dropped

    gets = len(hub.gets())
    again = download_weights(REPO, None, dest, allow, ignore)
    assert again.bytes_downloaded == 0 and again.bytes_reused == total
    assert len(hub.gets()) == gets


def test_gguf_download_takes_only_the_chosen_quant(hub: HubServer, tmp_path: Path) -> None:
    allow, ignore = _patterns(TINY_GGUF, chosen_gguf="tiny-Q4_K_M.gguf")
    dest = tmp_path / "gguf"

    result = download_weights(GGUF_REPO, None, dest, allow, ignore)

    assert _files_under(dest) == {"tiny-Q4_K_M.gguf", "config.json", "tokenizer.json"}
    assert (dest / "tiny-Q4_K_M.gguf").read_bytes() == TINY_GGUF["tiny-Q4_K_M.gguf"]
    assert not any("Q8_0" in r.path or r.file == "tiny-Q8_0.gguf" for r in hub.requests)
    assert {f.name: f.check for f in result.files}["tiny-Q4_K_M.gguf"] == "sha256"


def test_interrupted_download_resumes_from_the_partial_file(hub: HubServer, tmp_path: Path) -> None:
    allow, ignore = _patterns(TINY_LLM)
    dest = tmp_path / "weights"
    hub.cut_connection(REPO, "model.safetensors", after_bytes=CUT_AT, times=1)

    with pytest.raises(ModelDeployError) as exc:
        download_weights(REPO, None, dest, allow, ignore, retries=0)
    assert "connection lost while downloading model.safetensors" in _one_line(exc) and "run again" in str(exc.value)
    partials = list((dest / ".cache").rglob("*.incomplete"))
    assert [p.stat().st_size for p in partials] == [CUT_AT]
    assert not (dest / "model.safetensors").exists()

    events: list[dict] = []
    result = download_weights(REPO, None, dest, allow, ignore, events.append)

    resumed = hub.gets("model.safetensors")[-1]
    assert resumed.range == f"bytes={CUT_AT}-" and resumed.status == 206
    weights = {f.name: f for f in result.files}["model.safetensors"]
    assert weights.bytes_downloaded == len(WEIGHTS) - CUT_AT and weights.bytes_reused == CUT_AT
    assert result.bytes_downloaded < len(WEIGHTS)
    assert (dest / "model.safetensors").read_bytes() == WEIGHTS
    assert not list((dest / ".cache").rglob("*.incomplete"))
    progress = [e["bytes_done"] for e in events if e["file"] == "model.safetensors" and e["phase"] == "download"]
    assert progress[0] > CUT_AT and progress[-1] == len(WEIGHTS)  # counted from the partial, not from zero


def test_a_cut_connection_is_resumed_within_the_call(hub: HubServer, tmp_path: Path) -> None:
    allow, ignore = _patterns(TINY_LLM)
    hub.cut_connection(REPO, "model.safetensors", after_bytes=CUT_AT, times=2)

    result = download_weights(REPO, None, tmp_path / "weights", allow, ignore)

    assert [g.range for g in hub.gets("model.safetensors")] == [None, f"bytes={CUT_AT}-", f"bytes={2 * CUT_AT}-"]
    assert {f.name: f for f in result.files}["model.safetensors"].bytes_downloaded == len(WEIGHTS)
    assert (tmp_path / "weights" / "model.safetensors").read_bytes() == WEIGHTS


def test_corrupt_lfs_file_is_downloaded_again(hub: HubServer, tmp_path: Path) -> None:
    allow, ignore = _patterns(TINY_LLM)
    hub.corrupt(REPO, "model.safetensors", times=1)

    result = download_weights(REPO, None, tmp_path / "weights", allow, ignore)

    weights = {f.name: f for f in result.files}["model.safetensors"]
    assert weights.refetched and weights.verified and weights.bytes_downloaded == 2 * len(WEIGHTS)
    assert [g.range for g in hub.gets("model.safetensors")] == [None, None]
    assert (tmp_path / "weights" / "model.safetensors").read_bytes() == WEIGHTS


def test_corrupt_small_file_is_caught_by_its_git_hash_and_downloaded_again(hub: HubServer, tmp_path: Path) -> None:
    allow, ignore = _patterns(TINY_LLM)
    hub.corrupt(REPO, "config.json", times=1)

    result = download_weights(REPO, None, tmp_path / "weights", allow, ignore)

    config = {f.name: f for f in result.files}["config.json"]
    assert config.refetched and config.check == "git-sha1"
    assert len(hub.gets("config.json")) == 2
    assert (tmp_path / "weights" / "config.json").read_text() == TINY_LLM["config.json"]


def test_file_that_stays_corrupt_fails_clearly_and_is_removed(hub: HubServer, tmp_path: Path) -> None:
    allow, ignore = _patterns(TINY_LLM)
    dest = tmp_path / "weights"
    hub.corrupt(REPO, "model.safetensors", times=None)

    with pytest.raises(ModelDeployError) as exc:
        download_weights(REPO, None, dest, allow, ignore)

    message = _one_line(exc)
    assert "model.safetensors failed its check twice" in message and "sha256" in message
    assert len(hub.gets("model.safetensors")) == 2  # one download, one retry, no more
    assert not (dest / "model.safetensors").exists()


def test_a_file_changed_on_disk_after_download_is_caught_on_the_next_call(hub: HubServer, tmp_path: Path) -> None:
    allow, ignore = _patterns(TINY_LLM)
    dest = tmp_path / "weights"
    download_weights(REPO, None, dest, allow, ignore)
    (dest / "model.safetensors").write_bytes(bytes(len(WEIGHTS)))  # same size, other content

    result = download_weights(REPO, None, dest, allow, ignore)

    assert {f.name: f for f in result.files}["model.safetensors"].refetched
    assert (dest / "model.safetensors").read_bytes() == WEIGHTS


# -- credentials and errors ------------------------------------------------------------------------------


def test_token_from_env_is_sent_to_the_hub_only_and_never_kept(hub: HubServer, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    hub.gate(REPO, allowed_tokens=[TOKEN])
    allow, ignore = _patterns(TINY_LLM)
    dest = tmp_path / "weights"

    result = download_weights(REPO, None, dest, allow, ignore)

    hub_requests = [r for r in hub.requests if r.server == "hub"]
    assert hub_requests and all(r.authorization == f"Bearer {TOKEN}" for r in hub_requests)
    assert all(r.authorization is None for r in hub.requests if r.server == "cdn")  # never to the CDN
    assert TOKEN not in result.model_dump_json()
    assert not any(TOKEN.encode() in p.read_bytes() for p in dest.rglob("*") if p.is_file())


@pytest.mark.parametrize(("token", "status"), [(None, 401), ("hf_notGrantedToken", 403)])
def test_gated_repo_says_to_accept_the_licence_and_set_hf_token(hub: HubServer, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                token: str | None, status: int) -> None:
    if token:
        monkeypatch.setenv("HF_TOKEN", token)
    hub.gate(REPO, allowed_tokens=[TOKEN])
    allow, ignore = _patterns(TINY_LLM)

    with pytest.raises(ModelDeployError) as exc:
        download_weights(REPO, None, tmp_path / "weights", allow, ignore)

    message = _one_line(exc)
    assert f"{REPO} is gated" in message and "accept its licence" in message and "HF_TOKEN" in message
    assert token is None or token not in message
    assert any(r.status == status and "/resolve/" in r.path for r in hub.requests)
    assert not hub.gets()


def test_unknown_repo_and_revision_are_input_errors(hub: HubServer, tmp_path: Path) -> None:
    allow, ignore = _patterns(TINY_LLM)
    with pytest.raises(UserInputError) as exc:
        download_weights("acme/no-such-model", None, tmp_path / "a", allow, ignore)
    assert "acme/no-such-model: no such model at " + hub.url in _one_line(exc)

    with pytest.raises(UserInputError) as exc:
        download_weights(REPO, "v9.9", tmp_path / "b", allow, ignore)
    assert "revision 'v9.9' not found" in _one_line(exc)


def test_unreachable_hub_names_the_endpoint(hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dead = closed_port_url()
    monkeypatch.setenv("HF_ENDPOINT", dead)
    allow, ignore = _patterns(TINY_LLM)

    with pytest.raises(ModelDeployError) as exc:
        download_weights(REPO, None, tmp_path / "weights", allow, ignore)

    assert f"hub unreachable at {dead}" in _one_line(exc)


def test_offline_mode_is_reported_not_bypassed(hub: HubServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    allow, ignore = _patterns(TINY_LLM)

    with pytest.raises(ModelDeployError) as exc:
        download_weights(REPO, None, tmp_path / "weights", allow, ignore)

    assert "HF_HUB_OFFLINE is set" in _one_line(exc)
    assert hub.requests == []


async def test_the_deploy_graph_streams_progress_reported_from_the_download_worker_threads(hub: HubServer,
                                                                                           tmp_path: Path) -> None:
    """huggingface_hub and the downloader report from their own thread pools, which have no LangGraph context:
    each event must still reach the graph's custom stream (it raised "outside of a runnable context" and was lost)."""
    import asyncio
    import sys

    from langgraph.checkpoint.memory import InMemorySaver

    from modeldeploy.graph import Context, make_builder

    tiny = Path(__file__).resolve().parents[2] / "models" / "tiny-llama"
    write_repo(tmp_path / "hub", "acme/tiny-llama", {p.name: p.read_bytes() for p in tiny.iterdir() if p.is_file()})
    loop_errors: list[dict] = []
    asyncio.get_running_loop().set_exception_handler(lambda loop, context: loop_errors.append(context))
    graph = make_builder().compile(checkpointer=InMemorySaver(), interrupt_after=["download_weights"])
    request = {"model": "acme/tiny-llama", "runtime": "process", "action": "deploy", "approve": True,
               "command": [sys.executable, "-m", "modeldeploy.simulator"]}
    events = [e async for e in graph.astream({"request": request}, {"configurable": {"thread_id": "t"}},
                                             context=Context(poll_interval_s=0.1), stream_mode="custom")]
    await asyncio.sleep(0)  # let callbacks still queued on the loop run before looking at its errors
    assert loop_errors == []
    progress = [e for e in events if e["node"] == "download_weights" and e["event"] == "progress"]
    weights = [e for e in progress if e.get("file") == "model.safetensors" and e.get("phase") == "download"]
    size = (tiny / "model.safetensors").stat().st_size
    assert weights and weights[-1]["bytes_done"] == size
    assert {e.get("phase") for e in progress} >= {"download", "verify"}
    assert [e["event"] for e in events if e["node"] == "download_weights"][-1] == "done"
