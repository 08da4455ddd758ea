"""The notifier's HTTP app: the Office's view of notifications, SMS delivery receipts, health, metrics.

Run with ``uvicorn services.notifier.app:create_app --factory --port 8002``.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from sqlalchemy import func, select

from services.notifier.models import Notification, idempotency_keys
from services.notifier.notifications.router import router as notifications_router
from services.notifier.receipts import router as receipts_router
from services.notifier.settings import NotifierSettings, get_settings
from shared.auth import Role, monitoring
from shared.web import create_service_app

NOTIFICATIONS = Gauge("ioc_notifications", "Notifications by channel and status", ["channel", "status"])


metrics_router = APIRouter()


@metrics_router.get("/metrics", include_in_schema=False, dependencies=[Depends(monitoring)])
async def metrics(request: Request) -> Response:
    """Request metrics, and the notifications by channel and status (counted at scrape time)."""
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


def create_app(settings: NotifierSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    return create_service_app(
        settings,
        service="notifier",
        title="IOC Hạ Long – Notifier",
        description="E-mail and SMS to focal points, units and the Office: what was sent, to whom, and its state.",
        routers=[notifications_router, receipts_router, metrics_router],
        idempotency_table=idempotency_keys,
        max_body_bytes=settings.max_body_bytes,
        rate_limits={Role.office: 600, Role.ops_centre: 600, Role.ward_app: 120, Role.app_backend: 600},
    )
