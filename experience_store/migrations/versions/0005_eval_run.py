"""Evaluation results by deployment.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "eval_run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("deployment", sa.String(255), nullable=False),
        sa.Column("endpoint", sa.String(255), nullable=False),
        sa.Column("model", sa.String(255), nullable=False),
        sa.Column("suite", sa.String(255), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("score_official", sa.Float(), nullable=False),
        sa.Column("score_strict", sa.Float(), nullable=False),
        sa.Column("unparsed_rate", sa.Float(), nullable=False),
        sa.Column("truncated_rate", sa.Float(), nullable=False),
        sa.Column("ci95_low", sa.Float(), nullable=False),
        sa.Column("ci95_high", sa.Float(), nullable=False),
        sa.Column("dataset_sha256", sa.String(64), nullable=False),
        sa.Column("template_sha256", sa.String(64), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("results_path", sa.Text(), nullable=True),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_eval_run")),
    )
    op.create_index("ix_eval_run_deployment_suite_created", "eval_run", ["deployment", "suite", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_eval_run_deployment_suite_created", table_name="eval_run")
    op.drop_table("eval_run")
