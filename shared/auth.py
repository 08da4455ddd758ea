"""API-key and person-session authentication and roles, shared by every service.

Keys are random (``ioc_`` + 43 URL-safe characters), shown once at creation and stored only as a
SHA-256 digest: a key has 256 bits of entropy, so a slow password hash would add latency to every
request and no safety. A person's session token (``ses_`` + 43 URL-safe characters, from
``POST /v1/sessions`` on the registry) is the same kind of secret, stored the same way, and every
service accepts it like a key: a person of role ``unit`` acts as a ``ward_app`` bound to their unit.
The ``auth`` schema is migrated by the registry, which manages keys, people and sessions.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import math
import secrets
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, NoReturn

import asyncpg
import structlog
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError
from sqlalchemy import CheckConstraint, DateTime, Integer, LargeBinary, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shared.db import schema_metadata
from shared.problems import AppError, Forbidden

log = structlog.get_logger("auth")


class AuthBase(DeclarativeBase):
    metadata = schema_metadata("auth")


KEY_PREFIX = "ioc_"
SESSION_PREFIX = "ses_"


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


def new_session_token() -> str:
    return SESSION_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


# A person's role (``auth.people.role``) and the key role whose permissions it carries.
PERSON_ROLES: dict[str, Role] = {"office": Role.office, "ops_centre": Role.ops_centre, "unit": Role.ward_app}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: one API key, or one person's session, with its role and (for ward apps and unit
    people) its unit. For a session, ``key_id`` is the person's id (their rate limit and Idempotency-Keys
    are the person's, across sessions) and ``session_id`` the session's."""

    key_id: uuid.UUID
    name: str
    role: Role
    unit_code: str | None
    rate_limit_per_minute: int | None
    login: str | None = None  # a person's login; None for an API key
    session_id: uuid.UUID | None = None
    must_change_password: bool = False

    @property
    def person_id(self) -> uuid.UUID | None:
        return self.key_id if self.login is not None else None

    @property
    def actor(self) -> str:
        """Who did it, for the ``by`` fields and audit trails."""
        return f"person:{self.login} ({self.name})" if self.login else f"key:{self.key_id} ({self.name})"


class KeyCache:
    """Principals of recently seen keys and sessions, so that most requests need no lookup.

    A revocation must bite at once: every change to ``auth.api_keys`` and ``auth.people``, and every
    session revoked (or its last use moved back), fires a NOTIFY (triggers made by the registry's
    migrations) and the app's listener empties the cache. While that listener is not
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


# A live session of an enabled person, its last use moved to now in the same statement: a session
# expires after ``$2`` seconds without use, on whichever service it was used. Moving ``last_seen_at``
# forward fires no NOTIFY (the trigger looks at revocations and backward moves only), and a cached
# principal is looked up, and touched, again at most every ``KeyCache.ttl`` seconds.
SESSION_LOOKUP = """
UPDATE auth.sessions s SET last_seen_at = now()
FROM auth.people p
WHERE s.token_hash = $1 AND s.revoked_at IS NULL AND s.last_seen_at > now() - make_interval(secs => $2)
  AND p.id = s.person_id AND p.disabled_at IS NULL
