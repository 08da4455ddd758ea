"""Headcounts and units' own reports in and out of the API."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AfterValidator, Field, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from shared.schemas import CalendarDate, RequestModel, ResponseModel, UnitCode, VietnamTime, integer
from shared.timeutil import vietnam_today

Count = Annotated[int, integer(0, 1_000_000)]


def _not_in_future(day: date) -> date:
    if day > vietnam_today():
        raise PydanticCustomError("date_in_future", "date in the future")
    return day


AsOf = Annotated[
    CalendarDate,
    AfterValidator(_not_in_future),
    Field(description="Vietnam date the count is true on; today at the latest"),
]


class HeadcountIn(RequestModel):
    staff: Count = Field(examples=[45])
    as_of: AsOf


class HeadcountOut(ResponseModel):
    unit_code: str
    staff: int
    as_of: date
    recorded_at: VietnamTime


class ReportIn(RequestModel):
    """A unit's own count, for units with no event feed."""

    unit_code: UnitCode
    as_of: AsOf
    staff_total: Count
    staff_installed: Count = Field(description="at most staff_total")
    citizens_guided: Count

    @field_validator("staff_installed")
    @classmethod
    def _within_total(cls, installed: int, info: ValidationInfo) -> int:
        total = info.data.get("staff_total")
        if total is not None and installed > total:
            raise PydanticCustomError("installed_above_total", "installed above total", {"le": total})
        return installed


class ReportOut(ResponseModel):
    unit_code: str
    as_of: date
    staff_total: int
    staff_installed: int
    citizens_guided: int
    recorded_at: VietnamTime
