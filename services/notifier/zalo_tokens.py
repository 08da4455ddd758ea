"""The Zalo OA's access token, kept in PostgreSQL and renewed ahead of its expiry.

Zalo's OAuth v4 (``POST {IOC_ZALO_TOKEN_URL}``, a form with ``refresh_token``, ``app_id`` and
``grant_type=refresh_token``, the app's secret in the ``secret_key`` header) answers a new
``access_token`` (valid ``expires_in`` seconds, about 25 hours) and a new ``refresh_token``: the one
sent is dead from then on. So two workers renewing at once would lose the OA's only valid refresh
token. Renewal therefore runs in a transaction holding the token row's lock (``FOR UPDATE``): a
worker that waited for the lock reads the row again and takes the pair the other one stored. Within
a process an asyncio lock keeps the waiting to one coroutine.

A failed renewal is logged at error level and counted (``ioc_notifier_zalo_token_renewals_total``
with ``outcome="failed"``); while the stored access token is still valid it goes on being used,
after that ZNS sends fail over to SMS (``TokenUnavailable``). The row is left as it was: a refresh
token Zalo refused is dead anyway, and one it never saw stays the valid one.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg
import httpx
import structlog
from prometheus_client import Counter

from services.notifier.settings import NotifierSettings
from shared.timeutil import utcnow

log = structlog.get_logger("notifier.zalo")
RENEWALS = Counter("ioc_notifier_zalo_token_renewals_total", "Zalo access token renewals by outcome", ["outcome"])

TABLE = "notify.zalo_tokens"
SEED = f"INSERT INTO {TABLE} (app_id, refresh_token) VALUES ($1, $2) ON CONFLICT (app_id) DO NOTHING"  # noqa: S608
READ = f"SELECT access_token, expires_at FROM {TABLE} WHERE app_id = $1"  # noqa: S608
LOCK = f"SELECT access_token, refresh_token, expires_at FROM {TABLE} WHERE app_id = $1 FOR UPDATE"  # noqa: S608
STORE = f"""
UPDATE {TABLE}
SET access_token = $2, refresh_token = $3, expires_at = $4, renewed_at = now(), renewals = renewals + 1
WHERE app_id = $1
"""  # noqa: S608
# After a failed renewal, the next try waits this long (each send would otherwise try again).
RETRY_RENEWAL_AFTER_SECONDS = 30.0
# An access token this close to its expiry is not used any more.
SAFETY_SECONDS = 60.0


class TokenUnavailable(Exception):
    """No valid access token: renewal failed and the stored one has expired."""


@dataclass
class _Token:
    value: str
    expires_at: datetime


class ZaloTokens:
    """One per worker process, shared by its lanes."""

    def __init__(self, settings: NotifierSettings, pg: asyncpg.Pool, client: httpx.AsyncClient) -> None:
        self.settings, self.pg, self.client = settings, pg, client
        self.app_id = settings.zalo_app_id
        self._token: _Token | None = None
        self._lock = asyncio.Lock()
        self._failed_at = -1e9

    def _fresh(self, token: _Token | None, margin: float) -> bool:
        return token is not None and token.expires_at - utcnow() > timedelta(seconds=margin)

    async def access_token(self) -> str:
        """A valid access token, renewed first when it expires within ``IOC_ZALO_RENEW_AHEAD_SECONDS``."""
        ahead = self.settings.zalo_renew_ahead_seconds
        if self._token is not None and self._fresh(self._token, ahead):
            return self._token.value
        async with self._lock:
            if self._token is None or not self._fresh(self._token, ahead):
                row = await self.pg.fetchrow(READ, self.app_id)
                if row is None:
                    await self.seed()
                elif row["access_token"] and row["expires_at"]:
                    self._token = _Token(row["access_token"], row["expires_at"])
                if not self._fresh(self._token, ahead):
                    await self._renew(stale=None)
            return self._usable()

    async def renew(self, stale: str) -> str:
        """A token other than ``stale``, which Zalo refused (revoked, or expired early)."""
        async with self._lock:
            if self._token is not None and self._token.value != stale and self._fresh(self._token, SAFETY_SECONDS):
                return self._token.value
            if self._token is not None and self._token.value == stale:
                self._token = None
            await self._renew(stale=stale)
            return self._usable()

    async def renew_if_due(self) -> bool:
        """The periodic check (the worker's cron): renews when the expiry is near; True if it renewed."""
        before = self._token.value if self._token else None
        try:
            await self.access_token()
        except TokenUnavailable:
            return False
        return self._token is not None and self._token.value != before

    async def seed(self) -> None:
        """Store the first refresh token (``IOC_ZALO_REFRESH_TOKEN``) unless one is stored already."""
        initial = self.settings.zalo_refresh_token.get_secret_value()
        if initial:
            await self.pg.execute(SEED, self.app_id, initial)

    def _usable(self) -> str:
        if self._token is None or not self._fresh(self._token, SAFETY_SECONDS):
            raise TokenUnavailable("no valid Zalo access token (renewal failed)")
        return self._token.value

    async def _renew(self, *, stale: str | None) -> None:
        """Renew under the row's lock, unless another worker did while this one waited for it."""
        if time.monotonic() - self._failed_at < RETRY_RENEWAL_AFTER_SECONDS:
            return
        ahead = self.settings.zalo_renew_ahead_seconds
        async with self.pg.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(LOCK, self.app_id)
            if row is None:
                return self._failed("no refresh token stored: authorise the OA (IOC_ZALO_REFRESH_TOKEN)")
            stored = _Token(row["access_token"], row["expires_at"]) if row["access_token"] else None
            if stored is not None and stored.value != stale and self._fresh(stored, ahead):
                self._token = stored  # renewed by another worker meanwhile
                return None
            try:
                pair = await self._call(row["refresh_token"])
            except _Refused as exc:
                return self._failed(str(exc))
            token = _Token(pair.access_token, utcnow() + timedelta(seconds=pair.expires_in))
            await conn.execute(STORE, self.app_id, token.value, pair.refresh_token, token.expires_at)
        self._token = token
        RENEWALS.labels("renewed").inc()
        log.info("zalo_token_renewed", expires_at=token.expires_at.isoformat())
        return None

    def _failed(self, reason: str) -> None:
        self._failed_at = time.monotonic()
        RENEWALS.labels("failed").inc()
        log.error("zalo_token_renewal_failed", reason=reason, app_id=self.app_id)

    async def _call(self, refresh_token: str) -> _Pair:
        s = self.settings
        try:
            response = await self.client.post(
                s.zalo_token_url,
                data={"refresh_token": refresh_token, "app_id": self.app_id, "grant_type": "refresh_token"},
                headers={"secret_key": s.zalo_app_secret.get_secret_value()},
                timeout=s.zalo_timeout_seconds,
            )
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise _Refused(f"{type(exc).__name__}: {exc}") from None
        if not isinstance(answer, dict) or not answer.get("access_token") or not answer.get("refresh_token"):
            detail = answer if isinstance(answer, dict) else {}
            raise _Refused(
                f"HTTP {response.status_code} error {detail.get('error')}: "
                f"{detail.get('error_name') or ''} {detail.get('error_description') or ''}".strip()
            )
        try:
            expires_in = float(answer.get("expires_in") or 90000)  # Zalo sends it as text
        except (TypeError, ValueError):
            expires_in = 90000.0
        return _Pair(str(answer["access_token"]), str(answer["refresh_token"]), expires_in)


@dataclass(frozen=True, slots=True)
class _Pair:
    access_token: str
    refresh_token: str
    expires_in: float


class _Refused(Exception):
    pass
