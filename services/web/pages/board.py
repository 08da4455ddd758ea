"""The Office's board: directives, a directive's compliance table (filters in the URL, swapped by
htmx), a unit's focal point with its history and notifications, reminders sent now, and exports."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from services.web.access import Csrf, Office, caller
from services.web.clients import ApiError, Apis
from services.web.rendering import render
from shared.text import fold_for_search
from shared.timeutil import VIETNAM, vietnam_today

router = APIRouter()
STATUSES = ("missing", "late", "on_time")
SKIP_REASONS = {
    "registered": "đã cử đầu mối",
    "reminded_recently": "đã được nhắc trong vòng một giờ",
    "not_addressed": "không thuộc chỉ thị",
}


def _apis(request: Request) -> Apis:
    apis: Apis = request.app.state.apis
    return apis


@router.get("/")
async def directives(request: Request, session: Office) -> Response:
    page = await _apis(request).get_json("registry", "/v1/directives", caller(request, session), limit=200)
    return render(request, "board/index.html", nav="board", directives=page["items"])


@router.get("/chi-thi/moi")
async def new_directive(request: Request, session: Office) -> Response:
    units = await _apis(request).get_json("registry", "/v1/units", caller(request, session), active="true")
    values = {
        "issued_on": vietnam_today().isoformat(),
        "deadline_time": "00:00",
        "unit_codes": {u["code"] for u in units},
    }
    return render(request, "board/new.html", nav="board", units=units, values=values, errors={})


@router.post("/chi-thi/moi", dependencies=[Csrf])
async def create_directive(request: Request, session: Office) -> Response:
    form = await request.form()
    values: dict[str, Any] = {
        k: str(form.get(k, "")).strip() for k in ("number", "title", "issued_on", "deadline_date", "deadline_time")
    }
    values["unit_codes"] = {str(code) for code in form.getlist("unit_codes")}
    errors: dict[str, str] = {}
    deadline = _instant(values["deadline_date"], values["deadline_time"] or "00:00")
    if not values["number"]:
        errors["number"] = "Nhập số hiệu chỉ thị, ví dụ 984/UBND"
    if not values["title"]:
        errors["title"] = "Nhập trích yếu"
    if not _is_date(values["issued_on"]):
        errors["issued_on"] = "Nhập ngày ban hành"
    if deadline is None:
        errors["deadline_date"] = "Nhập ngày và giờ hết hạn"
    if not values["unit_codes"]:
        errors["unit_codes"] = "Chọn ít nhất một đơn vị"
    who = caller(request, session)
    if not errors:
        body = {
            "number": values["number"],
            "title": values["title"],
            "issued_on": values["issued_on"],
            "deadline": deadline,
            "unit_codes": sorted(values["unit_codes"]),
        }
        try:
            created = await _apis(request).post_json(
                "registry",
                "/v1/directives",
                who,
                body,
                headers={"Idempotency-Key": str(form.get("idempotency_key") or uuid.uuid4())},
            )
        except ApiError as exc:
            if exc.status not in (409, 422):
                raise
            errors = {("deadline_date" if k == "deadline" else k): v for k, v in exc.field_errors().items()} or {
                "number": exc.detail
            }
        else:
            return RedirectResponse(f"/chi-thi/{created['id']}", status_code=303)
    units = await _apis(request).get_json("registry", "/v1/units", who, active="true")
    return render(request, "board/new.html", 422, nav="board", units=units, values=values, errors=errors)


def _is_date(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _instant(day: str, clock: str) -> str | None:
    try:
        return datetime.combine(date.fromisoformat(day), time.fromisoformat(clock), tzinfo=VIETNAM).isoformat()
    except ValueError:
        return None


def filter_rows(rows: list[dict[str, Any]], status: str, kind: str, q: str) -> list[dict[str, Any]]:
    """The rows with the status and kind asked for, whose unit or focal point matches ``q`` without accents."""
    needle = fold_for_search(q) if q else ""
    return [
        row
        for row in rows
        if (not status or row["status"] == status)
        and (not kind or row.get("unit_kind") == kind)
        and (
            not needle
            or needle
            in fold_for_search(
                f"{row['unit_name']} {row['unit_code']} {(row.get('focal_point') or {}).get('full_name', '')}"
            )
        )
    ]


@router.get("/chi-thi/{directive_id}")
async def directive(
    request: Request, session: Office, directive_id: uuid.UUID, status: str = "", kind: str = "", q: str = ""
) -> Response:
    who = caller(request, session)
    apis = _apis(request)
    found, compliance = await asyncio.gather(
        apis.get_json("registry", f"/v1/directives/{directive_id}", who),
        apis.get_json("registry", f"/v1/directives/{directive_id}/compliance", who),
    )
    status = status if status in STATUSES else ""
    rows = filter_rows(compliance["units"], status, kind, q.strip())
    kinds = sorted({row.get("unit_kind") for row in compliance["units"] if row.get("unit_kind")})
    context = {
        "directive": found,
        "compliance": compliance,
        "rows": rows,
        "kinds": kinds,
        "filters": {"status": status, "kind": kind, "q": q.strip()},
        "nav": "board",
    }
    if request.headers.get("hx-request") and request.headers.get("hx-target") == "compliance":
        return render(request, "board/_compliance.html", **context)
    return render(request, "board/directive.html", **context)


@router.get("/chi-thi/{directive_id}/don-vi/{code}")
async def unit_detail(request: Request, session: Office, directive_id: uuid.UUID, code: str) -> Response:
    who = caller(request, session)
    apis = _apis(request)
    found, unit, history, notifications = await asyncio.gather(
        apis.get_json("registry", f"/v1/directives/{directive_id}", who),
        apis.get_json("registry", f"/v1/units/{code}", who),
        apis.get_json("registry", f"/v1/directives/{directive_id}/units/{code}/history", who),
        apis.get_json("notifier", "/v1/notifications", who, unit_code=code, directive_id=str(directive_id), limit=50),
    )
    active = next((h for h in history if h["status"] == "active"), None)
    return render(
        request,
        "board/unit.html",
        nav="board",
        directive=found,
        unit=unit,
        history=history,
        active=active,
        notifications=notifications["items"],
    )


async def _missing_units(
    request: Request, session: Any, directive_id: uuid.UUID, codes: list[str]
) -> tuple[Any, list[dict[str, Any]]]:
    who = caller(request, session)
    apis = _apis(request)
    found, compliance, units = await asyncio.gather(
        apis.get_json("registry", f"/v1/directives/{directive_id}", who),
        apis.get_json("registry", f"/v1/directives/{directive_id}/compliance", who),
        apis.get_json("registry", "/v1/units", who),
    )
    contacts = {u["code"]: u for u in units}
    missing = [
        {**row, "contact": contacts.get(row["unit_code"], {})}
        for row in compliance["units"]
        if row["status"] == "missing" and (not codes or row["unit_code"] in codes)
    ]
    return found, missing


@router.get("/chi-thi/{directive_id}/nhac")
async def remind_confirm(request: Request, session: Office, directive_id: uuid.UUID, don_vi: str = "") -> Response:
    codes = [don_vi] if don_vi else []
    found, missing = await _missing_units(request, session, directive_id, codes)
    reachable = sum(bool(m["contact"].get("email")) + bool(m["contact"].get("phone")) for m in missing)
    return render(
        request,
        "board/remind.html",
        nav="board",
        directive=found,
        missing=missing,
        codes=codes,
        reachable=reachable,
        idempotency_key=str(uuid.uuid4()),
    )


@router.post("/chi-thi/{directive_id}/nhac", dependencies=[Csrf])
async def remind(
    request: Request,
    session: Office,
    directive_id: uuid.UUID,
    unit_codes: Annotated[list[str] | None, Form()] = None,
    idempotency_key: Annotated[str, Form()] = "",
) -> Response:
    answer = await _apis(request).post_json(
        "registry",
        f"/v1/directives/{directive_id}/reminders",
        caller(request, session),
        {"unit_codes": unit_codes or None},
        headers={"Idempotency-Key": idempotency_key or str(uuid.uuid4())},
    )
    found = await _apis(request).get_json("registry", f"/v1/directives/{directive_id}", caller(request, session))
    return render(request, "board/reminded.html", nav="board", directive=found, answer=answer, reasons=SKIP_REASONS)


@router.get("/chi-thi/{directive_id}/tuan-thu.{format}")
async def export(request: Request, session: Office, directive_id: uuid.UUID, format: str) -> Response:  # noqa: A002
    if format not in ("csv", "xlsx"):
        return render(request, "errors/404.html", 404)
    answer = await _apis(request).send(
        "registry",
        "GET",
        f"/v1/directives/{directive_id}/compliance",
        caller(request, session),
        params={"format": format},
    )
    headers = {k: v for k, v in answer.headers.items() if k.lower() == "content-disposition"}
    return Response(answer.content, media_type=answer.headers.get("content-type"), headers=headers)
