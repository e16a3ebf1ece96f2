"""The deployment graph: an explicit StateGraph of plain-code nodes and two LLM nodes.

    probe_hardware -> inspect_model -> plan_resources -> choose_framework* -> render_manifest
        -> (plan: END)
        -> download_weights -> pull_image -> start_container -> wait_ready -> smoke_test
        -> benchmark -> evaluate -> approve (interrupt) -> register -> record_experience -> END

plan_resources ends the run when nothing fits. A server that crashes, never gets
ready or fails its smoke test goes to diagnose_failure*, which loops back to
render_manifest with a fix (bounded attempts) or gives up; every failure ends in
cleanup (remove what the deployment created) -> record_experience.
`*` calls an LLM when one is configured and the rules cannot decide.
"""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from modeldeploy.graph.context import Context
from modeldeploy.graph.routes import route_after_manifest
from modeldeploy.graph.state import DeployInput, DeployState
from modeldeploy.nodes.approve import approve
from modeldeploy.nodes.benchmark import benchmark
from modeldeploy.nodes.choose_framework import choose_framework
from modeldeploy.nodes.cleanup import cleanup
from modeldeploy.nodes.diagnose_failure import diagnose_failure
from modeldeploy.nodes.download_weights import download_weights
from modeldeploy.nodes.evaluate import evaluate
from modeldeploy.nodes.inspect_model import inspect_model
from modeldeploy.nodes.plan_resources import plan_resources
from modeldeploy.nodes.probe_hardware import probe_hardware
from modeldeploy.nodes.pull_image import pull_image
from modeldeploy.nodes.record_experience import record_experience
from modeldeploy.nodes.register import register
from modeldeploy.nodes.render_manifest import render_manifest
from modeldeploy.nodes.smoke_test import smoke_test
from modeldeploy.nodes.start_container import start_container
from modeldeploy.nodes.wait_ready import wait_ready


def make_builder() -> StateGraph:
    """A fresh, uncompiled builder (tests and host apps compile it with their own checkpointer)."""
    builder = StateGraph(DeployState, context_schema=Context, input_schema=DeployInput)
    for node in (probe_hardware, inspect_model, plan_resources, choose_framework, render_manifest, download_weights,
                 pull_image, start_container, wait_ready, smoke_test, benchmark, evaluate, diagnose_failure, approve,
                 register, cleanup, record_experience):
        builder.add_node(node.__name__, node)
    builder.add_edge(START, "probe_hardware")
    builder.add_edge("probe_hardware", "inspect_model")
    builder.add_edge("inspect_model", "plan_resources")
    builder.add_edge("choose_framework", "render_manifest")
    builder.add_conditional_edges("render_manifest", route_after_manifest)
    builder.add_edge("benchmark", "evaluate")
    builder.add_edge("evaluate", "approve")
    builder.add_edge("register", "record_experience")
    builder.add_edge("cleanup", "record_experience")
    builder.add_edge("record_experience", END)
    return builder


builder = make_builder()
graph = builder.compile(name="modeldeploy")
"""Compiled without a checkpointer: LangGraph Studio / `langgraph dev` and host apps supply their own."""
