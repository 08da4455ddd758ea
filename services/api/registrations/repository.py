"""The SQL of a registration, the registry's hot path: one call of ``registry.register_focal_point``
(migration 0004) on the asyncpg connection directly, as a prepared statement.

Locking the unit, reading its newest version, superseding it and inserting the new version with its
outbox row take one round trip this way instead of five through the ORM; on our hardware that is
most of the difference between 4 ms and 2 ms of CPU a registration (see ``bench/``).
"""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

REGISTER = "SELECT * FROM registry.register_focal_point($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"


async def register(
    db: asyncpg.Pool | asyncpg.Connection,
    *,
    directive_id: uuid.UUID,
    unit_code: str,
    fields: dict[str, str | None],
    received_at: datetime,
    submitted_by: str,
    outbox: tuple[uuid.UUID, str, str] | None,
) -> asyncpg.Record:
    """Outcome ('created', 'unchanged', 'directive_not_found', 'unit_not_found', 'not_addressed'), the
    directive's number and deadline, and the unit's active version after the call."""
    outbox_id, queue, job_name = outbox or (None, None, None)
    return await db.fetchrow(
        REGISTER,
        directive_id,
        unit_code,
        fields["full_name"],
        fields["position"],
        fields["phone"],
        fields["email"],
        fields["note"],
        received_at,
        submitted_by,
        uuid.uuid4(),
        outbox_id,
        queue,
        job_name,
    )
