"""Notifier: a daily cap of SMS per recipient; what goes beyond it is held (``held_for_cap``).

``sms_daily_counts`` counts the SMS each number was sent on each Vietnam day; a notification that took
one of the day's slots says so in ``sms_counted_on``, so that its retries do not count twice. The
Office's daily digest finds what was held or failed through ``ix_notifications_undelivered``.

Revision ID: n0004
Revises: n0003
Created: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "n0004"
down_revision = "n0003"
branch_labels = None
depends_on = None

OLD = "'created', 'sending', 'sent', 'delivered', 'temporary_failure', 'permanent_failure'"


def upgrade() -> None:
    op.create_table(
        "sms_daily_counts",
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("recipient", "day", name=op.f("pk_sms_daily_counts")),
        schema="notify",
    )
    op.add_column("notifications", sa.Column("sms_counted_on", sa.Date(), nullable=True), schema="notify")
    op.drop_constraint("ck_notifications_status_known", "notifications", schema="notify")
    op.create_check_constraint("status_known", "notifications", f"status IN ({OLD}, 'held_for_cap')", schema="notify")


def downgrade() -> None:
    op.drop_index("ix_notifications_undelivered", table_name="notifications", schema="notify")
    op.execute("UPDATE notify.notifications SET status = 'permanent_failure' WHERE status = 'held_for_cap'")
    op.drop_constraint("ck_notifications_status_known", "notifications", schema="notify")
    op.create_check_constraint("status_known", "notifications", f"status IN ({OLD})", schema="notify")
    op.drop_column("notifications", "sms_counted_on", schema="notify")
    op.drop_table("sms_daily_counts", schema="notify")
