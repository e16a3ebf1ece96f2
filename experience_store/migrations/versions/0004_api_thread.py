"""Threads of the HTTP API, beside the library (one database: SQLite or PostgreSQL).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "api_thread",
        sa.Column("thread_id", sa.String(64), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("updated_at", Timestamp, nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("thread_id", name=op.f("pk_api_thread")),
    )
    op.create_index("ix_api_thread_created", "api_thread", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_api_thread_created", table_name="api_thread")
    op.drop_table("api_thread")
