"""Headcounts and units' own reports in and out of the API."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from shared.schemas import CalendarDate, RequestModel, ResponseModel, VietnamTime
from shared.timeutil import vietnam_today

Count = Annotated[int, Field(ge=0, le=1_000_000, strict=True)]


def _not_in_future(day: date) -> date:
    if day > vietnam_today():
        raise PydanticCustomError("date_in_future", "date in the future")
    return day


AsOf = Annotated[CalendarDate, AfterValidator(_not_in_future), Field(description="Vietnam date the count is true on")]


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

    unit_code: Annotated[str, Field(max_length=32, examples=["06652"])]
    as_of: AsOf
    staff_total: Count
    staff_installed: Count
    citizens_guided: Count

    @model_validator(mode="after")
    def _within_total(self) -> ReportIn:
        if self.staff_installed > self.staff_total:
            raise PydanticCustomError("less_than_equal", "installed above total", {"le": self.staff_total})
        return self


class ReportOut(ResponseModel):
    unit_code: str
    as_of: date
    staff_total: int
    staff_installed: int
    citizens_guided: int
    recorded_at: VietnamTime