RETURNING s.id AS session_id, p.id, p.login, p.display_name, p.role, p.unit_code, p.must_change_password
"""

DEFAULT_SESSION_IDLE_SECONDS = 12 * 3600.0


def is_credential(token: str) -> bool:
    """Whether ``token`` has the shape of a key or a session token (anything else is refused unread)."""
    return token.startswith((KEY_PREFIX, SESSION_PREFIX)) and len(token) <= 100


async def resolve_principal(
    pool: asyncpg.Pool,
    cache: KeyCache | None,
    key: str,
    *,
    session_idle_seconds: float = DEFAULT_SESSION_IDLE_SECONDS,
) -> Principal | None:
    """The key's or session's principal from the cache, else from the database (one round trip, no
    transaction)."""
    digest = hash_key(key)
    if cache is not None and (principal := cache.get(digest)) is not None:
        return principal
    if key.startswith(SESSION_PREFIX):
        row = await pool.fetchrow(SESSION_LOOKUP, digest, session_idle_seconds, timeout=10)
        if row is None:
            return None
        principal = Principal(
            row["id"],
            row["display_name"],
            PERSON_ROLES[row["role"]],
            row["unit_code"],
            None,
            login=row["login"],
            session_id=row["session_id"],
            must_change_password=row["must_change_password"],
        )
    else:
        row = await pool.fetchrow(LOOKUP, digest, timeout=10)
        if row is None:
            return None
        principal = Principal(row["id"], row["name"], Role(row["role"]), row["unit_code"], row["rate_limit_per_minute"])
    if cache is not None:
        cache.put(digest, principal)
    return principal


class RateLimiter:
    """Requests per minute per API key, shared by every process of a service through Redis.

    Each key has a token bucket in Redis (capacity: a minute's worth, refilled continuously), taken
    from by one Lua script on Redis's own clock, so processes on different machines agree. A process
    takes at most ``grant_seconds`` of a key's rate at once (at least one token) and spends it before
    asking again: a key limited to a few requests a second asks Redis for every request and is exact,
    a key with a high limit asks rarely, and a process never holds more than ``grant_seconds`` of a
    key's rate, which bounds how far the processes together can stray from the limit. One request of a
    key asks at a time; the others wait for its answer, so a burst holds one Redis connection. A refusal is
    remembered until the bucket has a token again, so a client hammering past its limit costs no
    round trip. Every admitted request is also counted in this process's own bucket.

    Redis must never refuse or slow a request: a call that fails or takes longer than ``timeout``
    makes the process use its own bucket (the limit then holds per process) and leave Redis alone for
    ``retry_seconds``; then one request at a time tries again.
    """

    def __init__(
        self,
        default_per_minute: dict[Role, int],
        *,
        timeout: float = 0.1,
        retry_seconds: float = 5.0,
        grant_seconds: float = 0.1,
    ) -> None:
        self._defaults = default_per_minute
        self.timeout, self.retry_seconds, self.grant_seconds = timeout, retry_seconds, grant_seconds
        self._buckets: dict[uuid.UUID, tuple[float, float]] = {}  # this process's: (tokens, at)
        self._shared: dict[uuid.UUID, _SharedState] = {}
        self._take: AsyncScript | None = None
        self._prefix = ""
        self._redis_down_until = 0.0  # monotonic time before which Redis is left alone
        self._redis_healthy = True
        self._probing = False

    def attach(self, redis: Redis, prefix: str) -> None:
        """Share the limits through ``redis``, under ``{prefix}:rate:{key id}``."""
        self._take = redis.register_script(_TAKE)
        self._prefix = prefix

    def detach(self) -> None:
        self._take = None

    def limit_for(self, principal: Principal) -> int:
        return principal.rate_limit_per_minute or self._defaults.get(principal.role, 600)

    async def check(self, principal: Principal) -> None:
        """Admit one request of ``principal``'s key, or raise 429 with ``Retry-After``."""
        limit = self.limit_for(principal)
        key = principal.key_id
        if self._take is None:
            self._local(key, limit, enforce=True)
            return
        state = self._shared.get(key)
        if state is None:
            if len(self._shared) >= _MAX_KEYS:
                self._shared.clear()
            state = self._shared[key] = _SharedState()
        if state.tokens >= 1:  # the common case of a busy key: a token this process already holds
            state.tokens -= 1
            self._local(key, limit, enforce=False)
            return
        wanted = max(1, int(limit * self.grant_seconds / 60))
        # One request of a key asks Redis at a time; the others wait and spend its grant, or ask next.
        # A burst of one key then holds one Redis connection, and its calls' timeouts measure Redis,
        # not a queue of the burst's own calls (which would put the process on its own bucket).
        async with state.lock:
            if state.tokens >= 1:
                state.tokens -= 1
                self._local(key, limit, enforce=False)
                return
            await self._take_shared(key, state, limit, wanted)

    async def _take_shared(self, key: uuid.UUID, state: _SharedState, limit: int, wanted: int) -> None:
        now = time.monotonic()
        if state.refused_until > now:
            _refuse(limit, state.refused_until - now)
        if not self._may_ask_redis(now):
            self._local(key, limit, enforce=True)
            return
        answer = await self._ask_redis(key, limit, wanted)
        if answer is None:
            self._local(key, limit, enforce=True)
            return
        granted, wait = answer
        if granted < 1:
            state.refused_until = time.monotonic() + wait
            _refuse(limit, wait)
        state.tokens += granted - 1
        self._local(key, limit, enforce=False)

    def _may_ask_redis(self, now: float) -> bool:
        if self._redis_healthy:
            return True
        if now < self._redis_down_until or self._probing:
            return False
        self._probing = True  # this request tries Redis again; the others keep to the local bucket
        return True

    async def _ask_redis(self, key: uuid.UUID, limit: int, wanted: int) -> tuple[int, float] | None:
        """(tokens granted, seconds until one is free when none was), or None if Redis did not answer."""
        if (take := self._take) is None:  # detached while this request waited: the app is stopping
            return None
        try:
            async with asyncio.timeout(self.timeout):
                granted, wait = await take(keys=[f"{self._prefix}:rate:{key}"], args=[limit, limit / 60.0, wanted])
        except (RedisError, OSError, TimeoutError) as exc:
            self._redis_down_until = time.monotonic() + self.retry_seconds
            if self._redis_healthy:
                log.warning("rate_limits_local", error=type(exc).__name__, retry_in_seconds=self.retry_seconds)
            self._redis_healthy = False
            return None
        finally:
            self._probing = False
        if not self._redis_healthy:
            log.info("rate_limits_shared")
            self._redis_healthy = True
        return int(granted), float(wait)

    def _local(self, key: uuid.UUID, limit: int, *, enforce: bool) -> None:
        """This process's bucket: refuses when ``enforce``, else only counts the request."""
        rate = limit / 60.0
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (float(limit), now))
        tokens = min(float(limit), tokens + (now - last) * rate)
        if tokens < 1.0:
            if enforce:
                self._buckets[key] = (tokens, now)
                _refuse(limit, (1.0 - tokens) / rate)
            tokens = 1.0  # counted only: the shared bucket admitted it
        if len(self._buckets) >= _MAX_KEYS and key not in self._buckets:
            self._buckets.clear()
        self._buckets[key] = (tokens - 1.0, now)


