"""Directives in and out of the API."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated

from pydantic import Field

from services.api.units.schemas import UnitCode
from shared.schemas import CalendarDate, Instant, RequestModel, ResponseModel, Text, VietnamTime


class DirectiveCreate(RequestModel):
    number: Annotated[Text, Field(max_length=64, examples=["984/UBND"])]
    title: Annotated[Text, Field(max_length=500)]
    issued_on: Annotated[CalendarDate, Field(description="Vietnam calendar date, YYYY-MM-DD")]
    deadline: Annotated[
        Instant,
        Field(
            description="exclusive: a registration must arrive before this instant",
            examples=["2020-02-15T00:00:00+07:00"],
        ),
    ]
    operation_starts_at: Instant | None = None
    unit_codes: Annotated[list[UnitCode], Field(min_length=1, max_length=5000)]


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
