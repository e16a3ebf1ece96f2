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
    """What the person sees: the plan in one paragraph, the smoke results, load-test and evaluation numbers."""
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
        "benchmark": benchmark_summary(state.benchmark),
        "evaluations": evaluation_summary(state.evaluations),
        "resume_with": {"approved": True, "by": "name"},
    }


def benchmark_summary(doc: dict[str, Any] | None) -> list[dict[str, Any]] | dict[str, Any] | None:
    """Per load point: throughput, TTFT/TPOT means and whether the run measured the server (valid)."""
    if not doc or "error" in doc:
        return doc
    return [{"load": r["label"], "request_throughput": round(r["request_throughput"], 3),
             "output_token_throughput": round(r["output_token_throughput"], 1),
             "ttft_ms_mean": r["ttft_ms"]["mean"], "tpot_ms_mean": r["tpot_ms"]["mean"], "failed": r["failed"],
             "valid": r["valid"]} for r in doc.get("runs", [])]


def evaluation_summary(results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    keys = ("n", "score_official", "score_strict", "unparsed_rate", "truncated_rate", "ci95", "error")
    return {suite: {k: r[k] for k in keys if k in r} for suite, r in (results or {}).items()}


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
