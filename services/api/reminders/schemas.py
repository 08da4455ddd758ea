"""The Office's "remind now" in and out of the API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from shared.schemas import RequestModel, ResponseModel, UnitCode


class ReminderRequest(RequestModel):
    unit_codes: Annotated[list[UnitCode], Field(min_length=1, max_length=5000)] | None = Field(
        None,
        description="the units to remind, each once (active units); absent or null: every unit still missing",
        examples=[["06652"]],
        json_schema_extra={"uniqueItems": True},
    )


class Skipped(BaseModel):
    unit_code: str
    reason: Literal["registered", "reminded_recently", "not_addressed"] = Field(
        description="registered: it has a focal point; reminded_recently: within the last hour; "
        "not_addressed: the directive does not address it"
    )


class RemindersQueued(ResponseModel):
    queued: list[str] = Field(description="the units whose official contacts are being reminded")
    skipped: list[Skipped]
