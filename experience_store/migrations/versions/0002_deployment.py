"""Deployments: the endpoints modeldeploy registered.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "deployment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(63), nullable=False),
        sa.Column("model_id", sa.String(255), nullable=False),
        sa.Column("served_model_name", sa.String(255), nullable=False),
        sa.Column("framework", sa.String(64), nullable=False),
        sa.Column("image", sa.String(512), nullable=True),
        sa.Column("runtime", sa.String(16), nullable=False),
        sa.Column("endpoint", sa.String(255), nullable=True),
        sa.Column("container_id", sa.String(128), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("thread_id", sa.String(128), nullable=True),
        sa.Column("config", sa.JSON(), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployment")),
        sa.UniqueConstraint("name", name=op.f("uq_deployment_name")),
    )
    op.create_index(op.f("ix_deployment_status"), "deployment", ["status"])


def downgrade() -> None:
    op.drop_index(op.f("ix_deployment_status"), table_name="deployment")
    op.drop_table("deployment")
