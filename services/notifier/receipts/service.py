"""Recording a gateway's delivery report.

The report names the message by our ``RequestId`` (the notification id) and/or the gateway's
``SMSID``, and a ``SendStatus``: 5 means delivered to the handset; 4 (rejected) and 6 (cancelled)
mean it never will be; other values are intermediate and change nothing. Every report is kept; late
or duplicate reports never move a final state (``models.FINAL``: ``delivered``, ``permanent_failure``,
``held_for_cap``).
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
import uuid
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from services.notifier.receipts import repository
from services.notifier.receipts.schemas import STATUS_LENGTH, field
from services.notifier.settings import NotifierSettings

log = structlog.get_logger("notifier.receipts")

DELIVERED = {"5"}
UNDELIVERABLE = {"4", "6"}


async def record(session: AsyncSession, gateway: str, payload: dict[str, Any]) -> bool:
    """Keep ``gateway``'s report and apply it; returns whether it changed the message's state."""
    request_id, sms_id = field(payload, "RequestId"), field(payload, "SMSID", "SmsId")
    status = (field(payload, "SendStatus", "Status") or "")[:STATUS_LENGTH]
    outcome = "delivered" if status in DELIVERED else "permanent_failure" if status in UNDELIVERABLE else None
    provider = f"sms:{gateway}"
    our_id = None
    if request_id:
        with contextlib.suppress(ValueError):  # not one of our ids: the SMSID alone may match
            our_id = uuid.UUID(request_id)
    notification_id = await repository.find_sms(session, request_id=our_id, provider=provider, sms_id=sms_id)
    applied = False
    if notification_id is not None and outcome is not None:
        applied = await repository.settle(
            session, notification_id, outcome, error=f"gateway receipt: SendStatus {status}"
        )
    repository.keep(
        session,
        notification_id=notification_id,
        provider=provider,
        status=status or "?",
        payload=payload,
        applied=applied,
    )
    await session.commit()
    if notification_id is None:
        log.warning("receipt_for_unknown_message", gateway=gateway, request_id=request_id, sms_id=sms_id)
    return applied


ZALO_DELIVERED = "user_received_message"


def zalo_signature_ok(settings: NotifierSettings, body: bytes, event: dict[str, Any], signature: str | None) -> bool:
    """Zalo's webhook signature: ``X-ZEvent-Signature: mac=`` + hex SHA-256 of app id, the raw body,
    the event's ``timestamp`` and the OA's secret key, concatenated (the ``mac=`` prefix optional)."""
    secret = settings.zalo_oa_secret_key.get_secret_value()
    app_id, timestamp = event.get("app_id"), event.get("timestamp")
    if not (secret and signature and app_id == settings.zalo_app_id and isinstance(timestamp, str | int)):
        return False
    digest = hashlib.sha256(str(app_id).encode() + body + str(timestamp).encode() + secret.encode()).hexdigest()
    given = signature.strip().removeprefix("mac=")
    return secrets.compare_digest(given.encode(), digest.encode())


async def record_zalo(session: AsyncSession, event: dict[str, Any]) -> bool:
    """Apply a (signed) Zalo event; returns whether it changed a notification's state. Delivery
    receipts are kept; other events (a follower's message...) are not this service's."""
    if event.get("event_name") != ZALO_DELIVERED:
        return False
    message: dict[str, Any] = event["message"] if isinstance(event.get("message"), dict) else {}
    tracking, msg_id = field(message, "tracking_id"), field(message, "msg_id")
    our_id = None
    if tracking:
        with contextlib.suppress(ValueError):
            our_id = uuid.UUID(tracking)
    notification_id = await repository.find_zalo(session, tracking_id=our_id, msg_id=msg_id)
    applied = False
    if notification_id is not None:
        applied = await repository.settle(session, notification_id, "delivered", error=None)
    repository.keep(
        session,
        notification_id=notification_id,
        provider="zalo",
        status=ZALO_DELIVERED[:STATUS_LENGTH],
        payload=event,
        applied=applied,
    )
    await session.commit()
    if notification_id is None:
        log.warning("zalo_receipt_for_unknown_message", tracking_id=tracking, msg_id=msg_id)
    return applied
