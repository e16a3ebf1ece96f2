"""examples/host_app_with_deploy_subgraph.py: the deploy graph as a subgraph of a host LangGraph app.

Real runs against the inference simulator as a local process (the process runtime): the
host's prepare -> deploy subgraph -> report path answers a chat completion; the deploy
graph's approval interrupt surfaces in the host (InMemorySaver) and is resumed from the host
with Command(resume=...), approved or declined. The Context given to the host reaches the
subgraph (its gateway_config is where register writes). Every test removes its deployment
and checks that no process of it is left.
"""

from __future__ import annotations

import importlib.util
import json
import uuid
from pathlib import Path

import pytest
import yaml
from proc_tree import carrying

from modeldeploy.graph import Context
from modeldeploy.tools.runtimes.process_runtime import MARKER, ProcessRuntime

ROOT = Path(__file__).resolve().parents[2]
TINY = "models/tiny-llama"


def load_example():
    spec = importlib.util.spec_from_file_location("host_app_with_deploy_subgraph",
                                                  ROOT / "examples" / "host_app_with_deploy_subgraph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def example():
    return load_example()


@pytest.fixture
def deployments():
    """Names the test deployed; afterwards each is removed and must have no live process left."""
    names: list[str] = []
    yield names
    for name in names:
        ProcessRuntime().remove(name)
    left = {name: carrying(f"{MARKER}={name}") for name in names}
    assert not any(left.values()), f"processes left running: {left}"


def server_pid(home: Path, name: str) -> int:
    return json.loads((home / "deployments" / name / "process.json").read_text())["pid"]


async def test_host_app_deploys_through_the_subgraph_and_its_report_node_gets_an_answer(example, deployments, tmp_path):
    gateway = tmp_path / "gateway" / "litellm.yaml"
    final = await example.deploy_and_report(TINY, Context(poll_interval_s=0.1, gateway_config=str(gateway)))
    if final.get("deployment"):
        deployments.append(final["deployment"])

    assert final["status"] == "ready", final.get("error")
    assert final["model"] == str(ROOT / TINY)                       # the prepare node ran first
    assert final["endpoint"].startswith("http://127.0.0.1:") and final["endpoint"].endswith("/v1")
    assert isinstance(final["answer"], str) and final["answer"].strip()  # the report node's chat completion
    assert carrying(f"{MARKER}={final['deployment']}"), "the server should be running until we remove it"
    # the host's Context reached the subgraph: register wrote the gateway entry where it said
    entries = yaml.safe_load(gateway.read_text())["model_list"]
    assert any(e["litellm_params"]["api_base"] == final["endpoint"] for e in entries), entries


async def test_approval_interrupt_surfaces_in_the_host_and_a_host_resume_registers(example, deployments, isolated_home):
    from langgraph.checkpoint.memory import InMemorySaver

    app = example.build_host_app(InMemorySaver())
    thread = f"host-{uuid.uuid4().hex[:8]}"
    context = Context(poll_interval_s=0.1)

    paused = await example.start_with_approval(app, TINY, thread, context)
    (question,) = [i.value for i in paused["__interrupt__"]]
    deployments.append(question["deployment"])
    assert question["kind"] == "register" and question["endpoint"].endswith("/v1")
    assert question["smoke"] and all(check["ok"] for check in question["smoke"].values())
    # the host is paused inside its deploy node; the subgraph inside it waits at approve
    snapshot = await app.aget_state({"configurable": {"thread_id": thread}}, subgraphs=True)
    assert snapshot.next == ("deploy",) and snapshot.values.get("endpoint") is None
    (task,) = snapshot.tasks
    assert task.state.next == ("approve",)
    assert task.state.values["status"] == "deploying" and task.state.values["artifacts"]["endpoint"] == question["endpoint"]
    pid = server_pid(isolated_home, question["deployment"])
    assert carrying(f"{MARKER}={question['deployment']}") == {pid}

    final = await example.resume_approval(app, thread, approved=True, by="test-host", context=context)

    assert final["status"] == "ready" and final["endpoint"] == question["endpoint"]
    assert final["deployment"] == question["deployment"] and final["answer"].strip()
    assert "__interrupt__" not in final
    # resuming re-ran the host's deploy node; the subgraph continued from its checkpoint: same server, not a new one
    assert server_pid(isolated_home, final["deployment"]) == pid
    assert carrying(f"{MARKER}={final['deployment']}") == {pid}
    snapshot = await app.aget_state({"configurable": {"thread_id": thread}})
    assert snapshot.next == ()


async def test_declining_from_the_host_removes_the_server_and_skips_the_report(example, deployments):
    seen: list[dict] = []

    def decline(question):
        seen.append(question)
        return False

    questions, final = await example.deploy_with_approval(TINY, decline, Context(poll_interval_s=0.1))
    deployments.extend(q["deployment"] for q in questions)

    assert len(questions) == 1 and seen == questions
    assert final["status"] == "rejected" and "declined in the host app" in final["error"]
    assert final.get("answer") is None                                 # report never ran
    assert not carrying(f"{MARKER}={questions[0]['deployment']}"), "the deploy graph's cleanup removes the server"
