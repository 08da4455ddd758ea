"""The notifier bench's local sinks, each in a process of its own (so that its CPU is its own and the
same for the notifier and for the ceiling loop):

* ``smtp``: an SMTP server (aiosmtpd) that accepts every message and counts it by its
  ``X-IOC-Notification`` header (else its ``Message-ID``); a repeat counts as a duplicate;
* ``zns``: a ZNS-shaped Zalo endpoint (``POST /message/template``, JSON with phone, template_id,
  template_data, tracking_id; answers ``{"error": 0, "data": {"msg_id": ...}}``) and its OAuth v4
  token endpoint (``POST /v4/oa/access_token``; a refresh token works once). Half the recipients are
  on Zalo: a phone whose last digit is odd answers -118 (not a Zalo account), so the notifier falls
  back to SMS for them. Counted by ``tracking_id``: a repeat is a duplicate (ZNS itself would send it);
* ``sms``: an eSMS-shaped SMS gateway (``POST /send``, JSON with ApiKey, SecretKey, Phone, Content,
  RequestId...; answers ``{"CodeResult": "100", "SMSID": ...}``) on a bare asyncio HTTP/1.1 server,
  cheap per request. A repeated RequestId answers code 124, as the real gateways do, and counts as a
  duplicate. It also keeps when each SMS arrived, by phone (``Phone`` as sent, national form),
  repeats included, for the lanes bench's latencies.

Both serve ``GET /stats`` (counts as JSON) and ``POST /reset`` on an HTTP port (the gateway's own
port for ``sms``, ``--stats-port`` for ``smtp``); the gateway also serves ``GET /arrivals?prefix=P``:
the arrival times (Unix seconds) of the SMS to each phone that starts with ``P``::

    python -m bench.sinks smtp --port 2525 --stats-port 8025
    python -m bench.sinks sms --port 8026 --api-key K --secret-key S

``Sink`` below starts one from the bench and reads its counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.processes import Child, free_port

Handler = Callable[[bytes, bytes, bytes], tuple[int, bytes]]  # (method, path, body) -> (status, JSON body)
REASONS = {200: b"OK", 400: b"Bad Request", 404: b"Not Found"}


class Tally:
    """What a sink received: messages, distinct ids, duplicates, and when the first and last came."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.received = 0
        self.ids: set[str] = set()
        self.duplicates = 0
        self.invalid = 0  # refused: bad credentials, a message without an id
        self.refused = 0  # answered as the real service would refuse it (ZNS: not a Zalo account)
        self.bytes = 0
        self.first: float | None = None
        self.last: float | None = None
        self.arrivals: dict[str, list[float]] = {}  # by recipient: when each of their messages came

    def record(self, key: str | None, size: int, recipient: str | None = None) -> bool:
        """Count one message (and, given its ``recipient``, when it came); False when its id was seen
        before (or it has none)."""
        now = time.time()
        if recipient:
            self.arrivals.setdefault(recipient, []).append(now)
        self.received += 1
        self.bytes += size
        self.first = self.first or now
        self.last = now
        if not key:
            self.invalid += 1
            return False
        if key in self.ids:
            self.duplicates += 1
            return False
        self.ids.add(key)
        return True

    def stats(self) -> dict[str, Any]:
        return {
            "received": self.received,
            "unique": len(self.ids),
            "duplicates": self.duplicates,
            "invalid": self.invalid,
            "refused": self.refused,
            "bytes": self.bytes,
            "first": self.first,
            "last": self.last,
        }


