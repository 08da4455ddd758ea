"""People's accounts in and out of the API."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from shared.schemas import Boolean, Login, RequestModel, ResponseModel, UnitCode, VietnamTime, text, unit_for_role

PersonRole = Literal["office", "ops_centre", "unit"]


class PersonCreate(RequestModel):
    login: Login = Field(description="3 to 64 letters, digits, `.`, `-` or `_`; stored lower-case, unique")
    display_name: Annotated[str, text(200, examples=["Nguyễn Thị Lan"])]
    role: PersonRole = Field(description="office, ops_centre, or unit (a ward's or department's official)")
    unit_code: UnitCode | None = Field(
        None, validate_default=True, description="required for role unit (an active unit), refused otherwise"
    )
    must_change_password: Boolean | None = Field(
        True, description="ask for a new password at the first sign-in (the default); false for demo accounts"
    )

    @field_validator("unit_code")
    @classmethod
    def _unit_matches_role(cls, unit_code: str | None, info: ValidationInfo) -> str | None:
        return unit_for_role(unit_code, info.data.get("role"), "unit")


class PersonOut(ResponseModel):
    id: uuid.UUID
    login: str
    display_name: str
    role: PersonRole
    unit_code: str | None
    must_change_password: bool
    created_at: VietnamTime
    password_changed_at: VietnamTime
    disabled_at: VietnamTime | None


class PersonWithPassword(PersonOut):
    password: str = Field(description="the one-time password, shown this once; it must be changed at first sign-in")
