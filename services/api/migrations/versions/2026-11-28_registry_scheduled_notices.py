"""Registry: scheduled_notices, the once-only record of reminders, digests and go-live notices.

Revision ID: 0002
Revises: 0001
Created: 2026-11-28 13:51:39.650387
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduled_notices",
        sa.Column("directive_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=32), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('reminder', 'digest', 'go_live')", name=op.f("ck_scheduled_notices_kind_known")),
        sa.ForeignKeyConstraint(
            ["directive_id"], ["registry.directives.id"], name=op.f("fk_scheduled_notices_directive_id_directives")
        ),
        sa.PrimaryKeyConstraint("directive_id", "kind", "label", name=op.f("pk_scheduled_notices")),
        schema="registry",
    )


def downgrade() -> None:
    op.drop_table("scheduled_notices", schema="registry")
