"""The SQL of the notifier's send path, as prepared statements on asyncpg.

Every notification costs a claim and a finish, and every message an insert; through the ORM these
cost an order of magnitude more CPU (``docs/performance.md``, "Notifier"). Each is one statement, so
none needs a transaction of its own. Column lists and states come from the model (``models.py``).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, cast

import asyncpg
from sqlalchemy import Column, Table
from sqlalchemy.dialects.postgresql.base import PGDialect

from services.notifier.models import PHONE_CHANNELS, UNDELIVERED, WAITING, Notification, SmsDailyCount

N = cast(Table, Notification.__table__)
TABLE = N.fullname
COUNTS = cast(Table, SmsDailyCount.__table__).fullname

# A new row as the worker inserts it (the status it starts in included), and a claimed row as the send
# path reads it back.
INSERTED = [N.c[name] for name in ("id", "dedupe_key", "message_id", "kind", "channel", "recipient",
                                   "recipient_name", "unit_code", "directive_id", "subject", "body",
                                   "sms_encoding", "sms_segments", "status", "lane", "template_id",
                                   "template_data", "cost_units")]  # fmt: skip
CLAIMED = ", ".join(
    c.name
    for c in (N.c.id, N.c.channel, N.c.recipient, N.c.recipient_name, N.c.subject, N.c.body, N.c.attempts)
    + (N.c.pinned_provider, N.c.status, N.c.template_id, N.c.template_data, N.c.lane)
)
# The status a claimed row had before its claim: "sending" means its last attempt's worker died
# mid-send, so that attempt's outcome is unknown. (None for a row inserted claimed.)
WAS = "was"


def _names(columns: Sequence[Column[Any]]) -> str:
    return ", ".join(c.name for c in columns)


_POSTGRESQL = PGDialect()  # type: ignore[no-untyped-call]  # SQLAlchemy leaves dialect constructors unannotated


def _array_type(column: Column[Any]) -> str:
    return column.type.compile(dialect=_POSTGRESQL).split("(")[0].lower() + "[]"


# New rows (those inserted as "sending" are claimed by this very statement: one attempt, now), and
# rows of the same dedupe keys an earlier run of the job left waiting (the SELECT sees the table as it
# was before this statement, so the union needs both halves).
CREATE = f"""
WITH inserted AS (
    INSERT INTO {TABLE} ({_names(INSERTED)}, attempts)
    SELECT *, CASE WHEN status = 'sending' THEN 1 ELSE 0 END
    FROM unnest({", ".join(f"${n}::{_array_type(c)}" for n, c in enumerate(INSERTED, start=1))})
         AS r({_names(INSERTED)})
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING {CLAIMED}, NULL::text AS {WAS}
)
SELECT * FROM inserted
UNION ALL
SELECT {CLAIMED}, 'created' FROM {TABLE}
WHERE dedupe_key = ANY($2::{_array_type(N.c.dedupe_key)}) AND status = 'created'
"""  # noqa: S608 (names from the model)

# (``before`` reads the row as the statement's snapshot saw it: its status before this claim.)
CLAIM = f"""
UPDATE {TABLE}
SET status = 'sending', attempts = attempts + 1, updated_at = now()
FROM (SELECT status AS {WAS} FROM {TABLE} WHERE id = $1) AS before
WHERE id = $1
  AND next_attempt_at <= now() + interval '1 second'
  AND (status IN {WAITING} OR (status = 'sending' AND updated_at < now() - make_interval(secs => $2::float8)))
  AND (NOT $3::boolean OR channel NOT IN {PHONE_CHANNELS} OR urgent)
RETURNING {CLAIMED}, before.{WAS}
"""  # noqa: S608

# The SMS that replaces a Zalo notification: its own row (dedupe key ``…:sms``), the same cause and
# text. Nothing when it exists already: the person gets one SMS however often this runs.
FALL_BACK = f"""
INSERT INTO {TABLE} (id, dedupe_key, message_id, kind, channel, recipient, recipient_name, unit_code,
                     directive_id, body, sms_encoding, sms_segments, cost_units, status, lane, attempts)
SELECT $2, regexp_replace(dedupe_key, ':zalo$', ':sms'), message_id, kind, 'sms', recipient, recipient_name,
       unit_code, directive_id, body, $3::text, $4::smallint, $4::smallint, $5::text, lane,
       CASE WHEN $5::text = 'sending' THEN 1 ELSE 0 END
FROM {TABLE} WHERE id = $1 AND channel = 'zalo'
ON CONFLICT (dedupe_key) DO NOTHING
RETURNING {CLAIMED}, NULL::text AS {WAS}
"""  # noqa: S608

# Zalo notifications sent ``$1`` seconds ago (within a day after that) without a delivery receipt,
# and without their SMS yet.
UNCONFIRMED_ZALO = f"""
SELECT z.id, z.body, z.lane FROM {TABLE} z
WHERE z.channel = 'zalo' AND z.status = 'sent'
  AND z.sent_at < now() - make_interval(secs => $1::float8)
  AND z.sent_at > now() - make_interval(secs => $1::float8) - interval '1 day'
  AND NOT EXISTS (SELECT 1 FROM {TABLE} s WHERE s.dedupe_key = regexp_replace(z.dedupe_key, ':zalo$', ':sms'))
