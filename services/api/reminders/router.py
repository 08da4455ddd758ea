"""HTTP endpoint of the Office's "remind now" (``/v1/directives/{id}/reminders``)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request

from services.api.dependencies import Office, Session
from services.api.reminders import service
from services.api.reminders.schemas import ReminderRequest, RemindersQueued
from services.api.sessions.router import client_address
from shared.openapi import problem_responses
from shared.schemas import Uuid

router = APIRouter(tags=["reminders"])


@router.post(
    "/v1/directives/{directive_id}/reminders",
    response_model=RemindersQueued,
    status_code=202,
    responses=problem_responses({404: "No such directive"}),
)
async def remind_now(
    request: Request, session: Session, principal: Office, directive_id: Uuid, body: ReminderRequest
) -> RemindersQueued:
    """Remind units still without a focal point now, by e-mail and SMS to their official contacts: the
    units named, or every missing unit. At most once per unit per hour; the others are `skipped`."""
    interval = timedelta(minutes=request.app.state.settings.manual_reminder_interval_minutes)
    return await service.remind_now(
        session,
        directive_id,
        body.unit_codes,
        principal=principal,
        interval=interval,
        address=client_address(request),
    )
