"""Adoption: an outbox for the weekly nudges and digest (``shared/outbox.py``).

They went to Redis before the week's row was written, so Redis losing its data lost them for good;
now the week's row and its messages commit together and the notifier acknowledges each message.

Revision ID: a0005
Revises: a0004
Created: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "a0005"
down_revision = "a0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("job_name", sa.String(length=128), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("ref", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("relayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint("payload IS NOT NULL OR ref IS NOT NULL", name=op.f("ck_outbox_payload_or_ref")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        schema="adoption",
    )
    op.create_index(
        "ix_outbox_pending", "outbox", ["created_at"], schema="adoption", postgresql_where=sa.text("relayed_at IS NULL")
    )
    op.create_index(
        "ix_outbox_unacknowledged",
        "outbox",
        ["relayed_at"],
        schema="adoption",
        postgresql_where=sa.text("relayed_at IS NOT NULL AND acknowledged_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("outbox", schema="adoption")
