"""Delivery reports: ``POST /v1/sms/receipts/{gateway}?token=…`` from the SMS gateways, and
``POST /v1/zalo/events`` from Zalo's webhook (signed)."""

from __future__ import annotations

import json
import secrets
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Path, Request
from fastapi.security import APIKeyHeader, APIKeyQuery

from services.notifier.receipts import service
from services.notifier.receipts.schemas import (
    DOCUMENTED,
    FORM,
    GATEWAY_PATTERN,
    RECEIPT_BODY,
    ZALO_EVENT_BODY,
    storable,
    text_or_integer,
)
from shared.problems import AppError, FieldError, is_json

router = APIRouter(tags=["receipts"])

_token = APIKeyQuery(
    name="token",
    scheme_name="ReceiptToken",
    auto_error=False,
    description="The secret in the callback URL the notifier gives the gateway (IOC_RECEIPT_TOKEN).",
)


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
    payload = storable(await _payload(request))
    async with request.app.state.sessions() as session:
        return {"applied": await service.record(session, gateway, payload)}


_signature = APIKeyHeader(
    name="X-ZEvent-Signature",
    scheme_name="ZaloSignature",
    auto_error=False,
    description="mac= and the hex SHA-256 of app_id, the raw body, timestamp and the OA secret key (Zalo's rule).",
)


@router.post(
    "/v1/zalo/events",
    summary="Zalo's webhook: ZNS delivery receipts",
    openapi_extra={"requestBody": ZALO_EVENT_BODY},
)
async def zalo_event(request: Request, signature: Annotated[str | None, Depends(_signature)] = None) -> dict[str, bool]:
    """Record a ZNS delivery receipt (`applied`: it moved the message to `delivered`; a repeated or
    late one changes nothing). A missing or wrong signature is 401 and changes nothing."""
    body = await request.body()
    if not is_json(request.headers.get("content-type")):
        raise AppError(415, "unsupported-media-type")
    try:
        event = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        event = None
    if not isinstance(event, dict) or not service.zalo_signature_ok(request.app.state.settings, body, event, signature):
        raise AppError(401, "unauthorized")
    message = event.get("message")
    if message is not None and not isinstance(message, dict):
        raise AppError(422, "validation-error", errors=[FieldError("message", "dict_type")])
    wrong = [name for name in ("tracking_id", "msg_id") if not text_or_integer((message or {}).get(name))]
    if wrong:
        raise AppError(422, "validation-error", errors=[FieldError(f"message.{n}", "text_or_integer") for n in wrong])
    async with request.app.state.sessions() as session:
        return {"applied": await service.record_zalo(session, storable(event))}


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
    wrong = [name for name in DOCUMENTED if not text_or_integer(fields.get(name))]
    if wrong:
        raise AppError(422, "validation-error", errors=[FieldError(name, "text_or_integer") for name in wrong])
    return payload | fields
