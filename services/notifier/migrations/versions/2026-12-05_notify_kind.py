"""Notifier: a notification's ``reason`` is its ``kind`` (what it says, the name of its templates).

"Reason" also meant why a focal point was withdrawn and why a send failed; the API's field is renamed
with the column.

Revision ID: n0005
Revises: n0004
Created: 2026-12-05
"""

from __future__ import annotations

from alembic import op

revision = "n0005"
down_revision = "n0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("notifications", "reason", new_column_name="kind", schema="notify")


def downgrade() -> None:
    op.alter_column("notifications", "kind", new_column_name="reason", schema="notify")
