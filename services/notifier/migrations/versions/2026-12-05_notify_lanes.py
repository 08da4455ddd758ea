"""Notifier: each notification's lane (priority, normal, bulk), where its retries and resends go.

Revision ID: n0003
Revises: n0002
Created: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "n0003"
down_revision = "n0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "notifications",
        sa.Column("lane", sa.String(length=8), server_default=sa.text("'normal'"), nullable=False),
        schema="notify",
    )
    op.create_check_constraint("lane_known", "notifications", "lane IN ('priority', 'normal', 'bulk')", schema="notify")


def downgrade() -> None:
    op.drop_constraint("ck_notifications_lane_known", "notifications", schema="notify")
    op.drop_column("notifications", "lane", schema="notify")
