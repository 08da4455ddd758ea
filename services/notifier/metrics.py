"""``/metrics`` of the notifier's HTTP app: request metrics, and the notifications by channel and status,
counted at scrape time (the worker's own metrics, sends by outcome among them, are on its own port)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from sqlalchemy import func, select

from services.notifier.models import Notification
from shared.auth import monitoring

NOTIFICATIONS = Gauge("ioc_notifications", "Notifications by channel and status", ["channel", "status"])

router = APIRouter()


@router.get("/metrics", include_in_schema=False, dependencies=[Depends(monitoring)])
async def metrics(request: Request) -> Response:
    async with request.app.state.sessions() as session:
        rows = await session.execute(
            select(Notification.channel, Notification.status, func.count()).group_by(
                Notification.channel, Notification.status
            )
        )
    NOTIFICATIONS.clear()
    for channel, status, count in rows:
        NOTIFICATIONS.labels(channel, status).set(count)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
