"""Storing the events of concurrent requests together (group commit).

A request hands its validated rows to the app's ``EventWriter`` and waits for its count of new events.
When a writer is free, it takes every request waiting, up to ``max_events`` events, and stores them
in one transaction: one batch row (which wakes the folding worker when the transaction commits) and
one binary COPY (``repository.py``). Each COPY statement and each transaction has a fixed cost in
PostgreSQL (a COPY creates and drops a tuple slot for every row it buffers, up to 1,000), so fewer,
larger ones cost less an event (``docs/performance.md``, "The ingest"). Under light load a group is
one request, stored at once.

New events are the rule and repeats the exception. A known event_id fails the group's COPY; its
requests are then stored one by one, each skipping the events already known in one statement, so
each request gets its own count, and a request of nothing but replays leaves no trace and moves no
ETag. Any other failure of a group also sends its requests one by one, so that a request is only ever
failed by its own rows or by the database being away.
"""

from __future__ import annotations

import asyncio
from collections import deque

import asyncpg

from services.adoption.events import repository
from services.adoption.events.copy_stream import EventRow
from shared.db import Connection


class EventWriter:
    """Up to ``writers`` transactions at once, each storing the requests waiting when it began."""

    def __init__(self, *, writers: int = 2, max_events: int = 8000) -> None:
        # Overlapping transactions keep both the app and PostgreSQL busy: the app encodes one group
        # while PostgreSQL writes another.
        self._writers, self._max_events = writers, max_events
        self._waiting: deque[tuple[list[EventRow], asyncio.Future[int]]] = deque()
        self._active = 0  # writers at work: counted down the moment one finds nothing waiting
        self._tasks: set[asyncio.Task[None]] = set()  # held, or a running task could be collected

    async def store(self, pool: asyncpg.Pool, rows: list[EventRow]) -> int:
        """Store ``rows`` (one request's events); returns how many of them were new."""
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiting.append((rows, future))
        if self._active < self._writers:
            self._active += 1
            task = asyncio.create_task(self._write_waiting(pool))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await future

    async def _write_waiting(self, pool: asyncpg.Pool) -> None:
        try:
            while self._waiting:
                group = [self._waiting.popleft()]
                events = len(group[0][0])
                while self._waiting and events + len(self._waiting[0][0]) <= self._max_events:
                    group.append(self._waiting.popleft())
                    events += len(group[-1][0])
                try:
                    async with pool.acquire() as conn:
                        await _store_group(conn, group)
                except Exception as exc:  # the database is away: these requests fail, the next ones try again
                    for _, future in group:
                        if not future.done():
                            future.set_exception(exc)
                except BaseException:
                    for _, future in group:
                        future.cancel()
                    raise
        finally:
            self._active -= 1


async def _store_group(conn: Connection, group: list[tuple[list[EventRow], asyncio.Future[int]]]) -> None:
    """Store the group's requests in one transaction, else one by one; settles each request's future."""
    if len(group) > 1:
        try:
            async with conn.transaction():
                await repository.copy_events(conn, [row for rows, _ in group for row in rows])
        except Exception:  # noqa: S110 (a known event, a request's bad row, the database away: one by one below)
            pass
        else:
            for rows, future in group:
                if not future.done():
                    future.set_result(len(rows))
            return
    for rows, future in group:
        try:
            stored = await _store_request(conn, rows)
        except Exception as exc:
            if not future.done():
                future.set_exception(exc)
            if conn.is_closed():
                raise  # the database is away: the rest of the group fails with the same error
        else:
            if not future.done():
                future.set_result(stored)


async def _store_request(conn: Connection, rows: list[EventRow]) -> int:
    """Store one request's events in a transaction of their own; returns how many were new."""
    try:
        async with conn.transaction():
            await repository.copy_events(conn, rows)
        return len(rows)
    except asyncpg.UniqueViolationError:
        pass
    return await repository.insert_skipping_known(conn, rows)
