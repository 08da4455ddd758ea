"""ETags and a response cache for the metrics that many screens poll every few seconds.

Every change to a figure bumps ``adoption.state.version`` and fires NOTIFY ``adoption_changed``. The
app keeps the version in memory while it listens, so a poll that changes nothing reads no row: the
ETag (a hash of the version, the URL and the caller's scope) answers ``If-None-Match`` with 304, and
otherwise the body computed once for that version is served again.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict

import asyncpg

from services.adoption.metrics import repository

CHANNEL = "adoption_changed"


class MetricsCache:
    def __init__(self, max_entries: int = 512) -> None:
        self._known: asyncpg.Record | None = None
        self._listening = False
        self._changes = 0  # notices heard: a version read while one arrives must not be kept
        self._bodies: OrderedDict[str, bytes] = OrderedDict()
        self._max = max_entries

    @property
    def changes_heard(self) -> int:
        """How many change notices this process has heard since it started (its LISTEN delivers them)."""
        return self._changes

    # Called by the LISTEN loop.
    def changed(self) -> None:
        self._changes += 1
        self._known = None

    def listening(self, state: bool) -> None:
        self._listening, self._known = state, None

    async def state(self, pool: asyncpg.Pool) -> asyncpg.Record:
        """The current (version, changed_at): from memory while listening, else one small read."""
        if self._known is not None and self._listening:
            return self._known
        changes_before = self._changes
        record = await repository.state(pool)
        if self._listening and self._changes == changes_before:
            self._known = record
        return record

    @staticmethod
    def etag(version: int, *parts: object) -> str:
        digest = hashlib.sha256(repr((version, parts)).encode()).hexdigest()[:20]
        return f'"{version}-{digest}"'

    def get(self, etag: str) -> bytes | None:
        body = self._bodies.get(etag)
        if body is not None:
            self._bodies.move_to_end(etag)
        return body

    def put(self, etag: str, body: bytes) -> None:
        self._bodies[etag] = body
        if len(self._bodies) > self._max:
            self._bodies.popitem(last=False)


def matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return etag in {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
