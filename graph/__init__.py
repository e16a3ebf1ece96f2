"""The deployment graph: `builder` (uncompiled) and `graph` (compiled, no checkpointer)."""

from modeldeploy.graph.builder import builder, graph, make_builder
from modeldeploy.graph.context import Context
from modeldeploy.graph.state import DeployInput, DeployState

__all__ = ["Context", "DeployInput", "DeployState", "builder", "graph", "make_builder"]
