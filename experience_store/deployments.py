"""The deployment registry: upsert a named endpoint, list them, mark them removed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from modeldeploy.experience_store.db import Database
from modeldeploy.experience_store.models import DEPLOYMENT_STATUSES, Deployment, utcnow


def deployment_to_dict(d: Deployment) -> dict[str, Any]:
    return {"name": d.name, "model_id": d.model_id, "served_model_name": d.served_model_name, "framework": d.framework,
            "image": d.image, "runtime": d.runtime, "endpoint": d.endpoint, "container_id": d.container_id,
            "status": d.status, "thread_id": d.thread_id, "created_at": d.created_at.isoformat(),
            "updated_at": d.updated_at.isoformat()}


def upsert_deployment(db: Database, *, name: str, status: str, **fields: Any) -> dict[str, Any]:
    """Create or update the deployment called `name`."""
    if status not in DEPLOYMENT_STATUSES:
        raise ValueError(f"deployment status must be one of {DEPLOYMENT_STATUSES}, got {status!r}")
    with db.session() as session:
        row = session.scalars(select(Deployment).where(Deployment.name == name)).one_or_none()
        if row is None:
            row = Deployment(name=name, status=status, **fields)
            session.add(row)
        else:
            for key, value in fields.items():
                setattr(row, key, value)
            row.status = status
            row.updated_at = utcnow()
        session.flush()
        return deployment_to_dict(row)


def get_deployment(db: Database, name: str) -> dict[str, Any] | None:
    with db.session() as session:
        row = session.scalars(select(Deployment).where(Deployment.name == name)).one_or_none()
        return deployment_to_dict(row) if row else None


def list_deployments(db: Database, include_removed: bool = False) -> list[dict[str, Any]]:
    with db.session() as session:
        query = select(Deployment).order_by(Deployment.created_at)
        if not include_removed:
            query = query.where(Deployment.status != "removed")
        return [deployment_to_dict(d) for d in session.scalars(query)]
