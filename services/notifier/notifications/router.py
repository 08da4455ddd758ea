"""``GET /v1/notifications``: what was sent to whom, why, when, through which provider, and its state."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from services.notifier.notifications import service
from services.notifier.notifications.schemas import Channel, Costs, NotificationOut, Status
from shared.auth import Principal, Role, require
from shared.openapi import link
from shared.pagination import Cursor, Limit, Page
from shared.schemas import CalendarDate, UnitCode, Uuid
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


@router.get("/v1/notifications/costs", response_model=Costs)
async def notification_costs(
    request: Request,
    session: Session,
    principal: Annotated[Principal, Depends(require(Role.office))],
    from_: Annotated[
        CalendarDate | None, Query(alias="from", description="Vietnam date; default the first day of this month")
    ] = None,
    to: Annotated[CalendarDate | None, Query(description="Vietnam date, included; default today")] = None,
) -> Costs:
    """Notifications sent and their estimated cost, per Vietnam month and channel (Office only): SMS
    by segment, Zalo by message, at the unit prices of the settings (`IOC_UNIT_PRICES`)."""
    start, end = service.cost_range(from_, to)
    return await service.costs(session, start=start, end=end, prices=request.app.state.settings.unit_prices)
