"""SMS through Vietnamese brandname gateways (the eSMS.vn JSON shape), with failover between gateways.

Request: a JSON POST with ``ApiKey``, ``SecretKey``, ``Phone`` (national form), ``Content``,
``Brandname``, ``SmsType``, ``IsUnicode`` ("0"/"1"), ``RequestId`` and ``CallbackUrl``. The answer
carries ``CodeResult`` ("100" = accepted) and ``SMSID``. The notification's id is the ``RequestId``:
the gateway refuses a repeated one, so a retried send can never deliver twice, and that refusal
means "already accepted".

Failures are classified so that retries help: HTTP 429/5xx and connection errors are temporary and
worth another gateway at once; a timeout is ambiguous (the first gateway may have accepted), so it is
retried on the same gateway later, where the RequestId protects against a double send; codes the
gateway documents as final (a rejected number, an unregistered brandname) are permanent.
"""

from __future__ import annotations

import time

import httpx
import orjson

from services.notifier.providers import Accepted, Outgoing, PermanentFailure, TemporaryFailure
from services.notifier.settings import SmsGateway
from shared.phones import national_format
from shared.sms import is_gsm7

ACCEPTED = "100"
JSON_HEADERS = {"Content-Type": "application/json"}
# eSMS result codes: which mean "the request was already accepted", which can never succeed.
DUPLICATE_CODES = {"124"}
PERMANENT_CODES = {"104", "118", "119", "131", "177"}


class GatewayProvider:
    def __init__(self, gateway: SmsGateway, *, callback_url: str, client: httpx.AsyncClient) -> None:
        self.name = f"sms:{gateway.name}"
        self.per_second = gateway.per_second
        self.gateway, self.callback_url, self.client = gateway, callback_url, client

    async def send(self, message: Outgoing) -> Accepted:
        g = self.gateway
        payload = {
            "ApiKey": g.api_key.get_secret_value(),
            "SecretKey": g.secret_key.get_secret_value(),
            "Phone": national_format(message.recipient).replace(" ", ""),
            "Content": message.body,
            "Brandname": g.brandname,
            "SmsType": g.sms_type,
            "IsUnicode": "0" if is_gsm7(message.body) else "1",
            "RequestId": str(message.id),
            "CallbackUrl": self.callback_url,
        }
        try:
            response = await self.client.post(
                g.url, content=orjson.dumps(payload), headers=JSON_HEADERS, timeout=g.timeout_seconds
            )
        except httpx.TimeoutException:
            raise Ambiguous(self.name, "timeout") from None
        except httpx.HTTPError as exc:
            raise Unavailable(self.name, f"{type(exc).__name__}: {exc}") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise Unavailable(self.name, f"HTTP {response.status_code}", retry_after=_retry_after(response))
        try:
            answer = response.json()
            code = str(answer.get("CodeResult", ""))
        except (ValueError, AttributeError):
            raise Unavailable(self.name, f"HTTP {response.status_code}: not JSON") from None
        if response.status_code == 200 and code == ACCEPTED:
            return Accepted(self.name, str(answer.get("SMSID") or "") or None)
        if code in DUPLICATE_CODES:
            return Accepted(self.name, str(answer.get("SMSID") or "") or None)
        reason = f"HTTP {response.status_code} CodeResult {code}: {answer.get('ErrorMessage', '')}".strip()
        if code in PERMANENT_CODES or response.status_code in (400, 404, 422):
            raise PermanentFailure(self.name, reason)
        raise TemporaryFailure(self.name, reason)


class Unavailable(TemporaryFailure):
    """The gateway did not take the message: another gateway may."""


class Ambiguous(TemporaryFailure):
    """The gateway may have taken the message: retry the same gateway (its RequestId check dedupes)."""

    ambiguous = True


class FailoverSms:
    """The configured gateways in order: the first that accepts wins."""

    def __init__(self, gateways: list[GatewayProvider]) -> None:
        self.gateways = gateways
        self.name = "sms:" + "+".join(g.gateway.name for g in gateways)
        self.per_second = min(g.per_second for g in gateways)

    async def send(self, message: Outgoing) -> Accepted:
        if message.pinned_provider is not None:  # after a timeout: that gateway, and it alone
            pinned = [g for g in self.gateways if g.name == message.pinned_provider]
            if pinned:
                try:
                    return await pinned[0].send(message)
                except TemporaryFailure as exc:
                    raise Ambiguous(exc.provider, exc.reason, retry_after=exc.retry_after) from None
        last: TemporaryFailure | None = None
        for provider in self.gateways:
            try:
                return await provider.send(message)
            except Unavailable as exc:
                last = exc  # this gateway is down or throttling: the next one may take it
        assert last is not None
        raise last

    async def close(self) -> None:
        return None


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait, from ``Retry-After`` or ``X-Rate-Limit-Reset`` (seconds, or a Unix time)."""
    for header in ("Retry-After", "X-Rate-Limit-Reset"):
        value = response.headers.get(header)
        if value and value.replace(".", "", 1).isdigit():
            seconds = float(value)
            if seconds > 1_000_000_000:  # a Unix timestamp, not a duration
                seconds -= time.time()
            return max(0.0, seconds)
    return None
