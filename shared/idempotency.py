"""``Idempotency-Key`` for every POST: a retried request gets the first response, never a second effect.

Same key + same request → the stored status and body are replayed (with ``Idempotent-Replayed:
true``); same key + a different request → 422; same key while the first is still running → 409.
Keys are scoped to the calling API key and kept ``IOC_IDEMPOTENCY_RETENTION_HOURS`` (48): each
service's worker deletes older ones (:func:`purge_job`).

The key row is claimed in its own short transaction before the handler runs. If the process dies
between the handler's commit and the response being stored, the claim's lease runs out and a retry
runs the handler again; every POST here is convergent (a registration equal to the active one
answers 200 and changes nothing), so that retry cannot double an effect.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from datetime import timedelta
from typing import Any, cast

import structlog
from sqlalchemy import (
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    and_,
    delete,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.auth import is_credential, resolve_principal
from shared.db import is_database_unavailable
from shared.problems import FieldError, send_problem
from shared.queues import CronJob, cron

log = structlog.get_logger("idempotency")

HEADER = b"idempotency-key"
# Printable Latin-1 (what a header carries), neither starting nor ending with a space: the OpenAPI
# documents state this pattern.
IDEMPOTENCY_KEY_PATTERN = (
    "^[\\u0021-\\u007e\\u00a1-\\u00ac\\u00ae-\\u00ff]"
    "(?:[\\u0020-\\u007e\\u00a1-\\u00ac\\u00ae-\\u00ff]*[\\u0021-\\u007e\\u00a1-\\u00ac\\u00ae-\\u00ff])?$"
)
_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN.replace("$", r"\Z"))
# Response headers worth replaying; the rest (date, request id) belong to the replay itself.
_REPLAYED_HEADERS = {b"content-type", b"location", b"retry-after"}


def idempotency_table(metadata: MetaData) -> Table:
    """The key store, created in the schema of the service that owns ``metadata``."""
    return Table(
        "idempotency_keys",
        metadata,
        Column("api_key_id", UUID(as_uuid=True), primary_key=True),
        Column("key", String(255), primary_key=True),
        Column("request_hash", LargeBinary(32), nullable=False),
        Column("status", Integer),
        Column("response_headers", JSONB),
        Column("response_body", LargeBinary),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now(), index=True),
        Column("locked_until", DateTime(timezone=True)),
    )


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, *, table: Table, lease: timedelta = timedelta(seconds=30)) -> None:
        self.app, self.table, self.lease = app, table, lease

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = _idempotency_key(scope["headers"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if key is None:
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        body = await _read_body(receive)
        replay_receive = _replaying(body, receive)
        if len(key) > 255 or not _KEY.match(key):
            error = (
                FieldError("Idempotency-Key", "string_too_long", max_length=255)
                if len(key) > 255
                else FieldError("Idempotency-Key", "string_pattern_mismatch")
            )
            await send_problem(scope, send, 422, "validation-error", errors=[error])
            return
        token = headers.get(b"authorization", b"").decode("latin-1").removeprefix("Bearer ").strip()
        state = scope["app"].state
        engine: AsyncEngine = state.engine
        try:
            principal = None
            if is_credential(token):
                principal = await resolve_principal(
                    state.pg, state.key_cache, token, session_idle_seconds=state.settings.session_idle_hours * 3600
                )
            if principal is None:  # the route answers 401, or takes a gateway's receipt: nothing to replay
                await self.app(scope, replay_receive, send)
                return
            scope.setdefault("state", {})["principal"] = principal
            fingerprint = _fingerprint(scope, body)
            outcome = await self._claim(engine, principal.key_id, key, fingerprint)
        except Exception as exc:
            if not is_database_unavailable(exc):
                raise
            await send_problem(
                scope, send, 503, "service-unavailable", "database-unavailable", headers={"Retry-After": "5"}
            )
            return
        if outcome == "mismatch":
            await send_problem(scope, send, 422, "idempotency-mismatch")
        elif outcome == "running":
            await send_problem(scope, send, 409, "idempotency-conflict", headers={"Retry-After": "1"})
        elif isinstance(outcome, dict):
            await _replay(send, outcome)
        else:
            await self._run_and_store(scope, replay_receive, send, engine, principal.key_id, key)

    async def _claim(self, engine: AsyncEngine, api_key_id: uuid.UUID, key: str, fingerprint: bytes) -> Any:
        """'new' when this request owns the key now; else 'mismatch', 'running' or the stored response."""
        t = self.table
        lease_until = func.now() + text(f"interval '{int(self.lease.total_seconds())} seconds'")
        async with engine.begin() as conn:
            inserted = await conn.execute(
                pg_insert(t)
                .values(api_key_id=api_key_id, key=key, request_hash=fingerprint, locked_until=lease_until)
                .on_conflict_do_nothing()
                .returning(t.c.key)
            )
            if inserted.first() is not None:
                return "new"
            row = (
                await conn.execute(
                    select(t.c.request_hash, t.c.status, t.c.response_headers, t.c.response_body).where(
                        t.c.api_key_id == api_key_id, t.c.key == key
                    )
                )
            ).one()
            if row.request_hash != fingerprint:
                return "mismatch"
            if row.status is not None:
                return {"status": row.status, "headers": row.response_headers or {}, "body": row.response_body}
            # Still running, unless its lease ran out (the process that held it died): then take it over.
            taken = await conn.execute(
                update(t)
                .where(
                    t.c.api_key_id == api_key_id,
                    t.c.key == key,
                    t.c.status.is_(None),
                    or_(t.c.locked_until.is_(None), t.c.locked_until < func.now()),
                )
                .values(locked_until=lease_until)
                .returning(t.c.key)
            )
            return "new" if taken.first() is not None else "running"

    async def _run_and_store(
        self, scope: Scope, receive: Receive, send: Send, engine: AsyncEngine, api_key_id: uuid.UUID, key: str
    ) -> None:
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        t = self.table
        where = and_(t.c.api_key_id == api_key_id, t.c.key == key)
        try:
            await self.app(scope, receive, capture)
        finally:
            status = start.get("status", 500)
            try:
                async with engine.begin() as conn:
                    if status >= 500 or status == 429:
                        # Nothing happened, or we cannot tell: let the client retry with the same key.
                        await conn.execute(delete(t).where(where))
                    else:
                        kept = {
                            k.decode("latin-1"): v.decode("latin-1")
                            for k, v in start.get("headers", [])
                            if k.lower() in _REPLAYED_HEADERS
                        }
                        await conn.execute(
                            update(t)
                            .where(where)
                            .values(
                                status=status,
                                response_headers=kept,
                                response_body=b"".join(chunks),
                                locked_until=None,
                            )
                        )
            except Exception as exc:  # the response is already out; the lease will expire on its own
                log.warning("idempotency_store_failed", error=type(exc).__name__)


def _idempotency_key(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The header's value, or None without one. Several field lines are one value, joined by ", " (RFC
    9110, 5.3): the key checked against its bounds is the whole of what the client sent, not one line."""
    lines = [value.decode("latin-1").strip(" \t") for name, value in headers if name == HEADER]
    return ", ".join(lines) if lines else None  # optional whitespace around a line is not its value


