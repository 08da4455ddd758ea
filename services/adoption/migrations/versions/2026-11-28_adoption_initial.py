"""Adoption initial: directory copy, headcounts, reports, events, aggregates, state.

Revision ID: a0001
Revises:
Created: 2026-11-28 14:38:17.498705
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "a0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "batches",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("aggregated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_batches")),
        schema="adoption",
    )
    op.create_index(
        "ix_batches_pending",
        "batches",
        ["id"],
        unique=False,
        schema="adoption",
        postgresql_where=sa.text("aggregated_at IS NULL"),
    )
    op.create_table(
        "daily",
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("audience", sa.String(length=8), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("delta", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("unit_code", "audience", "day", name=op.f("pk_daily")),
        schema="adoption",
    )
    op.create_table(
        "events",
        sa.Column("event_id", sa.String(length=100), nullable=False),
        sa.Column("batch_id", sa.BigInteger(), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("subject_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("audience", sa.String(length=8), nullable=False),
        sa.Column("type", sa.String(length=12), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("audience IN ('staff', 'citizen')", name=op.f("ck_events_audience_known")),
        sa.CheckConstraint("type IN ('installed', 'activated', 'uninstalled')", name=op.f("ck_events_type_known")),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_events")),
        schema="adoption",
    )
    op.create_index("ix_events_batch_id", "events", ["batch_id"], unique=False, schema="adoption")
    op.create_index(
        "ix_events_person",
        "events",
        ["unit_code", "audience", "subject_hash", "occurred_at"],
        unique=False,
        schema="adoption",
    )
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
        schema="adoption",
    )
    op.create_index(
        op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"], unique=False, schema="adoption"
    )
    op.create_table(
        "state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_state_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_state")),
        schema="adoption",
    )
    op.create_table(
        "unit_stats",
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("audience", sa.String(length=8), nullable=False),
        sa.Column("adopted", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("unit_code", "audience", name=op.f("pk_unit_stats")),
        schema="adoption",
    )
    op.create_table(
        "units",
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("parent_code", sa.String(length=32), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("registry_headcount", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_units")),
        schema="adoption",
    )
    op.create_table(
        "weekly_notices",
        sa.Column("week", sa.String(length=8), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("units_nudged", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("week", name=op.f("pk_weekly_notices")),
        schema="adoption",
    )
    op.create_table(
        "headcounts",
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("staff", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("staff >= 0", name=op.f("ck_headcounts_staff_not_negative")),
        sa.ForeignKeyConstraint(["unit_code"], ["adoption.units.code"], name=op.f("fk_headcounts_unit_code_units")),
        sa.PrimaryKeyConstraint("unit_code", "as_of", name=op.f("pk_headcounts")),
        schema="adoption",
    )
    op.create_table(
        "reports",
        sa.Column("unit_code", sa.String(length=32), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("staff_total", sa.Integer(), nullable=False),
        sa.Column("staff_installed", sa.Integer(), nullable=False),
        sa.Column("citizens_guided", sa.Integer(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("staff_installed <= staff_total", name=op.f("ck_reports_installed_within_total")),
        sa.CheckConstraint(
            "staff_total >= 0 AND staff_installed >= 0 AND citizens_guided >= 0", name=op.f("ck_reports_not_negative")
        ),
        sa.ForeignKeyConstraint(["unit_code"], ["adoption.units.code"], name=op.f("fk_reports_unit_code_units")),
        sa.PrimaryKeyConstraint("unit_code", "as_of", name=op.f("pk_reports")),
        schema="adoption",
    )

    op.execute("INSERT INTO adoption.state (id, version) VALUES (1, 0)")
    # Wake the aggregating worker when a batch of events commits, and every HTTP app when a figure
    # changes (they keep the version in memory: a poll that changes nothing reads no row at all).
    op.execute("""
        CREATE FUNCTION adoption.notify() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify(TG_ARGV[0], '');
            RETURN NULL;
        END $$;
    """)
    op.execute(
        "CREATE TRIGGER batch_ingested AFTER INSERT ON adoption.batches "
        "FOR EACH STATEMENT EXECUTE FUNCTION adoption.notify('adoption_ingested')"
    )
    op.execute(
        "CREATE TRIGGER state_changed AFTER UPDATE ON adoption.state "
        "FOR EACH STATEMENT EXECUTE FUNCTION adoption.notify('adoption_changed')"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER state_changed ON adoption.state")
    op.execute("DROP TRIGGER batch_ingested ON adoption.batches")
    op.execute("DROP FUNCTION adoption.notify()")

    op.drop_table("reports", schema="adoption")
    op.drop_table("headcounts", schema="adoption")
    op.drop_table("weekly_notices", schema="adoption")
    op.drop_table("units", schema="adoption")
    op.drop_table("unit_stats", schema="adoption")
    op.drop_table("state", schema="adoption")
    op.drop_index(op.f("ix_idempotency_keys_created_at"), table_name="idempotency_keys", schema="adoption")
    op.drop_table("idempotency_keys", schema="adoption")
    op.drop_index("ix_events_person", table_name="events", schema="adoption")
    op.drop_table("events", schema="adoption")
    op.drop_table("daily", schema="adoption")
    op.drop_index(
        "ix_batches_pending", table_name="batches", schema="adoption", postgresql_where=sa.text("aggregated_at IS NULL")
    )
    op.drop_table("batches", schema="adoption")
