"""A local HTTP server behaving like a Vietnamese brandname SMS gateway (the eSMS.vn JSON shape).

It accepts ``POST /send`` with ApiKey/SecretKey/Phone/Content/Brandname/IsUnicode/RequestId, answers
``{"CodeResult": "100", "SMSID": …}``, refuses a repeated RequestId with code 124 (as the real ones
do), and can be told to misbehave: answer 429 or 500, time out, or reject a number (code 177).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import deque
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support.apps import listening
from tests.support.redis_server import free_port


@dataclass
class Gateway:
    api_key: str = "test-api-key"
    secret_key: str = "test-secret"
    accepted: dict[str, dict] = field(default_factory=dict)  # RequestId → request
    calls: int = 0
    replies: deque[str] = field(default_factory=deque)  # "429", "500", "timeout" for the next calls
    rejected_numbers: set[str] = field(default_factory=set)
    port: int = field(default_factory=free_port)
    timeout_seconds: float = 3.0
    delay_seconds: float = 0.0  # every answer this late: a busy gateway

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/send"

    async def answer(self, request: Request) -> JSONResponse:
        """Its answer to one ``POST /send``."""
        self.calls += 1
        body = await request.json()
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        if body.get("ApiKey") != self.api_key or body.get("SecretKey") != self.secret_key:
            return JSONResponse({"CodeResult": "101", "ErrorMessage": "Authorize failed"})
        if self.replies:
            reply = self.replies.popleft()
            if reply == "timeout":
                await asyncio.sleep(self.timeout_seconds)
            else:
                return JSONResponse(
                    {"CodeResult": "99", "ErrorMessage": reply},
                    status_code=int(reply),
                    headers={"Retry-After": "1"} if reply == "429" else {},
                )
        if body.get("Phone") in self.rejected_numbers:
            return JSONResponse({"CodeResult": "177", "ErrorMessage": "Phone number invalid"})
        request_id = body.get("RequestId")
        if request_id in self.accepted:
            return JSONResponse(
                {
                    "CodeResult": "124",
                    "ErrorMessage": "RequestId duplicated",
                    "SMSID": self.accepted[request_id]["SMSID"],
                }
            )
        self.accepted[request_id] = {**body, "SMSID": uuid.uuid4().hex}
        return JSONResponse({"CodeResult": "100", "SMSID": self.accepted[request_id]["SMSID"]})

    def to(self, phone: str) -> list[dict]:
        return [m for m in self.accepted.values() if m["Phone"] == phone]


@contextlib.asynccontextmanager
async def running(gateway: Gateway):
    async with listening(Starlette(routes=[Route("/send", gateway.answer, methods=["POST"])]), gateway.port):
        yield gateway
