"""Notifier: Zalo (ZNS) as a channel, its token pair, and each notification's cost units.

- ``channel`` may be ``zalo``; a Zalo notification keeps the ZNS ``template_id`` and the
  ``template_data`` sent (its ``body`` is the text of the SMS that replaces it if ZNS refuses it).
- ``cost_units``: what a sent notification is billed by (SMS segments, one ZNS message, no e-mail
  cost); existing rows get theirs. ``ix_notifications_sent_at`` serves the costs per month.
- ``zalo_tokens``: the OA's access token and its single-use refresh token, one row per Zalo app,
  renewed under the row's lock.

Revision ID: n0006
Revises: n0005
Created: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "n0006"
down_revision = "n0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_constraint("ck_notifications_channel_known", "notifications", schema="notify")
    op.create_check_constraint("channel_known", "notifications", "channel IN ('email', 'sms', 'zalo')", schema="notify")
    op.add_column("notifications", sa.Column("template_id", sa.String(length=32), nullable=True), schema="notify")
    op.add_column(
        "notifications",
        sa.Column("template_data", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        schema="notify",
    )
    op.add_column("notifications", sa.Column("cost_units", sa.SmallInteger(), nullable=True), schema="notify")
    op.execute(
        "UPDATE notify.notifications SET cost_units = CASE WHEN channel = 'sms' THEN coalesce(sms_segments, 1)"
        " ELSE 0 END"
    )
    op.create_index("ix_notifications_sent_at", "notifications", ["sent_at"], schema="notify")
    op.create_table(
        "zalo_tokens",
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=True),
        sa.Column("refresh_token", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("renewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("renewals", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("app_id", name=op.f("pk_zalo_tokens")),
        schema="notify",
    )


def downgrade() -> None:
    op.drop_table("zalo_tokens", schema="notify")
    op.drop_index("ix_notifications_sent_at", table_name="notifications", schema="notify")
    op.drop_column("notifications", "cost_units", schema="notify")
    op.drop_column("notifications", "template_data", schema="notify")
    op.drop_column("notifications", "template_id", schema="notify")
    op.execute(
        "DELETE FROM notify.receipts WHERE notification_id IN"
        " (SELECT id FROM notify.notifications WHERE channel = 'zalo')"
    )
    op.execute("DELETE FROM notify.notifications WHERE channel = 'zalo'")
    op.drop_constraint("ck_notifications_channel_known", "notifications", schema="notify")
    op.create_check_constraint("channel_known", "notifications", "channel IN ('email', 'sms')", schema="notify")
