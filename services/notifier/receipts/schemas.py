"""Delivery reports as they arrive, an SMS gateway's and Zalo's webhook events: their documented
fields, and the rules they follow."""

from __future__ import annotations

from typing import Any

from services.notifier.models import Receipt

FORM = "application/x-www-form-urlencoded"
STATUS_LENGTH = Receipt.status.type.length
GATEWAY_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,59}$"  # "sms:" and the name fit Receipt.provider
DOCUMENTED = ("RequestId", "SMSID", "SendStatus")

_FIELDS = {"type": ["string", "integer", "null"]}
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


def field(payload: dict[str, Any], *names: str) -> str | None:
    """The first of ``names`` the payload has (any case), as text."""
    lowered = {k.lower(): v for k, v in payload.items()}
    for name in names:
        value = lowered.get(name.lower())
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if value not in (None, ""):
            return str(value)
    return None


def text_or_integer(value: object) -> bool:
    """What the documented fields hold: text, a JSON integer (5 or 5.0), or null (absent)."""
    if isinstance(value, float):
        return value.is_integer()
    return value is None or (isinstance(value, str | int) and not isinstance(value, bool))


def storable(value: Any) -> Any:
    """The payload as PostgreSQL's jsonb and UTF-8 can hold it: no NUL characters, no lone surrogates."""
    if isinstance(value, str):
        return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {storable(k): storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v) for v in value]
    return value


# Zalo's webhook event (ZNS "user_received_message"): the fields this service reads.
ZALO_EVENT_BODY = {
    "required": True,
    "description": "A Zalo OA webhook event, signed in X-ZEvent-Signature; ZNS delivery receipts are "
    '"user_received_message", other events are answered and ignored.',
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "app_id": {"type": ["string", "null"], "description": "the Zalo app (IOC_ZALO_APP_ID)"},
                    "event_name": {"type": ["string", "null"], "description": "user_received_message"},
                    "timestamp": {"type": ["string", "integer", "null"], "description": "milliseconds, signed"},
                    "message": {
                        "type": ["object", "null"],
                        "properties": {
                            "msg_id": {**_FIELDS, "description": "ZNS's id of the message"},
                            "tracking_id": {**_FIELDS, "description": "our notification id, as sent"},
                            "delivery_time": {"type": ["string", "integer", "null"]},
                        },
                    },
                },
                "additionalProperties": True,
            }
        }
    },
}
