"""Storing events, on asyncpg.

A group of requests' events is their ids COPYed into ``event_ids`` (whose primary key refuses a known
one), a batch row, and one binary COPY of the events (``copy_stream.py``), which PostgreSQL routes to
their months' partitions: the ingest's cost per event is mostly PostgreSQL's, and a COPY costs it
least (``docs/performance.md``, "The ingest"). Events some of which are known already go through one
statement that skips them. Both run inside the caller's transaction. Table names, and the columns a
statement lists, come from the models.
"""

from __future__ import annotations

import orjson

from services.adoption.events.copy_stream import COLUMNS, EventRow, binary_copy, binary_copy_ids, timestamp
from services.adoption.models import Batch, Event, EventId
from shared.db import Connection, column_names, table

BATCHES, EVENTS, EVENT_IDS = table(Batch), table(Event), table(EventId)
B, E, ID = BATCHES.c, EVENTS.c, EVENT_IDS.c


# The columns the INSERT below writes, in its SELECT's order.
INSERTED = (E.event_id, E.batch_id, E.unit_code, E.person, E.subject_hash, E.audience, E.type, E.occurred_at)

RECORD_BATCH = f"INSERT INTO {BATCHES.fullname} ({B.events.name}) VALUES ($1) RETURNING {B.id.name}"  # noqa: S608

# The events as one JSON parameter (``_as_json``, event ids distinct): those whose event_id is known are
# skipped, and the batch row counts the others (none: no batch row, and no trace of the request). A
# concurrent transaction storing the same id makes the INSERT into event_ids wait for its outcome.
INSERT_SKIPPING_KNOWN = f"""
WITH batch AS (
    SELECT nextval(pg_get_serial_sequence('{BATCHES.fullname}', '{B.id.name}')) AS id
), given AS (
    SELECT * FROM json_to_recordset($1::json) AS e(event_id text, unit_code text, person bigint,
                                                   subject_hash text, audience text, type text,
                                                   occurred_at timestamptz)
), new_ids AS (
    INSERT INTO {EVENT_IDS.fullname} ({ID.event_id.name}) SELECT event_id FROM given
    ON CONFLICT ({ID.event_id.name}) DO NOTHING
    RETURNING {ID.event_id.name}
), inserted AS (
    INSERT INTO {EVENTS.fullname} ({column_names(INSERTED)})
    SELECT e.event_id, batch.id, e.unit_code, e.person, decode(e.subject_hash, 'hex'), e.audience, e.type,
           e.occurred_at
    FROM batch, given e JOIN new_ids USING (event_id)
    RETURNING batch_id
), recorded AS (
    INSERT INTO {BATCHES.fullname} ({column_names((B.id, B.events))})
    SELECT batch_id, count(*) FROM inserted GROUP BY batch_id
    RETURNING events
)
SELECT coalesce((SELECT events FROM recorded), 0)
"""  # noqa: S608 (names from the models)


async def copy_events(conn: Connection, rows: list[EventRow]) -> None:
    """The ids of ``rows``, a batch row, then ``rows`` under it, by binary COPY; a known event_id raises
    ``asyncpg.UniqueViolationError`` (the ids first: before anything else is written)."""
    await conn.copy_to_table(
        EVENT_IDS.name,
        schema_name=EVENT_IDS.schema,
        columns=(ID.event_id.name,),
        source=memoryview(binary_copy_ids(rows)),  # type: ignore[arg-type]  # (as below)
        format="binary",
    )
    batch_id = await conn.fetchval(RECORD_BATCH, len(rows))
    stream = memoryview(binary_copy(rows, batch_id))  # a buffer: asyncpg would read bytes as a file's path
    await conn.copy_to_table(
        EVENTS.name,
        schema_name=EVENTS.schema,
        columns=COLUMNS,
        source=stream,  # type: ignore[arg-type]  # asyncpg reads any buffer; its stubs name files only
        format="binary",
    )


async def insert_skipping_known(conn: Connection, rows: list[EventRow]) -> int:
    """Store the events of ``rows`` whose event_id is new, in a batch of their own; returns how many."""
    stored: int = await conn.fetchval(INSERT_SKIPPING_KNOWN, _as_json(rows))
    return stored


def _as_json(rows: list[EventRow]) -> str:
    return orjson.dumps(
        [
            {
                "event_id": event_id,
                "unit_code": unit_code,
                "person": person,
                "subject_hash": subject_hash.hex(),
                "audience": audience,
                "type": type_,
                "occurred_at": timestamp(occurred_at).isoformat(),
            }
            for event_id, unit_code, person, subject_hash, audience, type_, occurred_at in rows
        ]
    ).decode()
