"""A local HTTP server behaving like Zalo's ZNS send endpoint and its OAuth v4 token endpoint.

- ``POST /message/template``: the ``access_token`` header must hold the token last issued (else
  ``error`` -124); ``phone``, ``template_id``, ``template_data``, ``tracking_id`` as Zalo documents them;
  answers ``{"error": 0, "data": {"msg_id", "sent_time", "quota"}}``. Like the real one it does not
  recognise a repeated ``tracking_id``: a second send is a second message. It refuses a number that
  is not a Zalo user (-118), a parameter longer than its limit (-132), and can be told to answer an
  error code, HTTP 500 or time out for the next calls.
- ``POST /v4/oa/access_token``: a form with ``refresh_token``, ``app_id``, ``grant_type=refresh_token``
  and the app secret in the ``secret_key`` header; a refresh token works once (a second use answers
  ``error`` -14020, and is counted in ``reused_refresh_tokens``).

``signed(event)`` builds a webhook call as Zalo signs it (``X-ZEvent-Signature``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.apps import listening
from tests.support.redis_server import free_port

APP_ID = "4318000000000000001"
APP_SECRET = "test-app-secret"
OA_SECRET_KEY = "test-oa-secret-key"


@dataclass
class Zns:
    refresh_token: str = field(default_factory=lambda: "rt-" + secrets.token_hex(8))
    access_token: str | None = None  # none issued yet: the first send needs a renewal
    expires_in: int = 90000
    accepted: list[dict] = field(default_factory=list)
    calls: int = 0
    replies: deque[str] = field(default_factory=deque)  # "-100", "500", "timeout" for the next sends
    non_zalo: set[str] = field(default_factory=set)  # phones (84...) of people without Zalo
    limits: dict[str, int] = field(default_factory=dict)  # parameter name -> max length
    renewals: int = 0
    reused_refresh_tokens: int = 0
    refuse_renewals: bool = False
    renewal_delay_seconds: float = 0.0
    delay_seconds: float = 0.0
    timeout_seconds: float = 3.0
    used: set[str] = field(default_factory=set)
    port: int = field(default_factory=free_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def expire_access_token(self) -> None:
        """Zalo no longer takes the token it issued last (expired, or revoked)."""
        self.access_token = "expired-" + (self.access_token or "")

    def to(self, phone: str) -> list[dict]:
        return [m for m in self.accepted if m["phone"] == phone]

    async def send(self, request: Request) -> JSONResponse:
        self.calls += 1
        body = await request.json()
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        if self.access_token is None or request.headers.get("access_token") != self.access_token:
            return JSONResponse({"error": -124, "message": "Access token is invalid"})
        if self.replies:
            reply = self.replies.popleft()
            if reply == "timeout":
                await asyncio.sleep(self.timeout_seconds)
            elif reply.startswith("-"):
                return JSONResponse({"error": int(reply), "message": "injected"})
            else:
                return JSONResponse({"error": -100, "message": reply}, status_code=int(reply))
        if body.get("phone") in self.non_zalo:
            return JSONResponse({"error": -118, "message": "Zalo account not existed"})
        data = body.get("template_data") or {}
        if any(len(str(data.get(name, ""))) > limit for name, limit in self.limits.items()):
            return JSONResponse({"error": -132, "message": "Invalid parameter"})
        message = {**body, "msg_id": secrets.token_hex(10)}
        self.accepted.append(message)
        quota = {"dailyQuota": "100000", "remainingQuota": str(100000 - len(self.accepted))}
        return JSONResponse(
            {
                "error": 0,
                "message": "Success",
                "data": {"msg_id": message["msg_id"], "sent_time": str(int(time.time() * 1000)), "quota": quota},
            }
        )

    async def token(self, request: Request) -> JSONResponse:
        form = dict(parse_qsl((await request.body()).decode()))
        if request.headers.get("secret_key") != APP_SECRET or form.get("app_id") != APP_ID:
            return JSONResponse({"error": -14002, "error_name": "Invalid app secret", "error_description": ""})
        if self.renewal_delay_seconds:
            await asyncio.sleep(self.renewal_delay_seconds)
        given = str(form.get("refresh_token") or "")
        if self.refuse_renewals:
            return JSONResponse({"error": -14014, "error_name": "Invalid refresh token", "error_description": ""})
        if given in self.used or given != self.refresh_token:
            self.reused_refresh_tokens += given in self.used
            return JSONResponse({"error": -14020, "error_name": "Refresh token was used", "error_description": ""})
        self.used.add(given)
        self.renewals += 1
        self.refresh_token = "rt-" + secrets.token_hex(8)
        self.access_token = "at-" + secrets.token_hex(8)
        return JSONResponse(
            {"access_token": self.access_token, "refresh_token": self.refresh_token, "expires_in": str(self.expires_in)}
        )


def signed(event: dict, *, secret: str = OA_SECRET_KEY) -> tuple[bytes, dict[str, str]]:
    """A webhook body and its headers, signed as Zalo signs them."""
    body = json.dumps(event).encode()
    mac = hashlib.sha256(str(event["app_id"]).encode() + body + str(event["timestamp"]).encode() + secret.encode())
    return body, {"Content-Type": "application/json", "X-ZEvent-Signature": f"mac={mac.hexdigest()}"}


def received(tracking_id: str, msg_id: str) -> dict:
    """ZNS's delivery receipt event ("user_received_message")."""
    now = str(int(time.time() * 1000))
    return {
        "app_id": APP_ID,
        "event_name": "user_received_message",
        "sender": {"id": "oa-1"},
        "recipient": {"id": "user-1"},
        "message": {"msg_id": msg_id, "tracking_id": tracking_id, "delivery_time": now},
        "timestamp": now,
    }


@contextlib.asynccontextmanager
async def running(zns: Zns):
    app = Starlette(
        routes=[
            Route("/message/template", zns.send, methods=["POST"]),
            Route("/v4/oa/access_token", zns.token, methods=["POST"]),
        ]
    )
    async with listening(app, zns.port):
        yield zns
