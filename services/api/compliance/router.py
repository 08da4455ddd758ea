"""HTTP endpoint of the compliance report, as JSON, CSV or XLSX."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from services.api.compliance import export, service
from services.api.compliance.schemas import Compliance
from services.api.dependencies import Session, Watcher
from services.api.directives.service import get_directive
from shared.openapi import problem_responses
from shared.schemas import Uuid

router = APIRouter(tags=["compliance"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get(
    "/v1/directives/{directive_id}/compliance",
    response_model=Compliance,
    responses={
        200: {
            "content": {
                "text/csv": {"schema": {"type": "string"}},
                XLSX: {"schema": {"type": "string", "contentMediaType": XLSX}},
            },
            "description": "JSON, or a file with ?format=",
        },
        **problem_responses({404: "No such directive"}),
    },
)
async def directive_compliance(
    session: Session,
    principal: Watcher,
    directive_id: Uuid,
    format: Annotated[Literal["json", "csv", "xlsx"], Query(description="json (default), csv or xlsx")] = "json",
) -> Compliance | Response:
    """Which units nominated on time, late, or not at all. Missing units are listed first."""
    directive = await get_directive(session, directive_id)
    report = await service.compliance(session, directive)
    if format == "json":
        return report
    stem = "tuan-thu-" + re.sub(r"[^A-Za-z0-9]+", "-", directive.number).strip("-") + f"-{directive.issue_year}"
    if format == "csv":
        return Response(
            export.to_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{stem}.csv"'},
        )
    return Response(
        export.to_xlsx(report), media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{stem}.xlsx"'}
    )
