"""API-key authentication and roles, shared by every service.

Keys are random (``ioc_`` + 43 URL-safe characters), shown once at creation and stored only as a
SHA-256 digest: a key has 256 bits of entropy, so a slow password hash would add latency to every
request and no safety. The ``auth`` schema is migrated by the registry, which manages the keys.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import asyncpg
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import CheckConstraint, DateTime, Integer, LargeBinary, String, func
from sqlalchemy.orm import Mapped, mapped_column

from shared.db import make_base
from shared.problems import AppError, Forbidden

AuthBase = make_base("auth")
KEY_PREFIX = "ioc_"


class Role(enum.StrEnum):
    office = "office"
    ward_app = "ward_app"
    ops_centre = "ops_centre"
    app_backend = "app_backend"


class ApiKey(AuthBase):
    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("role IN ('office', 'ward_app', 'ops_centre', 'app_backend')", name="role_known"),
        CheckConstraint("(role = 'ward_app') = (unit_code IS NOT NULL)", name="unit_iff_ward_app"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    unit_code: Mapped[str | None] = mapped_column(String(32))
    key_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    key_hint: Mapped[str] = mapped_column(String(16), doc="first characters, to recognise a key in lists")
    rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: one API key, its role and (for ward apps) its unit."""

    key_id: uuid.UUID
    name: str
    role: Role
    unit_code: str | None
    rate_limit_per_minute: int | None


class KeyCache:
    """Principals of recently seen keys, so that most requests need no key lookup.

    A revocation must bite at once: every change to ``auth.api_keys`` fires a NOTIFY (a trigger made
    by the registry's migration) and the app's listener empties the cache. While that listener is not
    connected the cache is off, so a revocation is never missed; ``ttl`` bounds staleness regardless.
    """

    CHANNEL = "auth_keys_changed"

    def __init__(self, ttl_seconds: float = 30.0, max_entries: int = 10_000) -> None:
        self.ttl, self.max_entries = ttl_seconds, max_entries
        self.enabled = False
        self._entries: dict[bytes, tuple[Principal, float]] = {}

    def get(self, digest: bytes) -> Principal | None:
        if not self.enabled:
            return None
        hit = self._entries.get(digest)
        if hit is None or hit[1] < time.monotonic():
            return None
        return hit[0]

    def put(self, digest: bytes, principal: Principal) -> None:
        if not self.enabled:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[digest] = (principal, time.monotonic() + self.ttl)

    def clear(self) -> None:
        self._entries.clear()

    def listening(self, state: bool) -> None:
        """Called by the LISTEN loop: on while it hears changes, off (and emptied) while it cannot."""
        self.clear()
        self.enabled = state


LOOKUP = (
    "SELECT id, name, role, unit_code, rate_limit_per_minute FROM auth.api_keys "
    "WHERE key_hash = $1 AND revoked_at IS NULL"
)


async def resolve_principal(pool: asyncpg.Pool, cache: KeyCache | None, key: str) -> Principal | None:
    """The key's principal from the cache, else from the database (one round trip, no transaction)."""
    digest = hash_key(key)
    if cache is not None and (principal := cache.get(digest)) is not None:
        return principal
    row = await pool.fetchrow(LOOKUP, digest, timeout=10)
    if row is None:
        return None
    principal = Principal(row["id"], row["name"], Role(row["role"]), row["unit_code"], row["rate_limit_per_minute"])
    if cache is not None:
        cache.put(digest, principal)
    return principal


class RateLimiter:
    """A token bucket per key, in this process: limits hold without Redis, so an outage of Redis
    never turns into refused registrations. With N API replicas a key may reach N × its limit."""

    def __init__(self, default_per_minute: dict[Role, int]) -> None:
        self._defaults = default_per_minute
        self._buckets: dict[uuid.UUID, tuple[float, float]] = {}

    def limit_for(self, principal: Principal) -> int:
        return principal.rate_limit_per_minute or self._defaults.get(principal.role, 600)

    def check(self, principal: Principal) -> None:
        limit = self.limit_for(principal)
        rate = limit / 60.0
        now = time.monotonic()
        tokens, last = self._buckets.get(principal.key_id, (float(limit), now))
        tokens = min(float(limit), tokens + (now - last) * rate)
        if tokens < 1.0:
            retry_after = max(1, int((1.0 - tokens) / rate + 0.999))
            self._buckets[principal.key_id] = (tokens, now)
            raise AppError(
                429,
                "rate-limited",
                headers={"Retry-After": str(retry_after)},
                limit=limit,
                retry_after=retry_after,
            )
        self._buckets[principal.key_id] = (tokens - 1.0, now)


_bearer = HTTPBearer(auto_error=False, description="An API key made with `ioc keys create`.")


def _unauthorized() -> AppError:
    return AppError(401, "unauthorized", headers={"WWW-Authenticate": 'Bearer realm="ioc"'})


async def authenticate(request: Request, token: str | None) -> Principal:
    """The caller's principal, looked up once per request (the idempotency layer may have done it)."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    if not token or not token.startswith(KEY_PREFIX) or len(token) > 100:
        raise _unauthorized()
    principal = await resolve_principal(request.app.state.pg, request.app.state.key_cache, token)
    if principal is None:
        raise _unauthorized()
    request.state.principal = principal
    return principal


def require(*roles: Role):
    """A dependency admitting the given roles (403 for others), after the key's rate limit."""

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        principal = await authenticate(request, credentials.credentials if credentials else None)
        request.app.state.rate_limiter.check(principal)
        if principal.role not in roles:
            raise Forbidden("forbidden-role", role=principal.role.value)
        return principal

    return dependency


def ensure_unit_scope(principal: Principal, unit_code: str) -> None:
    """A ward app may only act on its own unit."""
    if principal.role is Role.ward_app and principal.unit_code != unit_code:
        raise Forbidden("forbidden-unit", own=principal.unit_code, unit=unit_code)
