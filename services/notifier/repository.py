"""The SQL of the notifier's send path, as prepared statements on asyncpg.

Every notification costs a claim and a finish, and every message an insert: through the ORM these
took about 7 ms of CPU a notification, these about 0.3 ms (see ``bench/``). Each is one statement,
so none needs a transaction of its own.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import asyncpg

COLUMNS = (
    "id",
    "dedupe_key",
    "message_id",
    "reason",
    "channel",
    "recipient",
    "recipient_name",
    "unit_code",
    "directive_id",
    "subject",
    "body",
    "sms_encoding",
    "sms_segments",
    "status",
    "lane",
)
CLAIMED = "id, channel, recipient, recipient_name, subject, body, attempts, pinned_provider, status"

# New rows (those inserted as "sending" are claimed by this very statement: one attempt, now), and
# rows of the same dedupe keys an earlier run of the job left waiting (the SELECT sees the table as it
# was before this statement, so the union needs both halves).
CREATE = f"""
WITH inserted AS (
    INSERT INTO notify.notifications (id, dedupe_key, message_id, reason, channel, recipient, recipient_name,
                                      unit_code, directive_id, subject, body, sms_encoding, sms_segments, status,
                                      lane, attempts)
    SELECT *, CASE WHEN status = 'sending' THEN 1 ELSE 0 END
    FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[],
                $8::text[], $9::uuid[], $10::text[], $11::text[], $12::text[], $13::smallint[], $14::text[],
                $15::text[])
         AS r(id, dedupe_key, message_id, reason, channel, recipient, recipient_name, unit_code, directive_id,
              subject, body, sms_encoding, sms_segments, status, lane)
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING {CLAIMED}
)
SELECT * FROM inserted
UNION ALL
SELECT {CLAIMED} FROM notify.notifications
WHERE dedupe_key = ANY($2::text[]) AND status = 'created'
"""  # noqa: S608 (column lists are constants)

CLAIM = """
UPDATE notify.notifications
SET status = 'sending', attempts = attempts + 1, updated_at = now()
WHERE id = $1
  AND next_attempt_at <= now() + interval '1 second'
  AND (status IN ('created', 'temporary_failure')
       OR (status = 'sending' AND updated_at < now() - make_interval(secs => $2::float8)))
  AND (NOT $3::boolean OR channel <> 'sms' OR urgent)
RETURNING id, channel, recipient, recipient_name, subject, body, attempts, pinned_provider, status
"""

# Only from "sending": a delivery receipt that arrived first keeps its final state.
FINISH = """
UPDATE notify.notifications
SET status = $2::text, provider = $3::text, last_error = $4::text, updated_at = now(),
    sent_at = CASE WHEN $2::text = 'sent' THEN now() ELSE sent_at END,
    provider_ref = CASE WHEN $2::text = 'sent' THEN $5::text ELSE provider_ref END,
    next_attempt_at = coalesce($6::timestamptz, next_attempt_at),
    pinned_provider = CASE WHEN $6::timestamptz IS NULL THEN pinned_provider ELSE $7::text END
WHERE id = $1 AND status = 'sending'
"""

RELEASE = """
UPDATE notify.notifications
SET status = 'created', attempts = attempts - 1, next_attempt_at = $2::timestamptz, updated_at = now()
WHERE id = $1 AND status = 'sending'
"""

DEFER_SMS = """
UPDATE notify.notifications SET next_attempt_at = $2::timestamptz, updated_at = now()
WHERE id = $1 AND channel = 'sms' AND NOT urgent AND status IN ('created', 'temporary_failure')
  AND next_attempt_at < $2::timestamptz
RETURNING attempts
"""

# One of the recipient's SMS slots of ``day``: true when this notification holds one already (a retry)
# or takes one now, false when the day's cap is reached. The counter's row lock orders concurrent
# takes for one number, so the cap holds across workers.
TAKE_SMS_SLOT = """
WITH held AS (
    SELECT sms_counted_on IS NOT DISTINCT FROM $3::date AS already FROM notify.notifications WHERE id = $1
), taken AS (
    INSERT INTO notify.sms_daily_counts AS c (recipient, day, sent)
    SELECT $2, $3, 1 WHERE NOT coalesce((SELECT already FROM held), false)
    ON CONFLICT (recipient, day) DO UPDATE SET sent = c.sent + 1 WHERE c.sent < $4
    RETURNING 1
), counted AS (
    UPDATE notify.notifications SET sms_counted_on = $3 WHERE id = $1 AND EXISTS (SELECT 1 FROM taken)
    RETURNING 1
)
SELECT coalesce((SELECT already FROM held), false) OR EXISTS (SELECT 1 FROM taken)
"""

# What could not reach its recipient in a period (the Office's daily digest).
UNDELIVERED = """
SELECT status, channel, recipient, recipient_name, unit_code, last_error FROM notify.notifications
WHERE status IN ('held_for_cap', 'permanent_failure') AND updated_at >= $1 AND updated_at < $2
ORDER BY status, recipient, updated_at
"""

STUCK = """
SELECT id, lane FROM notify.notifications
WHERE (status IN ('created', 'temporary_failure') AND next_attempt_at < now() - make_interval(secs => $1::float8))
   OR (status = 'sending' AND updated_at < now() - make_interval(secs => $1::float8))
ORDER BY next_attempt_at
LIMIT $2
"""


async def create(pool: asyncpg.Pool, rows: Sequence[dict[str, Any]]) -> list[asyncpg.Record]:
    """Insert ``rows`` (each with the status to start in); returns the claimed and the waiting ones."""
    columns = [[row[c] for row in rows] for c in COLUMNS]
    return await pool.fetch(CREATE, *columns)


async def claim(pool: asyncpg.Pool, notification_id: uuid.UUID, *, stuck_after: float, quiet: bool):
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


async def release(pool: asyncpg.Pool, notification_id: uuid.UUID, at: datetime) -> None:
    await pool.execute(RELEASE, notification_id, at)


async def defer_sms(pool: asyncpg.Pool, notification_id: uuid.UUID, until: datetime) -> int | None:
    return await pool.fetchval(DEFER_SMS, notification_id, until)


async def take_sms_slot(pool: asyncpg.Pool, notification_id: uuid.UUID, recipient: str, day: date, cap: int) -> bool:
    return await pool.fetchval(TAKE_SMS_SLOT, notification_id, recipient, day, cap)


async def undelivered(pool: asyncpg.Pool, start: datetime, end: datetime) -> list[asyncpg.Record]:
    return await pool.fetch(UNDELIVERED, start, end)


async def stuck(pool: asyncpg.Pool, *, stuck_after: float, limit: int) -> list[tuple[uuid.UUID, str]]:
    """(id, lane) of rows a worker should have sent by now."""
    return [(r["id"], r["lane"]) for r in await pool.fetch(STUCK, stuck_after, limit)]
