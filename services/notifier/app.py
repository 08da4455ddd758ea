"""The notifier's HTTP app: the Office's view of notifications, SMS delivery receipts, health, metrics.

Run with ``uvicorn services.notifier.app:create_app --factory --port 8002``.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.notifier.metrics import router as metrics_router
from services.notifier.models import idempotency_keys
from services.notifier.notifications.router import router as notifications_router
from services.notifier.receipts.router import router as receipts_router
from services.notifier.settings import NotifierSettings, get_settings
from shared.web import create_service_app


def create_app(settings: NotifierSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    return create_service_app(
        settings,
        service="notifier",
        title="IOC Hạ Long – Notifier",
        description=(
            "E-mail, SMS and Zalo (ZNS) to focal points, units and the Office: what was sent, to whom, its state"
            " and its cost."
        ),
        routers=[notifications_router, receipts_router, metrics_router],
        idempotency_table=idempotency_keys,
        max_body_bytes=settings.max_body_bytes,
    )
