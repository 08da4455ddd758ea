"""Registry: the registration's function compares and builds versions as records, not JSON.

The nomination is laid over the newest version with ``jsonb_populate_record``; the two are compared as
rows, and the new version is that record with its own id, number, state and times. Comparing JSON
renderings of the whole row cost PostgreSQL more CPU on every registration than the rest of the
function (``docs/performance.md``, "Registry"). The interface is the same as migration 0007's.

Revision ID: 0008
Revises: 0007
Created: 2026-12-05
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

REGISTER_FUNCTION = """
CREATE OR REPLACE FUNCTION registry.register_focal_point(p_request jsonb, p_nomination jsonb)
RETURNS TABLE (outcome text, directive_number text, deadline timestamptz, focal_point registry.focal_points)
LANGUAGE plpgsql AS $$
DECLARE
    v_directive_id uuid := (p_request->>'directive_id')::uuid;
    v_received_at timestamptz := (p_request->>'received_at')::timestamptz;
    v_unit_id integer;
    v_latest registry.focal_points%ROWTYPE;
    v_new registry.focal_points%ROWTYPE;
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

    -- The nomination laid over the newest version: equal to it when no field of the nomination changed.
    v_new := jsonb_populate_record(v_latest, p_nomination);
    IF v_latest.status = 'active' AND v_new IS NOT DISTINCT FROM v_latest THEN
        outcome := 'unchanged';
        focal_point := v_latest;
        RETURN NEXT;
        RETURN;
    END IF;

    IF v_latest.status = 'active' THEN
        UPDATE registry.focal_points fp SET status = 'superseded', ended_at = v_received_at
        WHERE fp.id = v_latest.id;
    END IF;
    v_new.id := (p_request->>'new_id')::uuid;
    v_new.directive_id := v_directive_id;
    v_new.unit_id := v_unit_id;
    v_new.version := coalesce(v_latest.version, 0) + 1;
    v_new.status := 'active';
    v_new.submitted_at := v_received_at;
    -- a replacement keeps the unit's first standing submission; a first one (or one after a withdrawal)
    -- starts a new run
    v_new.standing_since := CASE WHEN v_latest.status = 'active' THEN v_latest.standing_since ELSE v_received_at END;
    v_new.submitted_by := p_request->>'submitted_by';
    v_new.ended_at := NULL;
    v_new.withdraw_reason := NULL;
    INSERT INTO registry.focal_points SELECT (v_new).*;
    focal_point := v_new;
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
    op.execute(REGISTER_FUNCTION)


def downgrade() -> None:
    """Back to migration 0007's function (its text is read from that migration)."""
    path = Path(__file__).with_name("2026-12-05_registry_register_named.py")
    spec = importlib.util.spec_from_file_location("registry_0007", path)
    assert spec is not None and spec.loader is not None
    previous = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(previous)
    op.execute(previous.REGISTER_FUNCTION.replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
