"""``GET /metrics``: the request metrics every service serves (``shared/metrics.py``), and each unit's
adoption as gauges, read from the aggregates at scrape time. Behind an ``office`` or ``ops_centre``
key: the gauges carry every unit's figures."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Gauge, generate_latest

from services.adoption.metrics import service
from shared.auth import monitoring

STAFF_RATE = Gauge("ioc_adoption_staff_rate", "Adopted staff / headcount", ["unit_code"])
STAFF_ADOPTED = Gauge("ioc_adoption_staff_adopted", "Staff counted as adopted", ["unit_code", "source"])
CITIZENS_ADOPTED = Gauge("ioc_adoption_citizens_adopted", "Citizens counted as adopted", ["unit_code", "source"])

router = APIRouter()


@router.get("/metrics", include_in_schema=False, dependencies=[Depends(monitoring)])
async def metrics(request: Request) -> Response:
    """Request metrics, and per-unit adoption gauges (read from the aggregates at scrape time)."""
    rows = await service.unit_rows(request.app.state.pg, target=request.app.state.settings.target_staff_rate)
    for gauge in (STAFF_RATE, STAFF_ADOPTED, CITIZENS_ADOPTED):
        gauge.clear()
    for row in rows:
        if row.staff_rate is not None:
            STAFF_RATE.labels(row.unit_code).set(row.staff_rate)
        STAFF_ADOPTED.labels(row.unit_code, row.source).set(row.staff_adopted)
        CITIZENS_ADOPTED.labels(row.unit_code, row.source).set(row.citizens_adopted)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
