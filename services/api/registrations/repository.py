"""The SQL of a registration, the registry's hot path: one call of ``registry.register_focal_point``
(migration 0007) on the asyncpg connection directly, as a prepared statement.

Locking the unit, reading its newest version, superseding it and inserting the new version with its
outbox row take one round trip this way instead of five through the ORM (``docs/performance.md``,
"Registry"). The request and the nomination travel as two JSON objects, by name; the new version
comes back as a whole ``focal_points`` row.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
import orjson

REGISTER = "SELECT outcome, directive_number, deadline, focal_point FROM registry.register_focal_point($1, $2)"


async def register(
    db: asyncpg.Pool | asyncpg.Connection,
    *,
    directive_id: uuid.UUID,
    unit_code: str,
    nomination: dict[str, Any],
    received_at: datetime,
    submitted_by: str,
    outbox: dict[str, str] | None,
) -> asyncpg.Record:
    """Outcome ('created', 'unchanged', 'directive_not_found', 'unit_not_found', 'not_addressed'), the
    directive's number and deadline, and the unit's active version after the call (a ``focal_points``
    row, or None when the outcome is not 'created' or 'unchanged')."""
    request = {
        "directive_id": str(directive_id),
        "unit_code": unit_code,
        "received_at": received_at.isoformat(),
        "submitted_by": submitted_by,
        "new_id": str(uuid.uuid4()),
        "outbox": outbox,
    }
    row = await db.fetchrow(REGISTER, orjson.dumps(request).decode(), orjson.dumps(nomination).decode())
    assert row is not None, "the function always returns a row"
    return row
