"""Routing functions of the deployment graph (nodes that can fail route themselves with Command)."""

from __future__ import annotations

from typing import Literal

from modeldeploy.graph.state import DeployState


def route_after_manifest(state: DeployState) -> Literal["download_weights", "__end__"]:
    """A plan stops here; a deployment goes on to fetch weights."""
    return "download_weights" if state.request.action == "deploy" else "__end__"
