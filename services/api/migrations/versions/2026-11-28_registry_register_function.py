"""Registry: the registration of a focal point as one database function (one round trip).

A registration locks the unit's row of the directive, reads the newest version, and either answers
"unchanged" or supersedes the active version and inserts the new one with its outbox row. Done from
the application this took five round trips, and on our hardware each costs more CPU than the rest of
the request (``docs/performance.md``, "Registry"). Inside a function every statement still takes a
fresh snapshot (READ COMMITTED), so the read after the lock sees what a concurrent registrar committed
while we waited. Migration 0007 replaces this function with one that takes named values.

The outbox row carries only the ids (``ref``); the relay composes the message when it relays.

Revision ID: 0004
Revises: 0003
Created: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

REGISTER_FUNCTION = """
CREATE FUNCTION registry.register_focal_point(
    p_directive_id uuid, p_unit_code text, p_full_name text, p_position text, p_phone text, p_email text,
    p_note text, p_received_at timestamptz, p_submitted_by text, p_new_id uuid,
    p_outbox_id uuid, p_outbox_queue text, p_outbox_job text
) RETURNS TABLE (
    outcome text, directive_number text, deadline timestamptz, id uuid, version integer, status text,
    full_name text, "position" text, phone text, email text, note text, submitted_at timestamptz
) LANGUAGE plpgsql AS $$
DECLARE
    v_unit_id integer;
    v_latest registry.focal_points%ROWTYPE;
BEGIN
    -- The unit's row of the directive, locked until commit: registrations for one unit queue here.
    SELECT du.unit_id, d.number, d.deadline INTO v_unit_id, directive_number, deadline
    FROM registry.directive_units du
    JOIN registry.directives d ON d.id = du.directive_id
    JOIN registry.units u ON u.id = du.unit_id
    WHERE du.directive_id = p_directive_id AND u.code = p_unit_code AND u.active
    FOR UPDATE OF du;
    IF NOT FOUND THEN
        SELECT d.number INTO directive_number FROM registry.directives d WHERE d.id = p_directive_id;
        IF NOT FOUND THEN
            outcome := 'directive_not_found';
        ELSIF NOT EXISTS (SELECT 1 FROM registry.units u WHERE u.code = p_unit_code) THEN
            outcome := 'unit_not_found';
        ELSE
            outcome := 'not_addressed';
        END IF;
        RETURN NEXT;
        RETURN;
    END IF;

    -- The newest version is the active one if any is (a new version always supersedes the active).
    SELECT * INTO v_latest FROM registry.focal_points fp
    WHERE fp.directive_id = p_directive_id AND fp.unit_id = v_unit_id
    ORDER BY fp.version DESC LIMIT 1;

    IF v_latest.status = 'active'
       AND (v_latest.full_name, v_latest.position, v_latest.phone, v_latest.email, v_latest.note)
           IS NOT DISTINCT FROM (p_full_name, p_position, p_phone, p_email, p_note) THEN
        outcome := 'unchanged';
        id := v_latest.id; version := v_latest.version; status := v_latest.status;
        full_name := v_latest.full_name; "position" := v_latest.position; phone := v_latest.phone;
        email := v_latest.email; note := v_latest.note; submitted_at := v_latest.submitted_at;
        RETURN NEXT;
        RETURN;
    END IF;

    IF v_latest.status = 'active' THEN
        UPDATE registry.focal_points fp SET status = 'superseded', ended_at = p_received_at
        WHERE fp.id = v_latest.id;
    END IF;
    INSERT INTO registry.focal_points (id, directive_id, unit_id, version, status, full_name, position, phone,
                                       email, note, submitted_at, standing_since, submitted_by)
    VALUES (p_new_id, p_directive_id, v_unit_id, coalesce(v_latest.version, 0) + 1, 'active', p_full_name,
            p_position, p_phone, p_email, p_note, p_received_at,
            -- a replacement keeps the unit's first standing submission; a first one (or one after a
            -- withdrawal) starts a new run
            CASE WHEN v_latest.status = 'active' THEN v_latest.standing_since ELSE p_received_at END,
            p_submitted_by);
    IF p_outbox_id IS NOT NULL THEN
        INSERT INTO registry.outbox (id, queue, job_name, ref)
        VALUES (p_outbox_id, p_outbox_queue, p_outbox_job, jsonb_build_object(
            'focal_point_id', p_new_id,
            'superseded_id', CASE WHEN v_latest.status = 'active' THEN v_latest.id END));
    END IF;
    outcome := 'created';
    id := p_new_id; version := coalesce(v_latest.version, 0) + 1; status := 'active';
    full_name := p_full_name; "position" := p_position; phone := p_phone; email := p_email; note := p_note;
    submitted_at := p_received_at;
    RETURN NEXT;
END $$;
"""


def upgrade() -> None:
    op.alter_column("outbox", "payload", existing_type=postgresql.JSONB(), nullable=True, schema="registry")
    op.add_column("outbox", sa.Column("ref", postgresql.JSONB(), nullable=True), schema="registry")
    op.create_check_constraint("payload_or_ref", "outbox", "payload IS NOT NULL OR ref IS NOT NULL", schema="registry")
    op.execute(REGISTER_FUNCTION)


def downgrade() -> None:
    op.execute("DROP FUNCTION registry.register_focal_point")
    op.drop_constraint("ck_outbox_payload_or_ref", "outbox", schema="registry")
    op.drop_column("outbox", "ref", schema="registry")
    op.alter_column("outbox", "payload", existing_type=postgresql.JSONB(), nullable=False, schema="registry")
