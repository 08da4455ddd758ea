"""Adoption figures as the operations centre's screens read them."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from shared.schemas import VietnamTime

Source = Literal["measured", "self_reported", "none"]


class UnitRow(BaseModel):
    unit_code: str
    unit_name: str
    kind: str
    staff_total: int | None = Field(description="the unit's headcount (null: unknown)")
    staff_adopted: int
    staff_rate: float | None = Field(description="staff_adopted / staff_total; null without a headcount")
    citizens_adopted: int
    change_7d: int | None = Field(description="staff adopted in the last 7 days (measured units only)")
    last_event_at: VietnamTime | None
    source: Source = Field(description="measured from app events, self-reported by the unit, or none")
    reported_as_of: date | None = Field(description="date of the unit's own report, when self-reported")
    at_target: bool | None


class Summary(BaseModel):
    as_of: VietnamTime
    target_rate: float
    staff_total: int = Field(description="staff of the units with a known headcount")
    staff_adopted: int
    staff_rate: float | None
    citizens_adopted: int
    units: int
    units_at_target: int
    units_lagging: int
    units_without_headcount: int
    units_measured: int
    units_self_reported: int


class Point(BaseModel):
    period_start: date
    period_end: date
    staff_adopted: int = Field(description="adopted at the end of the period (cumulative)")
    citizens_adopted: int


class Timeseries(BaseModel):
    unit_code: str | None = Field(description="null: the whole city")
    interval: Literal["day", "week"]
    from_: date = Field(alias="from")
    to: date
    measured_only: bool = Field(True, description="self-reported figures have no history")
    points: list[Point]
