"""Units in and out of the API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from shared.schemas import (
    AnyPhone,
    Boolean,
    Email,
    RequestModel,
    ResponseModel,
    UnitCode,
    VietnamTime,
    integer,
    or_empty,
    text,
)

__all__ = ["ImportCounts", "UnitCode", "UnitCreate", "UnitKind", "UnitOut", "UnitPatch"]

UnitKind = Literal["department", "agency", "ward", "commune", "town", "city", "province"]
UnitName = Annotated[str, text(200, examples=["Phường Hà Phong"])]
Headcount = Annotated[int, integer(0, 1_000_000)]


class UnitCreate(RequestModel):
    code: UnitCode = Field(description="GSO code for wards/communes, own code (HL-VP) otherwise")
    name: UnitName
    kind: UnitKind
    parent_code: UnitCode | None = None
    email: Email | None = Field(None, description="the unit's official address")
    phone: AnyPhone | None = Field(None, description="the unit's official number (landline allowed)")
    staff_headcount: Headcount | None = None
    active: Boolean | None = Field(True, description="false: a retired unit (kept with its history)")


class UnitPatch(RequestModel):
    """Only the fields sent change; ``null`` changes nothing; ``""`` clears ``parent_code``, ``email``
    or ``phone``."""

    name: UnitName | None = None
    kind: UnitKind | None = None
    # "" is what a form sends for an emptied field.
    parent_code: Annotated[str, or_empty(UnitCode)] | None = None
    email: Annotated[str, or_empty(Email)] | None = None
    phone: Annotated[str, or_empty(AnyPhone)] | None = None
    staff_headcount: Headcount | None = None
    active: Boolean | None = None

    def changes(self) -> dict[str, object]:
        """The fields sent, with "" (cleared) as None."""
        return {k: (None if v == "" else v) for k, v in self.model_dump(exclude_unset=True).items()}


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


UnitSnapshot = dict[str, str | int | bool | None]


def snapshot(unit: object) -> UnitSnapshot:
    """The audited fields of a unit, for the change log."""
    return {
        f: getattr(unit, f)
        for f in ("code", "name", "kind", "parent_code", "email", "phone", "staff_headcount", "active")
    }


class ImportCounts(ResponseModel):
    created: int
    updated: int
    unchanged: int
