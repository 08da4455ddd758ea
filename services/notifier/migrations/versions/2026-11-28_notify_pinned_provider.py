"""Notifier: pinned_provider, the only gateway a retry may use after a timeout (no double SMS).

Revision ID: n0002
Revises: n0001
Created: 2026-11-28 14:41:46.624147
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "n0002"
down_revision = "n0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.add_column("notifications", sa.Column("pinned_provider", sa.String(length=64), nullable=True), schema="notify")


def downgrade() -> None:

    op.drop_column("notifications", "pinned_provider", schema="notify")
