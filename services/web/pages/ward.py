"""A ward's or department's page: its directives, its focal point nominated, replaced or withdrawn
through a form (the API's checks, its Vietnamese messages beside each field), its own adoption figures.

A unit person opens their own unit only; the Office may open any unit's page."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from services.web.access import Anyone, Csrf, NotAllowed, caller
from services.web.clients import ApiError, Apis
from services.web.rendering import render
from services.web.sessions import SignedIn
from shared.timeutil import utcnow

router = APIRouter()
FIELDS = ("full_name", "position", "phone", "email", "note")


def _own(session: SignedIn, code: str) -> None:
    person = session.person
    if person.role == "office":
        return
    if person.role != "unit" or (person.unit_code or "").upper() != code.upper():
        raise NotAllowed("Mỗi đơn vị chỉ mở được trang của chính đơn vị mình.")


@router.get("/don-vi")
async def my_unit(request: Request, session: Anyone) -> Response:
    if session.person.role != "unit":
        raise NotAllowed("Trang này dành cho cán bộ đơn vị.")
    return RedirectResponse(f"/don-vi/{session.person.unit_code}", status_code=303)


@router.get("/don-vi/{code}")
async def unit_page(request: Request, session: Anyone, code: str) -> Response:
    _own(session, code)
    apis: Apis = request.app.state.apis
    who = caller(request, session)
    unit, page, rows = await asyncio.gather(
        apis.get_json("registry", f"/v1/units/{code}", who),
        apis.get_json("registry", "/v1/directives", who, limit=100),
        apis.get_json("adoption", "/v1/adoption/units", who),
    )
    directives = [d for d in page["items"] if unit["code"] in d["unit_codes"]]
    focal = await asyncio.gather(
        *(apis.get_json("registry", f"/v1/directives/{d['id']}/focal-points", who) for d in directives)
    )
    now = utcnow()
    for d, points in zip(directives, focal, strict=True):
        d["focal_point"] = next((p for p in points if p["unit_code"] == unit["code"]), None)
        d["overdue"] = datetime.fromisoformat(d["deadline"]) <= now
        d["open"] = not d["overdue"] or d["focal_point"] is None
    adoption = next((r for r in rows if r["unit_code"] == unit["code"]), None)
    return render(request, "ward/unit.html", nav="ward", unit=unit, directives=directives, adoption=adoption)


async def _context(request: Request, session: SignedIn, code: str, directive_id: uuid.UUID) -> dict[str, Any]:
    apis: Apis = request.app.state.apis
    who = caller(request, session)
    unit, directive, points = await asyncio.gather(
        apis.get_json("registry", f"/v1/units/{code}", who),
        apis.get_json("registry", f"/v1/directives/{directive_id}", who),
        apis.get_json("registry", f"/v1/directives/{directive_id}/focal-points", who),
    )
    if unit["code"] not in directive["unit_codes"]:
        raise NotAllowed("Chỉ thị này không giao cho đơn vị.")
    current = next((p for p in points if p["unit_code"] == unit["code"]), None)
    return {"unit": unit, "directive": directive, "current": current, "nav": "ward"}


@router.get("/don-vi/{code}/chi-thi/{directive_id}")
async def nominate_page(request: Request, session: Anyone, code: str, directive_id: uuid.UUID) -> Response:
    _own(session, code)
    context = await _context(request, session, code, directive_id)
    return render(request, "ward/nominate.html", **context, values={}, errors={}, idempotency_key=str(uuid.uuid4()))


@router.post("/don-vi/{code}/chi-thi/{directive_id}", dependencies=[Csrf])
async def nominate(request: Request, session: Anyone, code: str, directive_id: uuid.UUID) -> Response:
    _own(session, code)
    form = await request.form()
    values = {name: str(form.get(name, "")).strip() for name in FIELDS}
    key = str(form.get("idempotency_key") or uuid.uuid4())
    context = await _context(request, session, code, directive_id)
    errors = {}
    for name, message in (
        ("full_name", "Nhập họ và tên cán bộ đầu mối"),
        ("phone", "Nhập số di động của cán bộ đầu mối"),
        ("email", "Nhập thư điện tử của cán bộ đầu mối"),
    ):
        if not values[name]:
            errors[name] = message
    if not errors:
        body: dict[str, Any] = {
            "directive_id": str(directive_id),
            "unit_code": context["unit"]["code"],
            **{name: values[name] or None for name in FIELDS},
        }
        apis: Apis = request.app.state.apis
        try:
            saved = await apis.post_json(
                "registry", "/v1/registrations", caller(request, session), body, headers={"Idempotency-Key": key}
            )
        except ApiError as exc:
            if exc.status != 422:
                raise
            errors = {name: msg for name, msg in exc.field_errors().items() if name in FIELDS}
            if not errors:
                errors = {"full_name": exc.detail}
            key = str(uuid.uuid4())  # the corrected form is a new request
        else:
            return render(request, "ward/done.html", **context, saved=saved)
    return render(request, "ward/nominate.html", 422, **context, values=values, errors=errors, idempotency_key=key)


@router.post("/don-vi/{code}/chi-thi/{directive_id}/rut", dependencies=[Csrf])
async def withdraw(request: Request, session: Anyone, code: str, directive_id: uuid.UUID) -> Response:
    _own(session, code)
    form = await request.form()
    reason = str(form.get("reason", "")).strip()
    context = await _context(request, session, code, directive_id)
    if context["current"] is None:
        return RedirectResponse(f"/don-vi/{code}", status_code=303)
    if not reason:
        return render(request, "ward/withdraw.html", 422, **context, errors={"reason": "Nhập lý do rút đầu mối"})
    apis: Apis = request.app.state.apis
    try:
        await apis.post_json(
            "registry",
            f"/v1/registrations/{context['current']['id']}/withdraw",
            caller(request, session),
            {"reason": reason},
        )
    except ApiError as exc:
        if exc.status not in (409, 422):
            raise
        return render(request, "ward/withdraw.html", 422, **context, errors={"reason": exc.detail})
    return RedirectResponse(f"/don-vi/{code}?da_rut={directive_id}", status_code=303)


@router.get("/don-vi/{code}/chi-thi/{directive_id}/rut")
async def withdraw_page(request: Request, session: Anyone, code: str, directive_id: uuid.UUID) -> Response:
    _own(session, code)
    context = await _context(request, session, code, directive_id)
    return render(request, "ward/withdraw.html", **context, errors={})
