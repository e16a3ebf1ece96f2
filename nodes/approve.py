"""approve: a person says yes before the endpoint is registered (a LangGraph interrupt).

Nothing happens before the interrupt, so re-running this node on resume is safe.
`request.approve` (--yes) approves up front.
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.runtime import Runtime
from langgraph.types import Command, interrupt

from modeldeploy.graph.context import Context
from modeldeploy.graph.state import DeployState
from modeldeploy.nodes.node_support import Step

NODE = "approve"


def approval_request(state: DeployState) -> dict[str, Any]:
    """What the person sees: the plan in one paragraph and the smoke results."""
    d, a = state.decision, state.artifacts
    return {
        "kind": "register",
        "question": f"Register {a.deployment_name} ({a.served_model_name}) at {a.endpoint}?",
        "deployment": a.deployment_name,
        "endpoint": a.endpoint,
        "plan": {"framework": d.framework, "image": a.image, "tensor_parallel_size": d.slots.tensor_parallel_size,
                 "dtype": d.slots.dtype, "max_model_len": d.slots.max_model_len, "decided_by": d.decided_by,
                 "rationale": d.rationale, "trust_remote_code": d.slots.trust_remote_code},
        "smoke": {c["name"]: {"ok": c["ok"], "latency_ms": round(c["latency_ms"], 1)} for c in (state.smoke or {}).get("checks", [])},
        "resume_with": {"approved": True, "by": "name"},
    }


def _is_yes(answer: Any) -> bool:
    if isinstance(answer, dict):
        return answer.get("approved") is True
    return answer is True or (isinstance(answer, str) and answer.strip().lower() in ("y", "yes", "approve", "approved"))


async def approve(state: DeployState, runtime: Runtime[Context]) -> Command[Literal["register", "cleanup"]]:
    if state.request.approve:
        step = Step(runtime, NODE)
        return Command(goto="register", update={"approval": {"approved": True, "by": "--yes (up front)"},
                                                "audit": [step.done("approved up front")]})
    answer = interrupt(approval_request(state))
    step = Step(runtime, NODE)
    by = answer.get("by", "person") if isinstance(answer, dict) else "person"
    if _is_yes(answer):
        return Command(goto="register", update={"approval": {"approved": True, "by": by},
                                                "audit": [step.done("approved", by=by)]})
    reason = answer.get("reason", "rejected") if isinstance(answer, dict) else "rejected"
    return Command(goto="cleanup", update={"approval": {"approved": False, "by": by, "reason": reason},
                                           "status": "rejected", "error": f"not approved: {reason}",
                                           "audit": [step.done("rejected", "failed", reason, by=by)]})
