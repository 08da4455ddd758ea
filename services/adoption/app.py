"""The adoption service's HTTP app: app events in, adoption metrics out for the operations centre.

Run with ``uvicorn services.adoption.app:create_app --factory --port 8001``.
"""

from __future__ import annotations

import gc

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest
from pydantic import TypeAdapter

from services.adoption.events.router import router as events_router
from services.adoption.events.schemas import EventBatchIn
from services.adoption.events.service import ActiveUnits
from services.adoption.events.writer import EventWriter
from services.adoption.metrics.cache import CHANNEL, MetricsCache
from services.adoption.metrics.router import router as metrics_router
from services.adoption.metrics.service import unit_rows
from services.adoption.models import idempotency_keys
from services.adoption.settings import AdoptionSettings, get_settings
from services.adoption.subjects import SubjectHasher
from services.adoption.units.router import router as units_router
from shared.auth import Role, monitoring
from shared.openapi import problem_document
from shared.web import create_service_app

DESCRIPTION = """
How many staff and citizens use the Smart Quảng Ninh app, per unit of Hạ Long, for the operations
centre's screens (dispatch 984/UBND asks every unit to bring all its staff on board). Events from the
app's backend and units' own reports in; summary, per-unit table and time series out, each with an
ETag (poll with `If-None-Match`).
"""

STAFF_RATE = Gauge("ioc_adoption_staff_rate", "Adopted staff / headcount", ["unit_code"])
STAFF_ADOPTED = Gauge("ioc_adoption_staff_adopted", "Staff counted as adopted", ["unit_code", "source"])
CITIZENS_ADOPTED = Gauge("ioc_adoption_citizens_adopted", "Citizens counted as adopted", ["unit_code", "source"])

prometheus_router = APIRouter()


@prometheus_router.get("/metrics", include_in_schema=False, dependencies=[Depends(monitoring)])
async def metrics(request: Request) -> Response:
    """Request metrics, and per-unit adoption gauges (read from the aggregates at scrape time)."""
    async with request.app.state.pg.acquire() as conn:
        rows = await unit_rows(conn, target=request.app.state.settings.target_staff_rate)
    for gauge in (STAFF_RATE, STAFF_ADOPTED, CITIZENS_ADOPTED):
        gauge.clear()
    for row in rows:
        if row.staff_rate is not None:
            STAFF_RATE.labels(row.unit_code).set(row.staff_rate)
        STAFF_ADOPTED.labels(row.unit_code, row.source).set(row.staff_adopted)
        CITIZENS_ADOPTED.labels(row.unit_code, row.source).set(row.citizens_adopted)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


# Allocations net of frees before the young generation is collected (CPython's default: 700). A
# batch of 1,000 events allocates thousands of short-lived containers (decoded events, rows, hashes),
# so at the default threshold the collector runs several times a request, only to find objects that
# are freed moments later anyway; those runs are a visible share of the ingest's CPU
# (docs/performance.md). Cycles are still collected, less often.
GC_YOUNG_THRESHOLD = 50_000


def create_app(settings: AdoptionSettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])
    cache = MetricsCache()
    app = create_service_app(
        settings,
        service="adoption",
        title="IOC Hạ Long – Adoption",
        description=DESCRIPTION,
        routers=[events_router, metrics_router, units_router, prometheus_router],
        idempotency_table=idempotency_keys,
        max_body_bytes=settings.max_body_bytes,
        rate_limits={Role.app_backend: 6000, Role.office: 600, Role.ops_centre: 1200, Role.ward_app: 120},
        listeners=[(CHANNEL, cache.changed, cache.listening)],
    )
    app.state.metrics_cache = cache
    app.state.active_units = ActiveUnits(cache)
    app.state.event_writer = EventWriter(writers=settings.ingest_writers, max_events=settings.ingest_group_max_events)
    app.state.hasher = SubjectHasher(settings.subject_hmac_key.get_secret_value().encode())

    def openapi() -> dict:
        """The generated document, plus the event batch's schema (its route reads the raw body)."""
        if app.openapi_schema is None:
            schema = problem_document(app)
            batch = TypeAdapter(EventBatchIn).json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(batch.pop("$defs", {}))
            batch["properties"]["events"]["maxItems"] = settings.max_events_per_request
            components["EventBatchIn"] = batch
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
