"""Registry: outbox rows are acknowledged by their consumers (``shared/outbox.py``).

A relayed row now waits for its consumer's acknowledgement; until then the relay may send it again
(when Redis no longer holds its job). Rows relayed before this migration count as acknowledged: their
consumers took them under the old rules, and sending years of history again would help nobody.

Revision ID: 0006
Revises: 0005
Created: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True), schema="registry")
    op.execute("UPDATE registry.outbox SET acknowledged_at = relayed_at WHERE relayed_at IS NOT NULL")
    op.create_index(
        "ix_outbox_unacknowledged",
        "outbox",
        ["relayed_at"],
        schema="registry",
        postgresql_where=sa.text("relayed_at IS NOT NULL AND acknowledged_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_unacknowledged", table_name="outbox", schema="registry")
    op.drop_column("outbox", "acknowledged_at", schema="registry")
