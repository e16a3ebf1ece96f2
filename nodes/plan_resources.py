"""plan_resources: feasible candidates with their memory arithmetic; routes to END when nothing fits."""

from __future__ import annotations

from typing import Literal

from langgraph.graph import END
from langgraph.runtime import Runtime
from langgraph.types import Command

from modeldeploy.graph.context import Context
from modeldeploy.graph.state import DeployState
from modeldeploy.nodes.node_support import Step, dump
from modeldeploy.tools.planning.planner import plan_deployment


async def plan_resources(state: DeployState, runtime: Runtime[Context]) -> Command[Literal["choose_framework", "__end__"]]:
    step = Step(runtime, "plan_resources")
    # Pure arithmetic on in-memory facts: fast, no I/O, so no thread is needed.
    plan = plan_deployment(state.model, state.hardware, state.request)
    if not plan.feasible:
        error = "nothing fits: " + (plan.reasons[0] if plan.reasons else "no framework applies")
        return Command(goto=END, update={"plan": dump(plan), "error": error, "audit": [step.done(
            "planned", "infeasible", error, alternatives=plan.alternatives)]})
    best = plan.candidates[0]
    return Command(goto="choose_framework", update={"plan": dump(plan), "audit": [step.done(
        "planned", message=f"{len(plan.candidates)} feasible candidate(s); best {best.label()}",
        candidates=[c.label() for c in plan.candidates])]})
