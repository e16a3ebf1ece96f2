"""The graphs the API serves, by name: one assistant per graph, compiled with the API's checkpointer.

The same five as `langgraph.json`: `deploy` (modeldeploy.graph.builder:graph) and the standalone graphs for an
existing endpoint or deployment, `benchmark`, `evaluate`, `test`, `logs` (modeldeploy.graph.subgraphs). A host
adds its own with `register_graph("name", "package.module:graph", "...")` before `create_app()`.
"""

from __future__ import annotations

import dataclasses
import importlib
import typing
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any
from uuid import UUID, uuid5

from pydantic import BaseModel, TypeAdapter, ValidationError

from modeldeploy.api.errors import ApiError, not_found, validation_detail

ASSISTANT_NAMESPACE = UUID("6ba7b821-9dad-11d1-80b4-00c04fd430c8")
"""uuid5 namespace of the default assistants' ids (the one LangGraph servers use: same graph, same id)."""


@dataclass(frozen=True)
class GraphEntry:
    """A graph by name: where its compiled graph lives ("module:attribute") and what it is for."""

    graph_id: str
    target: str
    description: str = ""


GRAPHS: dict[str, GraphEntry] = {}


def register_graph(graph_id: str, target: str, description: str = "") -> None:
    """Serve the graph at `target` ("package.module:attribute", a compiled graph) under `graph_id`."""
    GRAPHS[graph_id] = GraphEntry(graph_id, target, description)


register_graph("deploy", "modeldeploy.graph.builder:graph",
               "Plan and deploy an LLM server: plan, weights, image, start, readiness, smoke test, approval, register.")
register_graph("benchmark", "modeldeploy.graph.subgraphs:benchmark_graph",
               "Load-test an existing endpoint (TTFT, TPOT, throughput, goodput per load point); with a deployment "
               "name, stored and compared with its previous run.")
register_graph("evaluate", "modeldeploy.graph.subgraphs:evaluate_graph",
               "Score an existing endpoint on evaluation suites (MMLU-Pro, AIME 2025, GSM8K, addition, custom YAML).")
register_graph("test", "modeldeploy.graph.subgraphs:test_graph",
               "Smoke-test an existing endpoint: chat and completion, streaming and not, usage present.")
register_graph("logs", "modeldeploy.graph.subgraphs:logs_graph",
               "Digest a deployment's or a file's server log to a token budget and diagnose a failed start.")


def assistant_id_for(graph_id: str) -> str:
    return str(uuid5(ASSISTANT_NAMESPACE, graph_id))


def _load(target: str) -> Any:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _is_any(tp: Any) -> bool:
    return tp is Any or tp == "Any"


class ServedGraph:
    """One graph compiled with the API's checkpointer, its assistant document, and input/context checks."""

    def __init__(self, entry: GraphEntry, checkpointer: Any, created_at: datetime) -> None:
        base = _load(entry.target)
        self.entry = entry
        self.graph = base.copy(update={"checkpointer": checkpointer})
        self.assistant_id = assistant_id_for(entry.graph_id)
        self.created_at = created_at.isoformat()
        builder = getattr(base, "builder", None)
        self.input_model = getattr(builder, "input_schema", None)
        self.context_class = getattr(builder, "context_schema", None)

    def assistant(self) -> dict[str, Any]:
        return {"assistant_id": self.assistant_id, "graph_id": self.entry.graph_id, "name": self.entry.graph_id,
                "description": self.entry.description or None, "config": {}, "context": {},
                "metadata": {"created_by": "system"}, "version": 1,
                "created_at": self.created_at, "updated_at": self.created_at}

    def check_input(self, value: Any) -> None:
        """422 when the input does not match the graph's input schema (before any run starts)."""
        if isinstance(self.input_model, type) and issubclass(self.input_model, BaseModel):
            if not isinstance(value, dict):
                raise ApiError(422, f"input must be a JSON object matching {self.input_model.__name__}")
            try:
                self.input_model.model_validate(value)
            except ValidationError as exc:
                raise ApiError(422, validation_detail(exc)) from None

    def context(self, value: dict[str, Any] | None) -> Any:
        """The graph's Context from the request's `context` (unknown or non-JSON fields: 422)."""
        cls = self.context_class
        if cls is None or not dataclasses.is_dataclass(cls):
            if value:
                raise ApiError(422, f"graph {self.entry.graph_id} takes no context")
            return None
        value = value or {}
        if not isinstance(value, dict):
            raise ApiError(422, "context must be a JSON object")
        hints = typing.get_type_hints(cls)
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(value) - fields)
        if unknown:
            raise ApiError(422, f"unknown context field(s): {', '.join(unknown)} (known: {', '.join(sorted(fields))})")
        objects = sorted(k for k in value if _is_any(hints.get(k)))
        if objects:
            raise ApiError(422, f"context field(s) {', '.join(objects)} take Python objects: not settable over HTTP")
        try:
            return TypeAdapter(cls).validate_python(value)
        except ValidationError as exc:
            raise ApiError(422, validation_detail(exc)) from None

    def schemas(self) -> dict[str, Any]:
        g = self.graph
        state = getattr(getattr(g, "builder", None), "state_schema", None)
        state_schema = state.model_json_schema() if isinstance(state, type) and issubclass(state, BaseModel) else None
        return {"graph_id": self.entry.graph_id, "input_schema": g.get_input_jsonschema(),
                "output_schema": g.get_output_jsonschema(), "state_schema": state_schema,
                "config_schema": None, "context_schema": g.get_context_jsonschema()}

    def drawable(self, xray: bool | int) -> dict[str, Any]:
        return self.graph.get_graph(xray=xray).to_json()


class Graphs:
    """Every registered graph, found by assistant id or graph name."""

    def __init__(self, checkpointer: Any, entries: dict[str, GraphEntry] | None = None) -> None:
        now = datetime.now(timezone.utc)
        self.by_name = {name: ServedGraph(entry, checkpointer, now) for name, entry in (entries or GRAPHS).items()}
        self.by_assistant = {g.assistant_id: g for g in self.by_name.values()}

    def get(self, assistant_id: str) -> ServedGraph:
        """By assistant id, or by graph name (as LangGraph servers also accept)."""
        found = self.by_assistant.get(assistant_id) or self.by_name.get(assistant_id)
        if found is None:
            raise not_found(f"assistant {assistant_id!r}")
        return found

    def all(self) -> list[ServedGraph]:
        return list(self.by_name.values())
