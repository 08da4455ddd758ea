"""A PostgreSQL LISTEN that survives restarts: reconnects, and says when it may have missed notices."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import asyncpg
import structlog

log = structlog.get_logger("pglisten")


async def listen_forever(
    dsn: str,
    channel: str,
    on_notice: Callable[[], None],
    *,
    on_state: Callable[[bool], None] | None = None,
    connect_timeout: float = 5.0,
    check_every: float = 5.0,
) -> None:
    """Call ``on_notice()`` for each NOTIFY on ``channel``, until cancelled.

    ``on_state(True)`` runs once listening (callers treat it as "something may have happened while
    deaf"), ``on_state(False)`` when the connection is lost. A quiet connection is checked every
    ``check_every`` seconds, since nothing arrives on a dead one.
    """
    while True:
        try:
            conn = await asyncpg.connect(dsn, timeout=connect_timeout)
            try:
                await conn.add_listener(channel, lambda *_: on_notice())
                if on_state:
                    on_state(True)
                while not conn.is_closed():
                    await asyncio.sleep(check_every)
                    await conn.execute("SELECT 1", timeout=connect_timeout)
            finally:
                if on_state:
                    on_state(False)
                with contextlib.suppress(Exception):
                    await conn.close(timeout=2)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("listen_failed", channel=channel, error=type(exc).__name__)
            await asyncio.sleep(2)
