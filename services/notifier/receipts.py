"""Delivery receipts from the SMS gateways: ``POST /v1/sms/receipts/{gateway}?token=…``.

The gateway calls back with the message's ``RequestId`` (our notification id) and/or its ``SMSID``,
and a ``SendStatus``: 5 means delivered to the handset; 4 (rejected) and 6 (cancelled) mean it never
will be; other values are intermediate and change nothing. Every receipt is kept; late or duplicate
receipts never move a final state (``delivered``, ``permanent_failure``) backwards.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import uuid
from typing import Annotated, Any
from urllib.parse import parse_qsl

import structlog
from fastapi import APIRouter, Depends, Path, Request
from fastapi.security import APIKeyQuery
from sqlalchemy import func, or_, select, update

from services.notifier.models import FINAL, Notification, Receipt
from shared.problems import AppError, FieldError, is_json

log = structlog.get_logger("notifier.receipts")
router = APIRouter(tags=["receipts"])

DELIVERED = {"5"}
UNDELIVERABLE = {"4", "6"}
FORM = "application/x-www-form-urlencoded"
STATUS_LENGTH = Receipt.__table__.c.status.type.length
GATEWAY_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,59}$"  # "sms:" and the name fit Receipt.provider

_token = APIKeyQuery(
    name="token",
    scheme_name="ReceiptToken",
    auto_error=False,
    description="The secret in the callback URL the notifier gives the gateway (IOC_RECEIPT_TOKEN).",
)
_FIELDS = {"type": ["string", "integer", "null"]}
DOCUMENTED = ("RequestId", "SMSID", "SendStatus")
RECEIPT_BODY = {
    "required": False,
    "description": "The gateway's report, as JSON or a form; its fields may also come in the query string.",
    "content": {
        media_type: {
            "schema": {
                "type": "object",
                "properties": {
                    "RequestId": {**_FIELDS, "description": "our notification id, as sent"},
                    "SMSID": {**_FIELDS, "description": "the gateway's id of the message (or SmsId)"},
                    "SendStatus": {**_FIELDS, "description": "5 delivered; 4 rejected, 6 cancelled (or Status)"},
                },
                "additionalProperties": True,
            }
        }
        for media_type in ("application/json", FORM)
    },
}


def _field(payload: dict[str, Any], *names: str) -> str | None:
    lowered = {k.lower(): v for k, v in payload.items()}
    for name in names:
        value = lowered.get(name.lower())
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if value not in (None, ""):
            return str(value)
    return None


@router.post(
    "/v1/sms/receipts/{gateway}",
    summary="Delivery receipt callback of an SMS gateway",
    openapi_extra={"requestBody": RECEIPT_BODY},
)
async def sms_receipt(
    request: Request,
    gateway: Annotated[str, Path(pattern=GATEWAY_PATTERN, description="the gateway's name in IOC_SMS_GATEWAYS")],
    token: Annotated[str | None, Depends(_token)] = None,
) -> dict[str, bool]:
    """Record a gateway's delivery report (every report is kept; `applied`: it changed the message's state).
    Authenticated by the token in the callback URL."""
    expected = request.app.state.settings.receipt_token.get_secret_value()
    if not secrets.compare_digest((token or "").encode(), expected.encode()):
        raise AppError(401, "unauthorized")
    payload = _storable(await _payload(request))
    request_id, sms_id = _field(payload, "RequestId"), _field(payload, "SMSID", "SmsId")
    status = (_field(payload, "SendStatus", "Status") or "")[:STATUS_LENGTH]
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
    body = await request.body()
    if not body:
        return payload
    content_type = request.headers.get("content-type")
    try:
        if is_json(content_type):
            fields = json.loads(body)
        elif (content_type or "").partition(";")[0].strip().lower() == FORM:
            fields = dict(parse_qsl(body.decode("utf-8")))
        else:
            raise AppError(415, "unsupported-media-type")
    except (ValueError, UnicodeDecodeError):  # JSONDecodeError is a ValueError
        raise AppError(422, "validation-error", errors=[FieldError("body", "json_invalid")]) from None
    if not isinstance(fields, dict):
        raise AppError(422, "validation-error", errors=[FieldError("body", "dict_type")])
    wrong = [name for name in DOCUMENTED if not _text_or_integer(fields.get(name))]
    if wrong:
        raise AppError(422, "validation-error", errors=[FieldError(name, "text_or_integer") for name in wrong])
    return payload | fields


def _text_or_integer(value: object) -> bool:
    """What the documented fields hold: text, a JSON integer (5 or 5.0), or null (absent)."""
    if isinstance(value, float):
        return value.is_integer()
    return value is None or (isinstance(value, str | int) and not isinstance(value, bool))


def _storable(value: Any) -> Any:
    """The payload as PostgreSQL's jsonb and UTF-8 can hold it: no NUL characters, no lone surrogates."""
    if isinstance(value, str):
        return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value