def purge_job(table: Table) -> CronJob:
    """The worker's hourly job that deletes the service's keys older than
    ``IOC_IDEMPOTENCY_RETENTION_HOURS``."""

    async def purge(ctx: dict[str, Any]) -> int:
        retention = timedelta(hours=ctx["settings"].idempotency_retention_hours)
        async with ctx["sessions"]() as session, session.begin():
            result = await session.execute(delete(table).where(table.c.created_at < func.now() - retention))
        return cast(CursorResult[Any], result).rowcount or 0

    return cron(purge, name=f"{table.schema}.idempotency.purge", minute=17, second=0, unique=True)


def _fingerprint(scope: Scope, body: bytes) -> bytes:
    """What makes two requests "the same": method, path, query and body (JSON compared by content)."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    digest = hashlib.sha256()
    for part in (scope["method"].encode(), scope["path"].encode(), scope.get("query_string", b""), canonical):
        digest.update(len(part).to_bytes(8, "big") + part)
    return digest.digest()


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    """The body already read, handed out again; then the real channel (for disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _replay(send: Send, stored: dict[str, Any]) -> None:
    body = stored["body"] or b""
    headers = [
        (k.encode("latin-1"), v.encode("latin-1"))
        for k, v in stored["headers"].items()
        if k.lower() != "content-length"
    ]
    headers += [(b"content-length", str(len(body)).encode()), (b"idempotent-replayed", b"true")]
    await send({"type": "http.response.start", "status": stored["status"], "headers": headers})
    await send({"type": "http.response.body", "body": body})
