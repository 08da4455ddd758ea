"""The audit trail out of the API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from shared.schemas import ResponseModel, VietnamTime

AuditKind = Literal[
    "sign_in",
    "sign_in_failed",
    "sign_in_locked",
    "sign_out",
    "password_changed",
    "person_created",
    "person_disabled",
    "password_reset",
    "reminders_sent",
    "units_imported",
]


class AuditEventOut(ResponseModel):
    id: int
    at: VietnamTime
    kind: AuditKind
    login: str | None = Field(description="the person concerned (for a failed sign-in, the login as typed)")
    client_address: str | None
    detail: dict[str, Any] = Field(description="what else is known: who acted (`by`), a failure's `reason`, ...")
