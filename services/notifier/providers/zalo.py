"""Zalo Notification Service (ZNS): an approved template with parameters, sent to a phone number.

Request (Zalo's "Gửi thông báo ZNS"): a JSON POST to ``IOC_ZALO_SEND_URL`` with the OA's access token
in the ``access_token`` header and ``phone`` (84…, no plus sign), ``template_id``, ``template_data``
and ``tracking_id`` (our notification id, which Zalo's delivery webhook gives back). The answer
carries ``error`` (0: accepted), ``message`` and ``data.msg_id``, ``data.sent_time`` and
``data.quota`` (``remainingQuota`` of ``dailyQuota``).

Failures are classified for the caller (``sending.py``):

- ``error`` -124 (access token invalid) or HTTP 401: the token is renewed once and the send tried again;
- ``error`` -100 (Zalo's "try again later"), HTTP 429/5xx and refused connections: ``TemporaryFailure``,
  retried like an SMS; ZNS did not take the message;
- a timeout: ``Refused`` (the SMS goes instead). ZNS does not recognise a repeated ``tracking_id``, so
  a second try could deliver the message twice; the SMS cannot;
- every other ``error`` (not a Zalo user, the OA blocked, template not approved or wrong parameters,
  quota or balance exhausted...) and a token that cannot be renewed: ``Refused``, and the same
  notification goes by SMS at once.
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import structlog
from prometheus_client import Gauge

from services.notifier.providers import Accepted, Outgoing, PermanentFailure, TemporaryFailure
from services.notifier.settings import NotifierSettings
from services.notifier.zalo_tokens import TokenUnavailable, ZaloTokens

log = structlog.get_logger("notifier.zalo")
QUOTA = Gauge("ioc_notifier_zalo_quota_remaining", "ZNS messages the OA may still send today (Zalo's answer)")

ACCEPTED = 0
TOKEN_INVALID = {-124, -216}
TRY_LATER = {-100, -129}


class Refused(PermanentFailure):
    """ZNS will not deliver this notification: it goes by SMS instead."""


class ZnsProvider:
    def __init__(self, settings: NotifierSettings, tokens: ZaloTokens, client: httpx.AsyncClient) -> None:
        self.name = "zalo:zns"
        self.per_second = settings.zalo_per_second
        self.settings, self.tokens, self.client = settings, tokens, client

    async def send(self, message: Outgoing) -> Accepted:
        try:
            token = await self.tokens.access_token()
            response = await self._post(token, message)
            if _token_refused(response):
                token = await self.tokens.renew(stale=token)
                response = await self._post(token, message)
        except TokenUnavailable as exc:
            raise Refused(self.name, str(exc)) from None
        return self._outcome(response)

    async def _post(self, token: str, message: Outgoing) -> httpx.Response:
        payload = {
            "phone": message.recipient.lstrip("+"),
            "template_id": message.template_id,
            "template_data": message.template_data or {},
            "tracking_id": str(message.id),
        }
        try:
            return await self.client.post(
                self.settings.zalo_send_url,
                content=orjson.dumps(payload),
                headers={"Content-Type": "application/json", "access_token": token},
                timeout=self.settings.zalo_timeout_seconds,
            )
        except httpx.TimeoutException:
            raise Refused(self.name, "timeout: ZNS may hold the message, which it would send twice") from None
        except httpx.HTTPError as exc:
            raise TemporaryFailure(self.name, f"{type(exc).__name__}: {exc}") from None

    def _outcome(self, response: httpx.Response) -> Accepted:
        if response.status_code == 429 or response.status_code >= 500:
            raise TemporaryFailure(self.name, f"HTTP {response.status_code}")
        try:
            answer = response.json()
            error = int(answer.get("error"))
        except (ValueError, TypeError, AttributeError):
            raise TemporaryFailure(self.name, f"HTTP {response.status_code}: not a ZNS answer") from None
        data = _object(answer.get("data"))
        if error == ACCEPTED and response.status_code == 200:
            quota = _object(data.get("quota"))
            if str(quota.get("remainingQuota", "")).isdigit():
                QUOTA.set(int(quota["remainingQuota"]))
            return Accepted(self.name, str(data.get("msg_id") or "") or None)
        reason = f"HTTP {response.status_code} error {error}: {answer.get('message', '')}".strip()
        if error in TRY_LATER:
            raise TemporaryFailure(self.name, reason)
        raise Refused(self.name, reason)

    async def close(self) -> None:
        return None


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _token_refused(response: httpx.Response) -> bool:
    if response.status_code == 401:
        return True
    try:
        return int(response.json().get("error")) in TOKEN_INVALID
    except (ValueError, TypeError, AttributeError):
        return False
