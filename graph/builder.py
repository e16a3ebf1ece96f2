"""The deployment graph: an explicit StateGraph of plain-code nodes and two LLM nodes.

Today it is the planning path::

    probe_hardware -> inspect_model -> plan_resources -> choose_framework -> render_manifest
                                             |
                                             +-> END when nothing fits (the plan says why)

The deploy path (download, pull, start, wait, smoke test, ...) continues from
render_manifest.
"""

from __future__ import annotations

from langgraph.graph import END, START, StateGraph

from modeldeploy.graph.context import Context
from modeldeploy.graph.state import DeployInput, DeployState
from modeldeploy.nodes.choose_framework import choose_framework
from modeldeploy.nodes.inspect_model import inspect_model
from modeldeploy.nodes.plan_resources import plan_resources
from modeldeploy.nodes.probe_hardware import probe_hardware
from modeldeploy.nodes.render_manifest import render_manifest


def make_builder() -> StateGraph:
    """A fresh, uncompiled builder (tests and host apps compile it with their own checkpointer)."""
    builder = StateGraph(DeployState, context_schema=Context, input_schema=DeployInput)
    builder.add_node("probe_hardware", probe_hardware)
    builder.add_node("inspect_model", inspect_model)
    builder.add_node("plan_resources", plan_resources)
    builder.add_node("choose_framework", choose_framework)
    builder.add_node("render_manifest", render_manifest)
    builder.add_edge(START, "probe_hardware")
    builder.add_edge("probe_hardware", "inspect_model")
    builder.add_edge("inspect_model", "plan_resources")
    # plan_resources routes itself (Command): choose_framework, or END when nothing fits
    builder.add_edge("choose_framework", "render_manifest")
    builder.add_edge("render_manifest", END)
    return builder


builder = make_builder()
graph = builder.compile(name="modeldeploy")
"""Compiled without a checkpointer: LangGraph Studio / `langgraph dev` and host apps supply their own."""
