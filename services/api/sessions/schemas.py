"""Sign-in sessions in and out of the API."""

from __future__ import annotations

import uuid
from typing import Annotated

from pydantic import Field

from services.api.people.passwords import MIN_LENGTH
from services.api.people.schemas import PersonRole
from shared.schemas import RequestModel, ResponseModel, VietnamTime, secret


class SignIn(RequestModel):
    login: Annotated[str, secret(1, 200, password=False, examples=["ha-phong"])] = Field(
        description="the login, in any case"
    )
    password: Annotated[str, secret(1, 1024)]


class SessionPerson(ResponseModel):
    id: uuid.UUID
    login: str
    display_name: str
    role: PersonRole
    unit_code: str | None
    must_change_password: bool = Field(
        description="while true, the token works on /v1/sessions/current* only (403 password_change_required)"
    )


class SessionOut(ResponseModel):
    expires_at: VietnamTime = Field(description="when the session ends unless it is used before")
    person: SessionPerson


class SessionCreated(SessionOut):
    token: str = Field(
        description="`ses_` and 43 characters: send it as `Authorization: Bearer <token>` to every service; "
        "shown this once"
    )


class PasswordChange(RequestModel):
    current_password: Annotated[str, secret(1, 1024)]
    new_password: Annotated[str, secret(MIN_LENGTH, 1024)] = Field(
        description=f"at least {MIN_LENGTH} characters, not the login"
    )
