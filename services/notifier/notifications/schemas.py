"""Notifications as the Office reads them."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field

from shared.schemas import ResponseModel, VietnamTime

Status = Literal["created", "sending", "sent", "delivered", "temporary_failure", "permanent_failure", "held_for_cap"]
Channel = Literal["email", "sms"]


class NotificationOut(ResponseModel):
    id: uuid.UUID
    kind: str = Field(description="what it says (its templates): focal_point_registered, reminder_due, ...")
    channel: Channel
    recipient: str
    recipient_name: str | None
    unit_code: str | None
    directive_id: uuid.UUID | None
    subject: str | None
    body: str
    status: Status
    attempts: int
    provider: str | None
    provider_ref: str | None
    sms_encoding: str | None
    sms_segments: int | None
    last_error: str | None
    created_at: VietnamTime
    updated_at: VietnamTime
    next_attempt_at: VietnamTime
    sent_at: VietnamTime | None
    delivered_at: VietnamTime | None