class HttpProtocol(asyncio.Protocol):
    """A bare HTTP/1.1 server: keep-alive, Content-Length bodies only (what httpx sends for ``json=``),
    one synchronous handler. About as cheap per request as Python gets."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buffer[:end])
            lowered = head.lower()
            length = 0
            at = lowered.find(b"\r\ncontent-length:")
            if at >= 0:
                stop = lowered.find(b"\r\n", at + 17)
                length = int(lowered[at + 17 : stop if stop >= 0 else len(lowered)])
            total = end + 4 + length
            if len(self.buffer) < total:
                return
            body = bytes(self.buffer[end + 4 : total])
            del self.buffer[:total]
            method, path, _ = head.split(b"\r\n", 1)[0].split(b" ", 2)
            try:
                status, payload = self.handler(method, path, body)
            except Exception as exc:  # noqa: BLE001 (a sink answers, whatever it was sent)
                status, payload = 400, json.dumps({"error": repr(exc)}).encode()
            close = b"\r\nconnection: close" in lowered
            assert self.transport is not None
            self.transport.write(
                b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s"
                % (status, REASONS.get(status, b"?"), len(payload), b"Connection: close\r\n" if close else b"", payload)
            )
            if close:
                self.transport.close()
                return


def control(tally: Tally, method: bytes, path: bytes) -> tuple[int, bytes] | None:
    """``GET /stats``, ``GET /arrivals?prefix=P`` and ``POST /reset``, shared by both sinks."""
    route, _, query = path.partition(b"?")
    if route == b"/stats" and method == b"GET":
        return 200, json.dumps(tally.stats()).encode()
    if route == b"/arrivals" and method == b"GET":
        prefix = urllib.parse.parse_qs(query.decode()).get("prefix", [""])[0]
        found = {who: times for who, times in tally.arrivals.items() if who.startswith(prefix)}
        return 200, json.dumps(found).encode()
    if route == b"/reset" and method == b"POST":
        tally.reset()
        return 200, b'{"reset": true}'
    return None


def gateway_handler(tally: Tally, api_key: str, secret_key: str) -> Handler:
    import orjson

    def handle(method: bytes, path: bytes, body: bytes) -> tuple[int, bytes]:
        if method == b"POST" and path.split(b"?", 1)[0] == b"/send":
            request = orjson.loads(body)
            if request.get("ApiKey") != api_key or request.get("SecretKey") != secret_key:
                tally.invalid += 1
                return 200, b'{"CodeResult":"101","ErrorMessage":"Authorize failed"}'
            if not request.get("Phone") or not request.get("Content"):
                tally.record(None, len(body))
                return 200, b'{"CodeResult":"177","ErrorMessage":"Phone number invalid"}'
            request_id = request.get("RequestId")
            if not tally.record(request_id, len(body), request["Phone"]):
                return 200, b'{"CodeResult":"124","ErrorMessage":"RequestId duplicated","SMSID":"dup"}'
            return 200, b'{"CodeResult":"100","SMSID":"%d"}' % tally.received
        return control(tally, method, path) or (404, b'{"error": "not found"}')

    return handle


def zns_handler(tally: Tally) -> Handler:
    import secrets
    import urllib.parse

    import orjson

    tokens = {"refresh": "bench-refresh-token", "used": set()}

    def handle(method: bytes, path: bytes, body: bytes) -> tuple[int, bytes]:
        route = path.split(b"?", 1)[0]
        if method == b"POST" and route == b"/message/template":
            request = orjson.loads(body)
            phone = str(request.get("phone") or "")
            if not phone or int(phone[-1]) % 2:
                tally.refused += 1
                return 200, b'{"error":-118,"message":"Zalo account not existed"}'
            if not tally.record(request.get("tracking_id"), len(body), phone):
                return 200, b'{"error":0,"message":"Success","data":{"msg_id":"dup"}}'
            return 200, b'{"error":0,"message":"Success","data":{"msg_id":"%d","quota":{"remainingQuota":"1"}}}' % (
                tally.received
            )
        if method == b"POST" and route == b"/v4/oa/access_token":
            form = dict(urllib.parse.parse_qsl(body.decode()))
            given = form.get("refresh_token", "")
            if given in tokens["used"] or given != tokens["refresh"]:
                return 200, b'{"error":-14020,"error_name":"Refresh token was used"}'
            tokens["used"].add(given)
            tokens["refresh"] = secrets.token_hex(8)
            answer = {"access_token": secrets.token_hex(8), "refresh_token": tokens["refresh"], "expires_in": "90000"}
            return 200, orjson.dumps(answer)
        return control(tally, method, path) or (404, b'{"error": "not found"}')

    return handle


NOTIFICATION_ID = re.compile(rb"^X-IOC-Notification:[ \t]*(\S+)", re.MULTILINE | re.IGNORECASE)
MESSAGE_ID = re.compile(rb"^Message-ID:[ \t]*(\S+)", re.MULTILINE | re.IGNORECASE)


class SmtpHandler:
    """aiosmtpd's handler: accept every message, count it by the notification id in its headers."""

    def __init__(self, tally: Tally) -> None:
        self.tally = tally

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        content: bytes = envelope.content
        end = content.find(b"\r\n\r\n")
        head = content[: end if end >= 0 else len(content)]
        found = NOTIFICATION_ID.search(head) or MESSAGE_ID.search(head)
        self.tally.record(found.group(1).decode() if found else None, len(content))
        return "250 Message accepted"


