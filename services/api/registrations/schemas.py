"""Focal-point registrations in and out of the API."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import Field

from shared.schemas import (
    Email,
    MobilePhone,
    RequestModel,
    ResponseModel,
    UnitCode,
    Uuid,
    VietnamTime,
    optional_text,
    text,
)


class RegistrationCreate(RequestModel):
    directive_id: Uuid
    unit_code: UnitCode
    full_name: Annotated[str, text(200, examples=["Nguyễn Văn An"])]
    position: Annotated[str | None, optional_text(200, examples=["Chuyên viên"])] = None
    phone: MobilePhone
    email: Email
    note: Annotated[str | None, optional_text(2000, examples=["Kỹ sư công nghệ thông tin"])] = None


class Withdrawal(RequestModel):
    reason: Annotated[str, text(1000, examples=["Chuyển công tác"])]


class RegistrationOut(ResponseModel):
    id: uuid.UUID
    directive_id: uuid.UUID
    unit_code: str
    version: int
    status: Literal["active", "superseded", "withdrawn"]
    full_name: str
    position: str | None
    phone: str = Field(description="E.164")
    email: str
    note: str | None
    submitted_at: VietnamTime
    on_time: bool = Field(description="received before the directive's deadline")
    ended_at: VietnamTime | None = Field(None, description="when it was superseded or withdrawn")
    withdraw_reason: str | None = None


# What a registration nominates: every field a ward app sends but the directive and the unit it is
# for. Two registrations with equal values are the same nomination.
NOMINATION_FIELDS = tuple(name for name in RegistrationCreate.model_fields if name not in ("directive_id", "unit_code"))
