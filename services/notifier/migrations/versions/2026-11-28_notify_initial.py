"""Notifier initial: notifications, receipts, idempotency keys.

Revision ID: n0001
Revises:
Created: 2026-11-28 13:53:03.433142
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "n0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "idempotency_keys",
        sa.Column("api_key_id", sa.UUID(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("response_headers", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("response_body", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("api_key_id", "key", name=op.f("pk_idempotency_keys")),
        schema="notify",
    )
    op.create_index(
        op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"], unique=False, schema="notify"
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("message_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=8), nullable=False),
        sa.Column("recipient", sa.String(length=254), nullable=False),
        sa.Column("recipient_name", sa.String(length=200), nullable=True),
        sa.Column("unit_code", sa.String(length=32), nullable=True),
        sa.Column("directive_id", sa.Uuid(), nullable=True),
        sa.Column("subject", sa.String(length=300), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("sms_encoding", sa.String(length=8), nullable=True),
        sa.Column("sms_segments", sa.SmallInteger(), nullable=True),
        sa.Column("urgent", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("status", sa.String(length=20), server_default=sa.text("'created'"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("provider", sa.String(length=64), nullable=True),
        sa.Column("provider_ref", sa.String(length=128), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("channel IN ('email', 'sms')", name=op.f("ck_notifications_channel_known")),
        sa.CheckConstraint(
            "status IN ('created', 'sending', 'sent', 'delivered', 'temporary_failure', 'permanent_failure')",
            name=op.f("ck_notifications_status_known"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_notifications_dedupe_key")),
        schema="notify",
    )
    op.create_index(
        "ix_notifications_created_at_id", "notifications", ["created_at", "id"], unique=False, schema="notify"
    )
    op.create_index("ix_notifications_directive_id", "notifications", ["directive_id"], unique=False, schema="notify")
    op.create_index(
        "ix_notifications_pending",
        "notifications",
        ["next_attempt_at"],
        unique=False,
        schema="notify",
        postgresql_where=sa.text("status IN ('created', 'sending', 'temporary_failure')"),
    )
    op.create_index(
        "ix_notifications_provider_ref", "notifications", ["provider", "provider_ref"], unique=False, schema="notify"
    )
    op.create_index("ix_notifications_unit_code", "notifications", ["unit_code"], unique=False, schema="notify")
    op.create_table(
        "receipts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("notification_id", sa.Uuid(), nullable=True),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("applied", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["notification_id"], ["notify.notifications.id"], name=op.f("fk_receipts_notification_id_notifications")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipts")),
        schema="notify",
    )
    op.create_index(op.f("ix_receipts_notification_id"), "receipts", ["notification_id"], unique=False, schema="notify")


def downgrade() -> None:

    op.drop_index(op.f("ix_receipts_notification_id"), table_name="receipts", schema="notify")
    op.drop_table("receipts", schema="notify")
    op.drop_index("ix_notifications_unit_code", table_name="notifications", schema="notify")
    op.drop_index("ix_notifications_provider_ref", table_name="notifications", schema="notify")
    op.drop_index(
        "ix_notifications_pending",
        table_name="notifications",
        schema="notify",
        postgresql_where=sa.text("status IN ('created', 'sending', 'temporary_failure')"),
    )
    op.drop_index("ix_notifications_directive_id", table_name="notifications", schema="notify")
    op.drop_index("ix_notifications_created_at_id", table_name="notifications", schema="notify")
    op.drop_table("notifications", schema="notify")
    op.drop_index(op.f("ix_idempotency_keys_created_at"), table_name="idempotency_keys", schema="notify")
    op.drop_table("idempotency_keys", schema="notify")
