"""Registry initial: units, directives, focal points, outbox, idempotency keys; auth.api_keys.

Revision ID: 0001
Revises:
Created: 2026-11-28 13:35:43.396133
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "directives",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("issue_year", sa.SmallInteger(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("deadline", sa.DateTime(timezone=True), nullable=False),
        sa.Column("operation_starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directives")),
        sa.UniqueConstraint("number", "issue_year", name="uq_directives_number_issue_year"),
        schema="registry",
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
        schema="registry",
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("queue", sa.String(length=64), nullable=False),
        sa.Column("job_name", sa.String(length=128), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("relayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        schema="registry",
    )
    op.create_index(
        "ix_idempotency_keys_created_at", "idempotency_keys", ["created_at"], unique=False, schema="registry"
    )
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["created_at"],
        unique=False,
        schema="registry",
        postgresql_where=sa.text("relayed_at IS NULL"),
    )
    op.create_table(
        "units",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("parent_code", sa.String(length=32), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=True),
        sa.Column("staff_headcount", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("search_name", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "kind IN ('department', 'agency', 'ward', 'commune', 'town', 'city', 'province')",
            name=op.f("ck_units_kind_known"),
        ),
        sa.CheckConstraint(
            "staff_headcount IS NULL OR staff_headcount >= 0", name=op.f("ck_units_headcount_not_negative")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_units")),
        schema="registry",
    )
    op.create_index("ix_units_code", "units", ["code"], unique=False, schema="registry")
    op.create_index(
        "uq_units_code_active", "units", ["code"], unique=True, schema="registry", postgresql_where=sa.text("active")
    )
    op.create_table(
        "directive_units",
        sa.Column("directive_id", sa.Uuid(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["directive_id"], ["registry.directives.id"], name=op.f("fk_directive_units_directive_id_directives")
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["registry.units.id"], name=op.f("fk_directive_units_unit_id_units")),
        sa.PrimaryKeyConstraint("directive_id", "unit_id", name=op.f("pk_directive_units")),
        schema="registry",
    )
    op.create_index(op.f("ix_directive_units_unit_id"), "directive_units", ["unit_id"], unique=False, schema="registry")
    op.create_table(
        "focal_points",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("directive_id", sa.Uuid(), nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("full_name", sa.String(length=200), nullable=False),
        sa.Column("position", sa.String(length=200), nullable=True),
        sa.Column("phone", sa.String(length=20), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("standing_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("submitted_by", sa.String(length=200), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdraw_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('active', 'superseded', 'withdrawn')", name=op.f("ck_focal_points_status_known")
        ),
        sa.ForeignKeyConstraint(
            ["directive_id"], ["registry.directives.id"], name=op.f("fk_focal_points_directive_id_directives")
        ),
        sa.ForeignKeyConstraint(["unit_id"], ["registry.units.id"], name=op.f("fk_focal_points_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_focal_points")),
        sa.UniqueConstraint("directive_id", "unit_id", "version", name="uq_focal_points_directive_unit_version"),
        schema="registry",
    )
    op.create_index(
        "uq_focal_points_one_active",
        "focal_points",
        ["directive_id", "unit_id"],
        unique=True,
        schema="registry",
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "unit_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("unit_id", sa.Integer(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("changed_by", sa.String(length=200), nullable=False),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.ForeignKeyConstraint(["unit_id"], ["registry.units.id"], name=op.f("fk_unit_changes_unit_id_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unit_changes")),
        schema="registry",
    )
    op.create_index(op.f("ix_unit_changes_unit_id"), "unit_changes", ["unit_id"], unique=False, schema="registry")
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=True),
        sa.Column("key_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("key_hint", sa.String(length=16), nullable=False),
        sa.Column("rate_limit_per_minute", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("(role = 'ward_app') = (unit_code IS NOT NULL)", name=op.f("ck_api_keys_unit_iff_ward_app")),
        sa.CheckConstraint(
            "role IN ('office', 'ward_app', 'ops_centre', 'app_backend')", name=op.f("ck_api_keys_role_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
        schema="auth",
    )
    # Wake the outbox relay as soon as a row commits (NOTIFY is delivered at commit, once per
    # transaction), instead of making each request talk to Redis. Migration 0005 drops the trigger:
    # the relay polls instead.
    op.execute("""
        CREATE FUNCTION registry.notify_outbox() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('registry_outbox', '');
            RETURN NULL;
        END $$;
    """)
    op.execute("""
        CREATE TRIGGER outbox_inserted AFTER INSERT ON registry.outbox
        FOR EACH STATEMENT EXECUTE FUNCTION registry.notify_outbox();
    """)


def downgrade() -> None:
    op.execute("DROP TRIGGER outbox_inserted ON registry.outbox")
    op.execute("DROP FUNCTION registry.notify_outbox()")
    op.drop_table("api_keys", schema="auth")
    op.drop_index(op.f("ix_unit_changes_unit_id"), table_name="unit_changes", schema="registry")
    op.drop_table("unit_changes", schema="registry")
    op.drop_index(
        "uq_focal_points_one_active",
        table_name="focal_points",
        schema="registry",
        postgresql_where=sa.text("status = 'active'"),
    )
    op.drop_table("focal_points", schema="registry")
    op.drop_index(op.f("ix_directive_units_unit_id"), table_name="directive_units", schema="registry")
    op.drop_table("directive_units", schema="registry")
    op.drop_index("uq_units_code_active", table_name="units", schema="registry", postgresql_where=sa.text("active"))
    op.drop_table("units", schema="registry")
    op.drop_index(
        "ix_outbox_pending", table_name="outbox", schema="registry", postgresql_where=sa.text("relayed_at IS NULL")
    )
    op.drop_table("outbox", schema="registry")
    op.drop_table("idempotency_keys", schema="registry")
    op.drop_table("directives", schema="registry")