# A key's bucket in Redis: take up to ARGV[3] tokens, at least one, or none and say when one is free.
# Capacity ARGV[1] (a minute's worth), refilled at ARGV[2] tokens a second on Redis's clock; the key
# expires once the bucket would be full again, which is what a missing key means.
_TAKE = """
local capacity = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local granted = math.min(wanted, math.floor(tokens))
local wait = 0
if granted >= 1 then
  tokens = tokens - granted
else
  granted = 0
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil((capacity - tokens) / rate * 1000) + 1000)
return {granted, tostring(wait)}
"""

_MAX_KEYS = 100_000  # keys remembered per process; past that the memory starts afresh


class _SharedState:
    __slots__ = ("lock", "refused_until", "tokens")

    def __init__(self) -> None:
        self.tokens = 0  # granted by Redis to this process, not yet spent
        self.refused_until = 0.0  # monotonic time before which Redis would refuse this key
        self.lock = asyncio.Lock()


def _refuse(limit: int, wait_seconds: float) -> NoReturn:
    retry_after = max(1, math.ceil(wait_seconds))
    raise AppError(
        429,
        "rate-limited",
        headers={"Retry-After": str(retry_after)},
        limit=limit,
        retry_after=retry_after,
    )


# The Authorization header as every dependency below reads it (None without credentials); it also
# states the scheme in the OpenAPI documents.
bearer = HTTPBearer(
    auto_error=False,
    description="An API key made with `ioc keys create`, or a person's session token from `POST /v1/sessions`.",
)


def _unauthorized() -> AppError:
    return AppError(401, "unauthorized", headers={"WWW-Authenticate": 'Bearer realm="ioc"'})


async def authenticate(request: Request, token: str | None) -> Principal:
    """The caller's principal, looked up once per request (the idempotency layer may have done it)."""
    cached = getattr(request.state, "principal", None)
    if isinstance(cached, Principal):
        return cached
    if not token or not is_credential(token):
        raise _unauthorized()
    principal = await resolve_principal(
        request.app.state.pg,
        request.app.state.key_cache,
        token,
        session_idle_seconds=request.app.state.settings.session_idle_hours * 3600,
    )
    if principal is None:
        raise _unauthorized()
    request.state.principal = principal
    return principal


def require(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency admitting the given roles (403 for others), after the key's rate limit. A person
    who must change their password is refused (403 ``password_change_required``) until they have."""

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Principal:
        principal = await authenticate(request, credentials.credentials if credentials else None)
        await request.app.state.rate_limiter.check(principal)
        if principal.must_change_password:
            raise password_change_required()
        if principal.role not in roles:
            raise Forbidden("forbidden-role", role=principal.role.value)
        return principal

    return dependency


def password_change_required() -> AppError:
    return AppError(403, "password-change-required", extensions={"code": "password_change_required"})


async def require_session(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    """A dependency admitting a person's session only (an API key: 403), even one whose password must
    change: the routes of the session itself (``/v1/sessions/current*``) use it."""
    principal = await authenticate(request, credentials.credentials if credentials else None)
    await request.app.state.rate_limiter.check(principal)
    if principal.session_id is None:
        raise Forbidden("forbidden-not-session")
    return principal


# Prometheus metrics carry every unit's figures: they are read with the Office's or the operations
# centre's key (Prometheus sends it with ``authorization: {credentials: …}`` in its scrape config).
monitoring = require(Role.office, Role.ops_centre)


def ensure_unit_scope(principal: Principal, unit_code: str) -> None:
    """A ward app may only act on its own unit."""
    if principal.role is Role.ward_app and principal.unit_code != unit_code:
        raise Forbidden("forbidden-unit", own=principal.unit_code, unit=unit_code)
