"""Signed-in people, kept server-side in Redis.

The browser holds only a random session id in an ``HttpOnly``, ``SameSite=Lax`` cookie (``Secure``
over HTTPS); Redis holds, under the id's SHA-256 digest, the registry's session token and the person
it names. A session left idle for ``session_idle_hours`` ends: each request pushes its expiry back,
as the registry does for the token itself."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import asdict, dataclass
from typing import Any

import redis.asyncio as aioredis

from services.web.settings import WebSettings

SESSION_COOKIE = "ioc_session"


@dataclass(frozen=True)
class Person:
    id: str
    login: str
    display_name: str
    role: str  # office | ops_centre | unit
    unit_code: str | None
    must_change_password: bool = False

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Person:
        return cls(
            id=str(data["id"]),
            login=data["login"],
            display_name=data.get("display_name") or data["login"],
            role=data["role"],
            unit_code=data.get("unit_code"),
            must_change_password=bool(data.get("must_change_password")),
        )

    @property
    def role_label(self) -> str:
        return {"office": "Văn phòng", "ops_centre": "Trung tâm IOC"}.get(self.role, f"Đơn vị {self.unit_code}")


@dataclass(frozen=True)
class SignedIn:
    session_id: str
    token: str
    person: Person


class SessionStore:
    def __init__(self, redis: aioredis.Redis, settings: WebSettings) -> None:
        self.redis, self.prefix = redis, settings.session_prefix
        self.ttl = max(60, int(settings.session_idle_hours * 3600))

    def _key(self, session_id: str) -> str:
        return f"{self.prefix}:{hashlib.sha256(session_id.encode()).hexdigest()}"

    async def create(self, token: str, person: Person) -> SignedIn:
        session_id = secrets.token_urlsafe(32)
        await self.redis.set(self._key(session_id), self._dump(token, person), ex=self.ttl)
        return SignedIn(session_id, token, person)

    async def load(self, session_id: str) -> SignedIn | None:
        """The session, its idle expiry pushed back; None when it is unknown or ended."""
        if not session_id or len(session_id) > 100:
            return None
        key = self._key(session_id)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(key)
            pipe.expire(key, self.ttl)
            raw, _ = await pipe.execute()
        if raw is None:
            return None
        data = json.loads(raw)
        return SignedIn(session_id, data["token"], Person(**data["person"]))

    async def update(self, signed_in: SignedIn, person: Person) -> SignedIn:
        await self.redis.set(self._key(signed_in.session_id), self._dump(signed_in.token, person), ex=self.ttl)
        return SignedIn(signed_in.session_id, signed_in.token, person)

    async def delete(self, session_id: str) -> None:
        await self.redis.delete(self._key(session_id))

    @staticmethod
    def _dump(token: str, person: Person) -> str:
        return json.dumps({"token": token, "person": asdict(person)})
