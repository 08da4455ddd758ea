"""``GET /v1/notifications``: what was sent to whom, why, when, through which provider, and its state."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from services.notifier.notifications import service
from services.notifier.notifications.schemas import Channel, NotificationOut, Status
from shared.auth import Principal, Role, require
from shared.openapi import link
from shared.pagination import Cursor, Limit, Page
from shared.schemas import UnitCode, Uuid
from shared.web import Session

router = APIRouter(tags=["notifications"])


@router.get(
    "/v1/notifications",
    response_model=Page[NotificationOut],
    responses={
        200: {
            "links": {
                "NextPage": link("get", "/v1/notifications", "The next page", cursor="$response.body#/next_cursor"),
                "SameUnit": link(
                    "get", "/v1/notifications", "The first one's unit", unit_code="$response.body#/items/0/unit_code"
                ),
            }
        }
    },
)
async def list_notifications(
    session: Session,
    principal: Annotated[Principal, Depends(require(Role.office))],
    status: Status | None = None,
    channel: Channel | None = None,
    unit_code: Annotated[UnitCode | None, Query(description="unit code (either case)")] = None,
    directive_id: Annotated[Uuid | None, Query()] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[NotificationOut]:
    """Notifications, newest first, filtered (Office only)."""
    rows, next_cursor = await service.list_notifications(
        session,
        status=status,
        channel=channel,
        unit_code=unit_code,
        directive_id=directive_id,
        limit=limit,
        cursor=cursor,
    )
    return Page[NotificationOut](items=[NotificationOut.model_validate(r) for r in rows], next_cursor=next_cursor)
