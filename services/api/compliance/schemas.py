"""The compliance report of a directive (DHIS2 definitions)."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, Field

from shared.schemas import VietnamTime


class FocalPointContact(BaseModel):
    full_name: str
    phone: str
    email: str


class UnitCompliance(BaseModel):
    unit_code: str
    unit_name: str
    unit_kind: str
    status: Literal["on_time", "late", "missing"]
    submitted_at: VietnamTime | None = Field(description="first still-standing submission")
    focal_point: FocalPointContact | None


class Compliance(BaseModel):
    directive_id: uuid.UUID
    number: str
    deadline: VietnamTime
    as_of: VietnamTime
    expected: int = Field(description="units addressed")
    submitted: int
    on_time: int
    late: int
    missing: int
    reporting_rate: float = Field(description="submitted / expected")
    on_time_rate: float = Field(description="on_time / expected")
    units: list[UnitCompliance]
