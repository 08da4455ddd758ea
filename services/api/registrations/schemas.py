"""Focal-point registrations in and out of the API."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import Field

from services.api.units.schemas import UnitCode
from shared.schemas import Email, MobilePhone, OptionalText, RequestModel, ResponseModel, Text, VietnamTime


class RegistrationCreate(RequestModel):
    directive_id: uuid.UUID
    unit_code: UnitCode
    full_name: Annotated[Text, Field(max_length=200, examples=["Nguyễn Văn An"])]
    position: Annotated[OptionalText, Field(max_length=200, examples=["Chuyên viên"])] = None
    phone: Annotated[
        MobilePhone, Field(max_length=32, description="Vietnamese mobile, any usual form", examples=["0912 345 678"])
    ]
    email: Annotated[Email, Field(max_length=254, examples=["an.nv@halong.gov.vn"])]
    note: Annotated[OptionalText, Field(max_length=2000)] = None


class Withdrawal(RequestModel):
    reason: Annotated[Text, Field(max_length=1000)]


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


# The fields a ward app sends; two registrations with equal values are the same nomination.
NOMINATION_FIELDS = ("full_name", "position", "phone", "email", "note")
