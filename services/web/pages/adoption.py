"""Adoption: every unit's staff and citizen figures, sortable (htmx swaps the table, the URL keeps the
order), and a unit's trend over eight weeks."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.web.access import Screen, caller
from services.web.clients import Apis
from services.web.rendering import render
from shared.timeutil import vietnam_today

router = APIRouter()
COLUMNS = {
    "unit_name": "Đơn vị",
    "staff_rate": "Tỷ lệ cán bộ",
    "staff_adopted": "Cán bộ đã dùng",
    "staff_total": "Tổng cán bộ",
    "citizens_adopted": "Người dân",
    "change_7d": "Tăng 7 ngày",
}


@router.get("/ap-dung")
async def adoption(request: Request, session: Screen, sort: str = "staff_rate", order: str = "asc") -> Response:
    sort = sort if sort in COLUMNS else "staff_rate"
    order = order if order in ("asc", "desc") else "asc"
    apis: Apis = request.app.state.apis
    who = caller(request, session)
    summary, rows = await asyncio.gather(
        apis.get_json("adoption", "/v1/adoption/summary", who),
        apis.get_json("adoption", "/v1/adoption/units", who, sort=sort, order=order),
    )
    context = {"summary": summary, "rows": rows, "sort": sort, "order": order, "columns": COLUMNS, "nav": "adoption"}
    if request.headers.get("hx-request") and request.headers.get("hx-target") == "adoption-table":
        return render(request, "adoption/_table.html", **context)
    return render(request, "adoption/index.html", **context)


@router.get("/ap-dung/{code}")
async def unit_trend(request: Request, session: Screen, code: str) -> Response:
    apis: Apis = request.app.state.apis
    who = caller(request, session)
    today = vietnam_today()
    rows, series = await asyncio.gather(
        apis.get_json("adoption", "/v1/adoption/units", who),
        apis.get_json(
            "adoption",
            "/v1/adoption/timeseries",
            who,
            unit_code=code,
            interval="day",
            **{"from": (today - timedelta(days=55)).isoformat(), "to": today.isoformat()},
        ),
    )
    row = next((r for r in rows if r["unit_code"] == code.upper()), None)
    points = series["points"]
    chart = {
        "days": [p["period_end"] for p in points],
        "staff": [p["staff_adopted"] for p in points],
        "citizens": [p["citizens_adopted"] for p in points],
    }
    return render(
        request,
        "adoption/unit.html",
        nav="adoption",
        row=row,
        code=code.upper(),
        points=points,
        chart=json.dumps(chart).replace("<", "\\u003c"),
    )
