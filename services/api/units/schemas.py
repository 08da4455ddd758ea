"""Units in and out of the API."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from shared.schemas import AnyPhone, Email, RequestModel, ResponseModel, Text, VietnamTime

_CODE = re.compile(r"^[A-Z0-9][A-Z0-9-]{0,31}$")


def _unit_code(value: object) -> str:
    if not isinstance(value, str) or not _CODE.match(value.strip().upper()):
        raise PydanticCustomError("unit_code_invalid", "invalid unit code")
    return value.strip().upper()


UnitCode = Annotated[str, BeforeValidator(_unit_code)]
UnitKind = Literal["department", "agency", "ward", "commune", "town", "city", "province"]
UnitName = Annotated[Text, Field(max_length=200)]
Headcount = Annotated[int, Field(ge=0, le=1_000_000, strict=True)]


class UnitCreate(RequestModel):
    code: UnitCode = Field(examples=["06652"], description="GSO code for wards/communes, own code (HL-VP) otherwise")
    name: UnitName = Field(examples=["Phường Hà Phong"])
    kind: UnitKind
    parent_code: UnitCode | None = None
    email: Email | None = Field(None, description="the unit's official address")
    phone: AnyPhone | None = Field(None, description="the unit's official number (landline allowed)")
    staff_headcount: Headcount | None = None
    active: bool = True


class UnitPatch(RequestModel):
    """Only the fields sent change; ``null`` clears an optional field."""

    name: UnitName | None = None
    kind: UnitKind | None = None
    parent_code: UnitCode | None = None
    email: Email | None = None
    phone: AnyPhone | None = None
    staff_headcount: Headcount | None = None
    active: bool | None = None


class UnitOut(ResponseModel):
    code: str
    name: str
    kind: str
    parent_code: str | None
    email: str | None
    phone: str | None
    staff_headcount: int | None
    active: bool
    created_at: VietnamTime
    updated_at: VietnamTime


# Fields that must not be cleared with null.
REQUIRED_ON_PATCH = ("name", "kind", "active")
UnitSnapshot = dict[str, str | int | bool | None]


def snapshot(unit: object) -> UnitSnapshot:
    """The audited fields of a unit, for the change log."""
    return {
        f: getattr(unit, f)
        for f in ("code", "name", "kind", "parent_code", "email", "phone", "staff_headcount", "active")
    }
