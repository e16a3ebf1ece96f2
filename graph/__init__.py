"""The graphs: the deployment graph (`builder` uncompiled, `graph` compiled, no checkpointer) and the standalone
graphs for an existing endpoint or deployment (`benchmark_graph`, `evaluate_graph`, `test_graph`, `logs_graph`,
each with its `make_*_builder()`), all compiled without a checkpointer."""

from modeldeploy.graph.builder import builder, graph, make_builder
from modeldeploy.graph.context import Context
from modeldeploy.graph.state import DeployInput, DeployState
from modeldeploy.graph.subgraphs import (
    BenchmarkInput,
    EvaluateInput,
    LogsInput,
    TestInput,
    benchmark_graph,
    evaluate_graph,
    logs_graph,
    make_benchmark_builder,
    make_evaluate_builder,
    make_logs_builder,
    make_test_builder,
    test_graph,
)

__all__ = ["BenchmarkInput", "Context", "DeployInput", "DeployState", "EvaluateInput", "LogsInput", "TestInput",
           "benchmark_graph", "builder", "evaluate_graph", "graph", "logs_graph", "make_benchmark_builder",
           "make_builder", "make_evaluate_builder", "make_logs_builder", "make_test_builder", "test_graph"]
