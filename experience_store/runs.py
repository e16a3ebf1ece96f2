"""Write runs and failure signatures: one `run` row after every deployment, one signature per distinct error."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modeldeploy.experience_store.db import Database
from modeldeploy.experience_store.models import RUN_OUTCOMES, FailureSignature, Run, utcnow


def record_run(db: Database, **fields: Any) -> int:
    """Insert one `run` row from column values (`model_id` and `outcome` required) and return its id."""
    if fields.get("outcome") not in RUN_OUTCOMES:
        raise ValueError(f"run outcome must be one of {', '.join(RUN_OUTCOMES)}, got {fields.get('outcome')!r}")
    with db.session() as session:
        run = Run(**fields)  # unknown column names raise TypeError
        session.add(run)
        session.flush()
        return run.id


def upsert_failure_signature(
    db: Database, hash: str, template: str, category: str | None = None
) -> FailureSignature:
    """Count one more sighting of the signature `hash`, creating it on first sight."""
    if not hash or len(hash) > 64:
        raise ValueError(f"signature hash must be 1-64 characters, got {hash!r}")
    with db.session() as session:
        signature = _find(session, hash)
        if signature is None:
            try:
                with session.begin_nested():
                    now = utcnow()
                    signature = FailureSignature(
                        hash=hash, template=template, category=category, count=1, first_seen=now, last_seen=now
                    )
                    session.add(signature)
                return signature
            except IntegrityError:  # another writer inserted it first
                signature = _find(session, hash)
                assert signature is not None
        signature.count += 1
        signature.last_seen = utcnow()
        if category is not None:
            signature.category = category
        return signature


def _find(session: Session, hash: str) -> FailureSignature | None:
    return session.scalars(select(FailureSignature).where(FailureSignature.hash == hash)).one_or_none()