ORDER BY z.sent_at
LIMIT $2
"""  # noqa: S608

# Only from "sending": a delivery receipt that arrived first keeps its final state.
FINISH = f"""
UPDATE {TABLE}
SET status = $2::text, provider = $3::text, last_error = $4::text, updated_at = now(),
    sent_at = CASE WHEN $2::text = 'sent' THEN now() ELSE sent_at END,
    provider_ref = CASE WHEN $2::text = 'sent' THEN $5::text ELSE provider_ref END,
    next_attempt_at = coalesce($6::timestamptz, next_attempt_at),
    pinned_provider = CASE WHEN $6::timestamptz IS NULL THEN pinned_provider ELSE $7::text END
WHERE id = $1 AND status = 'sending'
"""  # noqa: S608

RELEASE = f"""
UPDATE {TABLE}
SET status = 'created', attempts = attempts - 1, next_attempt_at = $2::timestamptz, updated_at = now()
WHERE id = $1 AND status = 'sending'
"""  # noqa: S608

DEFER_SMS = f"""
UPDATE {TABLE} SET next_attempt_at = $2::timestamptz, updated_at = now()
WHERE id = $1 AND channel IN {PHONE_CHANNELS} AND NOT urgent AND status IN {WAITING}
  AND next_attempt_at < $2::timestamptz
RETURNING attempts
"""  # noqa: S608

# One of the recipient's SMS slots of ``day``: true when this notification holds one already (a retry)
# or takes one now, false when the day's cap is reached. The counter's row lock orders concurrent
# takes for one number, so the cap holds across workers.
TAKE_SMS_SLOT = f"""
WITH held AS (
    SELECT sms_counted_on IS NOT DISTINCT FROM $3::date AS already FROM {TABLE} WHERE id = $1
), taken AS (
    INSERT INTO {COUNTS} AS c (recipient, day, sent)
    SELECT $2, $3, 1 WHERE NOT coalesce((SELECT already FROM held), false)
    ON CONFLICT (recipient, day) DO UPDATE SET sent = c.sent + 1 WHERE c.sent < $4
    RETURNING 1
), counted AS (
    UPDATE {TABLE} SET sms_counted_on = $3 WHERE id = $1 AND EXISTS (SELECT 1 FROM taken)
    RETURNING 1
)
SELECT coalesce((SELECT already FROM held), false) OR EXISTS (SELECT 1 FROM taken)
"""  # noqa: S608

# What did not reach its recipient in a period (the Office's daily digest).
UNDELIVERED_IN = f"""
SELECT status, channel, recipient, recipient_name, unit_code, last_error FROM {TABLE}
WHERE status IN {UNDELIVERED} AND updated_at >= $1 AND updated_at < $2
ORDER BY status, recipient, updated_at
"""  # noqa: S608

STUCK = f"""
SELECT id, lane FROM {TABLE}
WHERE (status IN {WAITING} AND next_attempt_at < now() - make_interval(secs => $1::float8))
   OR (status = 'sending' AND updated_at < now() - make_interval(secs => $1::float8))
ORDER BY next_attempt_at
LIMIT $2
"""  # noqa: S608


async def create(pool: asyncpg.Pool, rows: Sequence[dict[str, Any]]) -> list[asyncpg.Record]:
    """Insert ``rows`` (each with the status to start in); returns the claimed and the waiting ones."""
    return await pool.fetch(CREATE, *([row[c.name] for row in rows] for c in INSERTED))


async def claim(
    pool: asyncpg.Pool, notification_id: uuid.UUID, *, stuck_after: float, quiet: bool
) -> asyncpg.Record | None:
    return await pool.fetchrow(CLAIM, notification_id, stuck_after, quiet)


async def finish(
    pool: asyncpg.Pool,
    notification_id: uuid.UUID,
    status: str,
    *,
    provider: str,
    provider_ref: str | None,
    error: str | None,
    retry_at: datetime | None,
    pinned_provider: str | None,
) -> None:
    await pool.execute(FINISH, notification_id, status, provider, error, provider_ref, retry_at, pinned_provider)


async def fall_back(
    pool: asyncpg.Pool,
    zalo_id: uuid.UUID,
    *,
    sms_id: uuid.UUID,
    encoding: str,
    segments: int,
    status: str,
) -> asyncpg.Record | None:
    """Insert the SMS replacing Zalo notification ``zalo_id``; None when it exists already."""
    return await pool.fetchrow(FALL_BACK, zalo_id, sms_id, encoding, segments, status)


async def unconfirmed_zalo(pool: asyncpg.Pool, *, older_than: float, limit: int) -> list[asyncpg.Record]:
    return await pool.fetch(UNCONFIRMED_ZALO, older_than, limit)


async def release(pool: asyncpg.Pool, notification_id: uuid.UUID, at: datetime) -> None:
    await pool.execute(RELEASE, notification_id, at)


async def defer_sms(pool: asyncpg.Pool, notification_id: uuid.UUID, until: datetime) -> int | None:
    attempts: int | None = await pool.fetchval(DEFER_SMS, notification_id, until)
    return attempts


async def take_sms_slot(pool: asyncpg.Pool, notification_id: uuid.UUID, recipient: str, day: date, cap: int) -> bool:
    taken: bool = await pool.fetchval(TAKE_SMS_SLOT, notification_id, recipient, day, cap)
    return taken


async def undelivered(pool: asyncpg.Pool, start: datetime, end: datetime) -> list[asyncpg.Record]:
    return await pool.fetch(UNDELIVERED_IN, start, end)


async def stuck(pool: asyncpg.Pool, *, stuck_after: float, limit: int) -> list[tuple[uuid.UUID, str]]:
    """(id, lane) of rows a worker should have sent by now."""
    return [(r["id"], r["lane"]) for r in await pool.fetch(STUCK, stuck_after, limit)]
