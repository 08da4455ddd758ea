"""API keys in and out of the API."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import Field, ValidationInfo, field_validator

from shared.auth import Role
from shared.schemas import RequestModel, ResponseModel, UnitCode, VietnamTime, integer, text, unit_for_role


class KeyCreate(RequestModel):
    name: Annotated[str, text(200, examples=["Ứng dụng phường Hà Phong"])]
    role: Role
    unit_code: UnitCode | None = Field(
        None, validate_default=True, description="required for ward_app (an active unit), refused otherwise"
    )
    rate_limit_per_minute: Annotated[int, integer(1, 1_000_000)] | None = Field(
        None, description="requests a minute; the role's default when absent"
    )

    @field_validator("unit_code")
    @classmethod
    def _unit_matches_role(cls, unit_code: str | None, info: ValidationInfo) -> str | None:
        return unit_for_role(unit_code, info.data.get("role"), Role.ward_app)


class KeyOut(ResponseModel):
    id: uuid.UUID
    name: str
    role: Role
    unit_code: str | None
    key_hint: str = Field(description="the key's first characters")
    rate_limit_per_minute: int | None
    created_at: VietnamTime
    revoked_at: VietnamTime | None


class KeyCreated(KeyOut):
    key: str = Field(description="the secret; shown this once and never again")
