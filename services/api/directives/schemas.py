"""Directives in and out of the API."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from pydantic import Field

from shared.schemas import CalendarDate, Instant, RequestModel, ResponseModel, UnitCode, VietnamTime, text


class DirectiveCreate(RequestModel):
    number: Annotated[str, text(64, examples=["984/UBND"])]
    title: Annotated[str, text(500, examples=["Chuẩn bị vận hành chính thức Trung tâm điều hành thành phố thông minh"])]
    issued_on: CalendarDate = Field(description="Vietnam calendar date")
    deadline: Instant = Field(
        description="exclusive: a registration must arrive before this instant; after the start of `issued_on`"
    )
    operation_starts_at: Instant | None = Field(None, description="when operation starts (the go-live notice)")
    unit_codes: Annotated[list[UnitCode], Field(min_length=1, max_length=5000)] = Field(
        description="the units addressed, each once (codes compare case-insensitively); active units only",
        examples=[["06652", "HL-VP"]],
        json_schema_extra={"uniqueItems": True},
    )


class DirectiveOut(ResponseModel):
    id: uuid.UUID
    number: str
    title: str
    issued_on: date
    deadline: VietnamTime
    operation_starts_at: VietnamTime | None
    unit_codes: list[str]
    created_at: VietnamTime


def directive_out(directive: object, unit_codes: list[str]) -> DirectiveOut:
    fields = {
        f: getattr(directive, f)
        for f in ("id", "number", "title", "issued_on", "deadline", "operation_starts_at", "created_at")
    }
    return DirectiveOut(**fields, unit_codes=unit_codes)
