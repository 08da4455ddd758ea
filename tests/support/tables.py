"""Each service's tables, and emptying them before a test.

Tests empty tables with TRUNCATE rather than roll back a transaction around themselves: they include
concurrent registrations and worker processes, which need real commits. Every service's tables live in
the session's one database, so a test empties those it depends on, whoever wrote to them before.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

REGISTRY = (
    "registry.focal_points",
    "registry.directive_units",
    "registry.directives",
    "registry.unit_changes",
    "registry.units",
    "registry.outbox",
    "registry.idempotency_keys",
    "registry.scheduled_notices",
    "registry.manual_reminders",
    "auth.api_keys",  # made by the registry; every service reads them
    "auth.sessions",  # people and their sessions too
    "auth.people",
    "auth.sign_in_failures",
    "auth.audit_events",
)
ADOPTION = (
    "adoption.events",
    "adoption.batches",
    "adoption.daily",
    "adoption.unit_stats",
    "adoption.headcounts",
    "adoption.reports",
    "adoption.units",
    "adoption.weekly_notices",
    "adoption.outbox",
    "adoption.idempotency_keys",
)
NOTIFIER = (
    "notify.receipts",
    "notify.notifications",
    "notify.sms_daily_counts",
    "notify.idempotency_keys",
)


async def empty(conn: AsyncConnection, tables: Iterable[str]) -> None:
    await conn.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))


async def empty_adoption(conn: AsyncConnection) -> None:
    """The adoption tables emptied, and their version moved on: an adoption app that kept the version
    in memory, with the ETags and bodies computed for it, hears of the change and serves none of them."""
    await empty(conn, ADOPTION)
    await conn.execute(text("UPDATE adoption.state SET version = version + 1"))
