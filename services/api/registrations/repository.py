"""The SQL of a registration, the registry's hot path, run on the asyncpg connection directly.

Every statement here is a prepared statement (asyncpg caches them per connection): going through
the ORM cost about 6 ms of CPU a registration on our hardware, these cost about 0.6 ms (see
``bench/``). Everything else in the registry uses SQLAlchemy.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

# The addressed unit's row of the directive, locked until commit: concurrent registrations for one
# unit queue here, one after the other.
LOCK_ADDRESSED_UNIT = """
SELECT d.id AS directive_id, d.number, d.title, d.deadline, d.operation_starts_at,
       u.id AS unit_id, u.code, u.name, u.kind, u.email, u.phone
FROM registry.directive_units du
JOIN registry.directives d ON d.id = du.directive_id
JOIN registry.units u ON u.id = du.unit_id
WHERE du.directive_id = $1 AND u.code = $2 AND u.active
FOR UPDATE OF du
"""

# Read in its own statement, after the lock: under READ COMMITTED it then sees what a concurrent
# registrar committed while we waited. The newest version is the active one if any is.
LATEST_VERSION = """
SELECT id, version, status, full_name, position, phone, email, note, submitted_at, standing_since
FROM registry.focal_points
WHERE directive_id = $1 AND unit_id = $2
ORDER BY version DESC
LIMIT 1
"""

# Supersede the active version, insert the new one and its outbox row, in one round trip. The
# INSERT reads the UPDATE's result, which makes PostgreSQL finish the UPDATE first: the partial
# unique index on active versions never sees two at once.
WRITE_VERSION = """
WITH superseded AS (
    UPDATE registry.focal_points SET status = 'superseded', ended_at = $3
    WHERE id = $1 AND status = 'active'
    RETURNING id
), inserted AS (
    INSERT INTO registry.focal_points (id, directive_id, unit_id, version, status, full_name, position, phone,
                                       email, note, submitted_at, standing_since, submitted_by)
    SELECT $2::uuid, $4::uuid, $5::int, $6::int, 'active', $7::text, $8::text, $9::text, $10::text, $11::text,
           $3::timestamptz, $12::timestamptz, $13::text
    FROM (SELECT count(*) FROM superseded) AS after_superseding
    RETURNING id
)
INSERT INTO registry.outbox (id, queue, job_name, payload)
SELECT $14::uuid, $15::text, $16::text, $17::jsonb FROM inserted WHERE $17::jsonb IS NOT NULL
"""


async def lock_addressed_unit(
    conn: asyncpg.Connection, directive_id: uuid.UUID, unit_code: str
) -> asyncpg.Record | None:
    return await conn.fetchrow(LOCK_ADDRESSED_UNIT, directive_id, unit_code)


async def latest_version(conn: asyncpg.Connection, directive_id: uuid.UUID, unit_id: int) -> asyncpg.Record | None:
    return await conn.fetchrow(LATEST_VERSION, directive_id, unit_id)


async def write_version(
    conn: asyncpg.Connection,
    *,
    previous_id: uuid.UUID | None,
    new_id: uuid.UUID,
    at: datetime,
    directive_id: uuid.UUID,
    unit_id: int,
    version: int,
    fields: dict[str, str | None],
    standing_since: datetime,
    submitted_by: str,
    outbox: tuple[uuid.UUID, str, str, str] | None,
) -> None:
    outbox_id, queue, job_name, payload = outbox or (None, None, None, None)
    await conn.execute(
        WRITE_VERSION,
        previous_id,
        new_id,
        at,
        directive_id,
        unit_id,
        version,
        fields["full_name"],
        fields["position"],
        fields["phone"],
        fields["email"],
        fields["note"],
        standing_since,
        submitted_by,
        outbox_id,
        queue,
        job_name,
        payload,
    )


async def directive_exists(conn: asyncpg.Connection, directive_id: uuid.UUID) -> str | None:
    """The directive's number, if it exists."""
    return await conn.fetchval("SELECT number FROM registry.directives WHERE id = $1", directive_id)


async def unit_exists(conn: asyncpg.Connection, unit_code: str) -> bool:
    return bool(await conn.fetchval("SELECT 1 FROM registry.units WHERE code = $1 LIMIT 1", unit_code))
