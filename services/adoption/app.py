"""The adoption service's HTTP app: app events in, adoption metrics out for the operations centre.

Run with ``uvicorn services.adoption.app:create_app --factory --port 8001``.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.adoption.events import router as events
from services.adoption.events.service import collect_garbage_less_often
from services.adoption.events.writer import EventWriter
from services.adoption.metrics import prometheus
from services.adoption.metrics import router as metrics
from services.adoption.metrics.cache import CHANNEL, MetricsCache
from services.adoption.models import idempotency_keys
from services.adoption.settings import AdoptionSettings, get_settings
from services.adoption.subjects import SubjectHasher
from services.adoption.units import router as units
from services.adoption.units.service import UnitCodes
from shared.web import create_service_app

DESCRIPTION = """
How many staff and citizens use the Smart Quảng Ninh app, per unit of Hạ Long, for the operations
centre's screens (dispatch 984/UBND asks every unit to bring all its staff on board). Events from the
app's backend and units' own reports in; summary, per-unit table and time series out, each with an
ETag (poll with `If-None-Match`).
"""


def create_app(settings: AdoptionSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    collect_garbage_less_often()
    cache = MetricsCache()
    app = create_service_app(
        settings,
        service="adoption",
        title="IOC Hạ Long – Adoption",
        description=DESCRIPTION,
        routers=[events.router, metrics.router, units.router, prometheus.router],
        idempotency_table=idempotency_keys,
        max_body_bytes=settings.max_body_bytes,
        listeners=[(CHANNEL, cache.changed, cache.listening)],
    )
    events.document_request_body(app, max_events=settings.max_events_per_request)
    app.state.metrics_cache = cache
    app.state.unit_codes = UnitCodes(cache)
    app.state.event_writer = EventWriter(writers=settings.ingest_writers, max_events=settings.ingest_group_max_events)
    app.state.hasher = SubjectHasher(settings.subject_hmac_key.get_secret_value().encode())
    return app
