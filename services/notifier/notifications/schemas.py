"""Notifications as the Office reads them."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any, Literal

from pydantic import Field

from shared.schemas import ResponseModel, VietnamTime

Status = Literal["created", "sending", "sent", "delivered", "temporary_failure", "permanent_failure", "held_for_cap"]
Channel = Literal["email", "sms", "zalo"]
# What a channel is billed by.
COST_UNITS = {"sms": "sms_segment", "zalo": "zns_message", "email": "email"}


class NotificationOut(ResponseModel):
    id: uuid.UUID
    kind: str = Field(description="what it says (its templates): focal_point_registered, reminder_due, ...")
    channel: Channel
    recipient: str
    recipient_name: str | None
    unit_code: str | None
    directive_id: uuid.UUID | None
    subject: str | None
    body: str = Field(description="for zalo: the text of the SMS that replaces it if Zalo refuses it")
    template_id: str | None = Field(None, description="zalo: the approved ZNS template")
    template_data: dict[str, Any] | None = Field(None, description="zalo: the template's parameters, as sent")
    status: Status
    attempts: int
    provider: str | None
    provider_ref: str | None
    sms_encoding: str | None
    sms_segments: int | None
    cost_units: int | None = Field(description="billed once sent: SMS segments, 1 ZNS message, 0 for e-mail")
    last_error: str | None
    created_at: VietnamTime
    updated_at: VietnamTime
    next_attempt_at: VietnamTime
    sent_at: VietnamTime | None
    delivered_at: VietnamTime | None


class CostRow(ResponseModel):
    month: str = Field(description="Vietnam month, YYYY-MM", examples=["2026-12"])
    channel: Channel
    notifications: int = Field(description="notifications sent (accepted by the provider) that month")
    units: int = Field(description="billed units: SMS segments, ZNS messages, e-mails")
    unit: Literal["sms_segment", "zns_message", "email"]
    unit_price: float = Field(description="VND a unit (IOC_UNIT_PRICES)")
    cost: float = Field(description="estimated VND: units x unit_price")


class Costs(ResponseModel):
    from_: date = Field(alias="from")
    to: date
    currency: Literal["VND"] = "VND"
    months: list[CostRow]
    total: float = Field(description="estimated VND, all channels and months")
