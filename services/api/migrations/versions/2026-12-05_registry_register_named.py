"""Registry: the registration's database function takes named values, not thirteen positions.

``registry.register_focal_point(p_request jsonb, p_nomination jsonb)``: the request (directive, unit,
time, who, the new version's id, the outbox row) and the nomination (the fields a ward app sends) as
JSON objects, so a swapped pair of arguments cannot store a phone as a position. The new version is
built from the nomination with ``jsonb_populate_record`` and compared with the active one on the
nomination's own keys, and the function returns the version as a whole row: a field added to
registrations (a column, its migration, the schemas, ``NOMINATION_FIELDS``) needs no change here.

Revision ID: 0007
Revises: 0006
Created: 2026-12-05
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

REGISTER_FUNCTION = """
CREATE FUNCTION registry.register_focal_point(p_request jsonb, p_nomination jsonb)
RETURNS TABLE (outcome text, directive_number text, deadline timestamptz, focal_point registry.focal_points)
LANGUAGE plpgsql AS $$
DECLARE
    v_directive_id uuid := (p_request->>'directive_id')::uuid;
    v_received_at timestamptz := (p_request->>'received_at')::timestamptz;
    v_unit_id integer;
    v_latest registry.focal_points%ROWTYPE;
BEGIN
    IF v_directive_id IS NULL OR v_received_at IS NULL OR p_request->>'unit_code' IS NULL
       OR p_request->>'new_id' IS NULL OR p_request->>'submitted_by' IS NULL THEN
        RAISE EXCEPTION 'register_focal_point: incomplete request %', p_request;
    END IF;
    -- The unit's row of the directive, locked until commit: registrations for one unit queue here.
    SELECT du.unit_id, d.number, d.deadline INTO v_unit_id, directive_number, deadline
    FROM registry.directive_units du
    JOIN registry.directives d ON d.id = du.directive_id
    JOIN registry.units u ON u.id = du.unit_id
    WHERE du.directive_id = v_directive_id AND u.code = p_request->>'unit_code' AND u.active
    FOR UPDATE OF du;
    IF NOT FOUND THEN
        SELECT d.number INTO directive_number FROM registry.directives d WHERE d.id = v_directive_id;
        IF NOT FOUND THEN
            outcome := 'directive_not_found';
        ELSIF NOT EXISTS (SELECT 1 FROM registry.units u WHERE u.code = p_request->>'unit_code') THEN
            outcome := 'unit_not_found';
        ELSE
            outcome := 'not_addressed';
        END IF;
        RETURN NEXT;
        RETURN;
    END IF;

    -- The newest version is the active one if any is (a new version always supersedes the active).
    SELECT * INTO v_latest FROM registry.focal_points fp
    WHERE fp.directive_id = v_directive_id AND fp.unit_id = v_unit_id
    ORDER BY fp.version DESC LIMIT 1;

    -- Equal on every field of the nomination: nothing changes.
    IF v_latest.status = 'active'
       AND (SELECT jsonb_object_agg(k, to_jsonb(v_latest) -> k) FROM jsonb_object_keys(p_nomination) k) = p_nomination
    THEN
        outcome := 'unchanged';
        focal_point := v_latest;
        RETURN NEXT;
        RETURN;
    END IF;

    IF v_latest.status = 'active' THEN
        UPDATE registry.focal_points fp SET status = 'superseded', ended_at = v_received_at
        WHERE fp.id = v_latest.id;
    END IF;
    focal_point := jsonb_populate_record(NULL::registry.focal_points, p_nomination || jsonb_build_object(
        'id', p_request->'new_id',
        'directive_id', v_directive_id,
        'unit_id', v_unit_id,
        'version', coalesce(v_latest.version, 0) + 1,
        'status', 'active',
        'submitted_at', v_received_at,
        -- a replacement keeps the unit's first standing submission; a first one (or one after a
        -- withdrawal) starts a new run
        'standing_since', CASE WHEN v_latest.status = 'active' THEN v_latest.standing_since ELSE v_received_at END,
        'submitted_by', p_request->'submitted_by'));
    INSERT INTO registry.focal_points SELECT (focal_point).*;
    IF p_request->'outbox' IS NOT NULL AND p_request->'outbox' <> 'null'::jsonb THEN
        INSERT INTO registry.outbox (id, queue, job_name, ref)
        VALUES ((p_request->'outbox'->>'id')::uuid, p_request->'outbox'->>'queue', p_request->'outbox'->>'job_name',
                jsonb_build_object('focal_point_id', focal_point.id,
                                   'superseded_id', CASE WHEN v_latest.status = 'active' THEN v_latest.id END));
    END IF;
    outcome := 'created';
    RETURN NEXT;
END $$;
"""


def upgrade() -> None:
    op.execute(
        "DROP FUNCTION registry.register_focal_point(uuid, text, text, text, text, text, text, timestamptz, text,"
        " uuid, uuid, text, text)"
    )
    op.execute(REGISTER_FUNCTION)


def downgrade() -> None:
    """Back to the positional function of migration 0004 (its text is read from that migration)."""
    path = Path(__file__).with_name("2026-11-28_registry_register_function.py")
    spec = importlib.util.spec_from_file_location("registry_0004", path)
    assert spec is not None and spec.loader is not None
    previous = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(previous)
    op.execute("DROP FUNCTION registry.register_focal_point(jsonb, jsonb)")
    op.execute(previous.REGISTER_FUNCTION)
