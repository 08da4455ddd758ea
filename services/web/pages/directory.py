"""The unit directory (the Office's): every unit with its official contacts, searched without accents,
and a CSV import (the same file ``ioc units import`` reads) through the registry."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from services.web.access import Csrf, Office, caller
from services.web.clients import ApiError, Apis
from services.web.rendering import render

router = APIRouter()
MAX_CSV_BYTES = 1024 * 1024


@router.get("/danh-ba")
async def directory(request: Request, session: Office, q: str = "", kind: str = "") -> Response:
    apis: Apis = request.app.state.apis
    units = await apis.get_json("registry", "/v1/units", caller(request, session), q=q.strip(), kind=kind)
    context = {"units": units, "q": q.strip(), "kind": kind, "nav": "units", "errors": {}, "result": None}
    if request.headers.get("hx-request") and request.headers.get("hx-target") == "units-table":
        return render(request, "directory/_table.html", **context)
    return render(request, "directory/index.html", **context)


@router.post("/danh-ba/nhap", dependencies=[Csrf])
async def import_units(request: Request, session: Office) -> Response:
    form = await request.form()
    upload = form.get("file")
    errors: dict[str, str] = {}
    result = None
    content = await upload.read(MAX_CSV_BYTES + 1) if isinstance(upload, UploadFile) else b""
    if not content:
        errors["file"] = "Chọn tệp CSV danh sách đơn vị"
    elif len(content) > MAX_CSV_BYTES:
        errors["file"] = "Tệp lớn hơn 1 MB: hãy chia thành nhiều tệp"
    else:
        apis: Apis = request.app.state.apis
        try:
            response = await apis.send(
                "registry",
                "POST",
                "/v1/units/import",
                caller(request, session),
                content=content,
                headers={"Content-Type": "text/csv"},
            )
            result = response.json()
        except ApiError as exc:
            if exc.status not in (413, 415, 422):
                raise
            lines = [e.get("message", "") for e in exc.problem.get("errors") or []]
            errors["file"] = exc.detail + (": " + "; ".join(lines[:10]) if lines else "")
    units = await request.app.state.apis.get_json("registry", "/v1/units", caller(request, session))
    status = 422 if errors else 200
    return render(
        request, "directory/index.html", status, units=units, q="", kind="", nav="units", errors=errors, result=result
    )
