"""Development sinks for the notifier: an SMTP server and an eSMS-shaped SMS gateway that keep what
they receive (in memory and as files under ``--data``) instead of delivering it.

    python devsinks.py --smtp-port 2525 --http-port 8025 --data /data

- SMTP on ``--smtp-port``: every message accepted, saved as ``email/<n>.eml``.
- ``POST /send`` on ``--http-port``: the gateway's JSON API (``{"CodeResult": "100", "SMSID": ...}``;
  a repeated ``RequestId`` answers code 124 like the real gateways), saved as ``sms/<RequestId>.json``.
- ``GET /messages``: everything received, newest last, for people and smoke tests to read.

Not for production: it delivers nothing, to anyone.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import json
import threading
import uuid
from pathlib import Path

import uvicorn
from aiosmtpd.controller import Controller
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


class Store:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.messages: list[dict] = []
        self.request_ids: dict[str, str] = {}
        self.lock = threading.Lock()
        for kind in ("email", "sms"):
            (directory / kind).mkdir(parents=True, exist_ok=True)

    def add_email(self, raw: bytes) -> None:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        body = message.get_body(("plain",))
        with self.lock:
            number = len(self.messages) + 1
            (self.directory / "email" / f"{number:06d}.eml").write_bytes(raw)
            self.messages.append(
                {
                    "kind": "email",
                    "to": str(message["To"]),
                    "subject": str(message["Subject"]),
                    "id": str(message.get("X-IOC-Notification", "")),
                    "text": body.get_content() if body else "",
                }
            )

    def add_sms(self, request: dict) -> tuple[str, bool]:
        """(SMSID, is_new)."""
        request_id = str(request.get("RequestId") or uuid.uuid4())
        with self.lock:
            if request_id in self.request_ids:
                return self.request_ids[request_id], False
            sms_id = uuid.uuid4().hex
            self.request_ids[request_id] = sms_id
            record = {
                "kind": "sms",
                "to": request.get("Phone"),
                "id": request_id,
                "text": request.get("Content"),
                "brandname": request.get("Brandname"),
                "unicode": request.get("IsUnicode"),
            }
            (self.directory / "sms" / f"{request_id}.json").write_text(json.dumps(record, ensure_ascii=False))
            self.messages.append(record)
            return sms_id, True


class SmtpHandler:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's hook name)
        self.store.add_email(envelope.content)
        return "250 Message accepted for delivery (development sink)"


def http_app(store: Store) -> Starlette:
    async def send(request: Request) -> JSONResponse:
        sms_id, new = store.add_sms(await request.json())
        if not new:
            return JSONResponse({"CodeResult": "124", "SMSID": sms_id, "ErrorMessage": "RequestId duplicated"})
        return JSONResponse({"CodeResult": "100", "SMSID": sms_id})

    async def messages(_: Request) -> JSONResponse:
        with store.lock:
            return JSONResponse(list(store.messages))

    return Starlette(routes=[Route("/send", send, methods=["POST"]), Route("/messages", messages)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smtp-port", type=int, default=2525)
    parser.add_argument("--http-port", type=int, default=8025)
    parser.add_argument("--host", default="0.0.0.0")  # noqa: S104 (inside its container)
    parser.add_argument("--data", type=Path, default=Path("/data"))
    args = parser.parse_args()
    store = Store(args.data)
    smtp = Controller(SmtpHandler(store), hostname=args.host, port=args.smtp_port)
    smtp.start()
    try:
        uvicorn.run(http_app(store), host=args.host, port=args.http_port, log_level="warning")
    finally:
        smtp.stop()


if __name__ == "__main__":
    main()
