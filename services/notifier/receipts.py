"""Delivery receipts from the SMS gateways: ``POST /v1/sms/receipts/{gateway}?token=…``.

The gateway calls back with the message's ``RequestId`` (our notification id) and/or its ``SMSID``,
and a ``SendStatus``: 5 means delivered to the handset; 4 (rejected) and 6 (cancelled) mean it never
will be; other values are intermediate and change nothing. Every receipt is kept; late or duplicate
receipts never move a final state (``delivered``, ``permanent_failure``) backwards.
"""

from __future__ import annotations

import contextlib
import secrets
import uuid
from typing import Annotated, Any
from urllib.parse import parse_qsl

import structlog
from fastapi import APIRouter, Path, Query, Request
from sqlalchemy import func, or_, select, update

from services.notifier.models import FINAL, Notification, Receipt
from shared.problems import AppError

log = structlog.get_logger("notifier.receipts")
router = APIRouter(tags=["receipts"])

DELIVERED = {"5"}
UNDELIVERABLE = {"4", "6"}


def _field(payload: dict[str, Any], *names: str) -> str | None:
    lowered = {k.lower(): v for k, v in payload.items()}
    for name in names:
        value = lowered.get(name.lower())
        if value not in (None, ""):
            return str(value)
    return None


@router.post("/v1/sms/receipts/{gateway}", summary="Delivery receipt callback of an SMS gateway")
async def sms_receipt(
    request: Request,
    gateway: Annotated[str, Path(max_length=64)],
    token: Annotated[str, Query(max_length=200)] = "",
) -> dict[str, bool]:
    """Record a gateway's delivery report. Authenticated by the token in the callback URL."""
    expected = request.app.state.settings.receipt_token.get_secret_value()
    if not secrets.compare_digest(token.encode(), expected.encode()):
        raise AppError(401, "unauthorized")
    payload = await _payload(request)
    request_id, sms_id = _field(payload, "RequestId"), _field(payload, "SMSID", "SmsId")
    status = _field(payload, "SendStatus", "Status") or ""
    outcome = "delivered" if status in DELIVERED else "permanent_failure" if status in UNDELIVERABLE else None
    provider = f"sms:{gateway}"

    async with request.app.state.sessions() as session:
        n = Notification
        match = []
        if request_id:
            with contextlib.suppress(ValueError):  # not one of our ids: match on SMSID alone
                match.append(n.id == uuid.UUID(request_id))
        if sms_id:
            match.append((n.provider == provider) & (n.provider_ref == sms_id))
        notification_id = None
        if match:
            notification_id = await session.scalar(select(n.id).where(or_(*match), n.channel == "sms").limit(1))
        applied = False
        if notification_id is not None and outcome is not None:
            values: dict[str, Any] = {"status": outcome, "updated_at": func.now()}
            if outcome == "delivered":
                values["delivered_at"] = func.now()
            else:
                values["last_error"] = f"gateway receipt: SendStatus {status}"
            result = await session.execute(
                update(n).where(n.id == notification_id, n.status.not_in(FINAL)).values(**values)
            )
            applied = bool(result.rowcount)
        session.add(
            Receipt(
                notification_id=notification_id,
                provider=provider,
                status=status or "?",
                payload=payload,
                applied=applied,
            )
        )
        await session.commit()
    if notification_id is None:
        log.warning("receipt_for_unknown_message", gateway=gateway, request_id=request_id, sms_id=sms_id)
    return {"applied": applied}


async def _payload(request: Request) -> dict[str, Any]:
    """Gateways post JSON or a form; some send the fields in the query string."""
    payload: dict[str, Any] = {k: v for k, v in request.query_params.items() if k != "token"}
    content_type = request.headers.get("content-type", "")
    try:
        if "json" in content_type:
            body = await request.json()
            if isinstance(body, dict):
                payload.update(body)
        elif "form-urlencoded" in content_type:
            payload.update(parse_qsl((await request.body()).decode("utf-8")))
    except (ValueError, UnicodeDecodeError):
        raise AppError(422, "validation-error") from None
    return payload
