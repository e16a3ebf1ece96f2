"""Initial schema: run, failure_signature, lesson, lesson_event.

Revision ID: 0001
Revises:
Create Date: 2025-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Timestamp = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "failure_signature",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("template", sa.Text(), nullable=False),
        sa.Column("category", sa.String(64), nullable=True),
        sa.Column("first_seen", Timestamp, nullable=False),
        sa.Column("last_seen", Timestamp, nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_failure_signature")),
        sa.UniqueConstraint("hash", name=op.f("uq_failure_signature_hash")),
    )
    op.create_table(
        "run",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("model_id", sa.String(255), nullable=False),
        sa.Column("family", sa.String(64), nullable=True),
        sa.Column("architecture", sa.String(128), nullable=True),
        sa.Column("params", sa.BigInteger(), nullable=True),
        sa.Column("quantization", sa.String(64), nullable=True),
        sa.Column("gpu_model", sa.String(128), nullable=True),
        sa.Column("gpu_count", sa.Integer(), nullable=True),
        sa.Column("gpu_vram_mib", sa.Integer(), nullable=True),
        sa.Column("driver_version", sa.String(64), nullable=True),
        sa.Column("cuda_version", sa.String(64), nullable=True),
        sa.Column("hardware_fingerprint", sa.String(128), nullable=True),
        sa.Column("framework", sa.String(64), nullable=True),
        sa.Column("framework_version", sa.String(64), nullable=True),
        sa.Column("image", sa.String(512), nullable=True),
        sa.Column("config", sa.JSON(), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=True),
        sa.Column("log_digest", sa.Text(), nullable=True),
        sa.Column("failure_signature_id", sa.Integer(), nullable=True),
        sa.Column("deployment_name", sa.String(255), nullable=True),
        sa.ForeignKeyConstraint(
            ["failure_signature_id"],
            ["failure_signature.id"],
            name=op.f("fk_run_failure_signature_id_failure_signature"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run")),
    )
    op.create_index(op.f("ix_run_hardware_fingerprint"), "run", ["hardware_fingerprint"])
    op.create_index(op.f("ix_run_failure_signature_id"), "run", ["failure_signature_id"])
    op.create_index("ix_run_model_id_hardware_fingerprint", "run", ["model_id", "hardware_fingerprint"])

    op.create_table(
        "lesson",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("signature_id", sa.Integer(), nullable=True),
        sa.Column("family", sa.String(64), nullable=True),
        sa.Column("framework", sa.String(64), nullable=True),
        sa.Column("framework_min_version", sa.String(64), nullable=True),
        sa.Column("framework_max_version", sa.String(64), nullable=True),
        sa.Column("gpu_arch", sa.String(64), nullable=True),
        sa.Column("min_vram_mib", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("fix", sa.JSON(), nullable=True),
        sa.Column("strength", sa.Integer(), nullable=False),
        sa.Column("support_count", sa.Integer(), nullable=False),
        sa.Column("contradict_count", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("evidence_run_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("last_validated", Timestamp, nullable=True),
        sa.Column("natural_key", sa.String(64), nullable=False),
        sa.ForeignKeyConstraint(
            ["signature_id"],
            ["failure_signature.id"],
            name=op.f("fk_lesson_signature_id_failure_signature"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lesson")),
        sa.UniqueConstraint("natural_key", name=op.f("uq_lesson_natural_key")),
    )
    op.create_index(op.f("ix_lesson_signature_id"), "lesson", ["signature_id"])
    op.create_index(op.f("ix_lesson_status"), "lesson", ["status"])

    op.create_table(
        "lesson_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lesson_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("event", sa.String(16), nullable=False),
        sa.Column("created_at", Timestamp, nullable=False),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["lesson_id"], ["lesson.id"], name=op.f("fk_lesson_event_lesson_id_lesson"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["run_id"], ["run.id"], name=op.f("fk_lesson_event_run_id_run"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lesson_event")),
    )
    op.create_index(op.f("ix_lesson_event_lesson_id"), "lesson_event", ["lesson_id"])
    op.create_index(op.f("ix_lesson_event_run_id"), "lesson_event", ["run_id"])


def downgrade() -> None:
    op.drop_table("lesson_event")
    op.drop_table("lesson")
    op.drop_table("run")
    op.drop_table("failure_signature")