async def serve(args: argparse.Namespace) -> None:
    loop = asyncio.get_running_loop()
    tally = Tally()
    if args.kind in ("sms", "zns"):
        handler = gateway_handler(tally, args.api_key, args.secret_key) if args.kind == "sms" else zns_handler(tally)
        await loop.create_server(lambda: HttpProtocol(handler), "127.0.0.1", args.port, backlog=1024)
    else:
        from aiosmtpd.smtp import SMTP

        smtp = SmtpHandler(tally)
        await loop.create_server(
            lambda: SMTP(smtp, hostname="bench-sink", data_size_limit=10 * 1024 * 1024), "127.0.0.1", args.port
        )
        stats = lambda: HttpProtocol(lambda m, p, _: control(tally, m, p) or (404, b"{}"))  # noqa: E731
        await loop.create_server(stats, "127.0.0.1", args.stats_port)
    await asyncio.Event().wait()  # until SIGTERM


class Sink(Child):
    """One sink process, started and queried from the bench."""

    def __init__(self, kind: str, log_path: Path, *, api_key: str = "bench-api-key", secret_key: str = "bench-secret"):
        super().__init__(f"{kind}-sink", log_path)
        self.kind, self.api_key, self.secret_key = kind, api_key, secret_key
        self.port = free_port()
        self.stats_port = self.port if kind in ("sms", "zns") else free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}" + ("/message/template" if self.kind == "zns" else "/send")

    @property
    def token_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v4/oa/access_token"

    def start(self, timeout: float = 20.0) -> None:
        cmd = [sys.executable, "-m", "bench.sinks", self.kind, "--port", str(self.port)]
        if self.kind == "sms":
            cmd += ["--api-key", self.api_key, "--secret-key", self.secret_key]
        elif self.kind == "smtp":
            cmd += ["--stats-port", str(self.stats_port)]
        self.spawn(cmd, {})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
            try:
                self.stats()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout} s:\n{self.log_tail()}")

    def _call(self, method: str, path: str) -> dict[str, Any]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.stats_port}{path}", method=method)
        with urllib.request.urlopen(request, timeout=5) as resp:
            return json.loads(resp.read())

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/stats")

    def arrivals(self, prefix: str = "") -> dict[str, list[float]]:
        """When the SMS to each phone starting with ``prefix`` (national form) arrived, Unix seconds."""
        return self._call("GET", "/arrivals?" + urllib.parse.urlencode({"prefix": prefix}))

    def reset(self) -> None:
        self._call("POST", "/reset")


def main() -> None:
    p = argparse.ArgumentParser(description="A local SMTP or SMS-gateway sink that counts what it receives.")
    p.add_argument("kind", choices=("smtp", "sms", "zns"))
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--stats-port", type=int, help="smtp: the HTTP port of /stats and /reset")
    p.add_argument("--api-key", default="bench-api-key")
    p.add_argument("--secret-key", default="bench-secret")
    args = p.parse_args()
    if args.kind == "smtp" and not args.stats_port:
        p.error("smtp needs --stats-port")
    import uvloop

    uvloop.run(serve(args))


if __name__ == "__main__":
    main()
