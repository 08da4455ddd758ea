"""``GET /v1/adoption/summary``, ``/units`` and ``/timeseries``: polled by the operations centre's
screens every few seconds, so each carries an ETag and Cache-Control, and ``If-None-Match`` answers 304
without computing anything."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel

from services.adoption.metrics import service
from services.adoption.metrics.cache import MetricsCache, matches
from services.adoption.metrics.schemas import Summary, Timeseries, UnitRow
from shared.auth import Principal, Role, ensure_unit_scope, require
from shared.openapi import link, problem_responses
from shared.problems import AppError
from shared.schemas import CalendarDate, UnitCode

router = APIRouter(prefix="/v1/adoption", tags=["adoption metrics"])
Watcher = Annotated[Principal, Depends(require(Role.office, Role.ops_centre))]
Reader = Annotated[Principal, Depends(require(Role.office, Role.ops_centre, Role.ward_app))]
CACHE_HEADERS = {
    "ETag": {"description": "changes only when a figure does", "required": True, "schema": {"type": "string"}},
    "Cache-Control": {"required": True, "schema": {"type": "string"}},
}
# Each of these GETs answers 304, without computing anything, to a poll whose If-None-Match holds its ETag.
CACHED: dict[int | str, dict[str, Any]] = {
    200: {"headers": CACHE_HEADERS},
    304: {"description": "Not modified: the ETag in If-None-Match is current", "headers": CACHE_HEADERS},
}
IfNoneMatch = Annotated[str | None, Header(alias="If-None-Match", description="the ETag of the answer already held")]


async def _cached(
    request: Request,
    scope: tuple[object, ...],
    compute: Callable[[int, datetime], Awaitable[BaseModel | Sequence[BaseModel]]],
) -> Response:
    app = request.app
    cache: MetricsCache = app.state.metrics_cache
    state = await cache.state(app.state.pg)
    etag = cache.etag(state["version"], request.url.path, sorted(request.query_params.multi_items()), scope)
    headers = {"ETag": etag, "Cache-Control": f"private, max-age={app.state.settings.metrics_max_age_seconds}"}
    if matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    body = cache.get(etag)
    if body is None:
        result = await compute(state["version"], state["changed_at"])
        body = (
            result.model_dump_json(by_alias=True).encode()
            if isinstance(result, BaseModel)
            else b"[" + b",".join(r.model_dump_json().encode() for r in result) + b"]"
        )
        cache.put(etag, body)
    return Response(body, media_type="application/json", headers=headers)


@router.get("/summary", response_model=Summary, responses=CACHED)
async def summary(request: Request, principal: Watcher, if_none_match: IfNoneMatch = None) -> Response:
    """The whole city: staff and citizens adopted, rate, units at target and lagging."""
    target = request.app.state.settings.target_staff_rate

    async def compute(_: int, changed_at: datetime) -> Summary:
        rows = await service.unit_rows(request.app.state.pg, target=target)
        return service.summary_of(rows, target=target, as_of=changed_at)

    return await _cached(request, (), compute)


@router.get(
    "/units",
    response_model=list[UnitRow],
    responses={
        **CACHED,
        200: {
            **CACHED[200],
            "links": {
                "Timeseries": link(
                    "get", "/v1/adoption/timeseries", "The first unit's curve", unit_code="$response.body#/0/unit_code"
                ),
                "SetHeadcount": link(
                    "put",
                    "/v1/adoption/units/{code}/headcount",
                    "The first unit's headcount",
                    code="$response.body#/0/unit_code",
                ),
            },
        },
    },
)
async def units(
    request: Request,
    principal: Reader,
    if_none_match: IfNoneMatch = None,
    sort: Literal[service.SORT_KEYS] = "staff_rate",  # type: ignore[valid-type]  # one tuple, the service's
    order: Literal["asc", "desc"] = "asc",
    kind: Literal["department", "agency", "ward", "commune", "town"] | None = None,
) -> Response:
    """A row per unit, sorted (units without a value for the sort key come last). A ward app sees its own."""
    target = request.app.state.settings.target_staff_rate
    own = principal.unit_code if principal.role is Role.ward_app else None

    async def compute(_: int, __: datetime) -> list[UnitRow]:
        rows = await service.unit_rows(request.app.state.pg, target=target, kind=kind)
        if own is not None:
            rows = [r for r in rows if r.unit_code == own]
        return service.sort_rows(rows, sort, order == "desc")

    # change_7d counts from today: the date is part of the answer.
    return await _cached(request, (own, service.today()), compute)


@router.get(
    "/timeseries",
    response_model=Timeseries,
    responses={**CACHED, **problem_responses({404: "No unit has this code (retired units keep their series)"})},
)
async def timeseries(
    request: Request,
    principal: Reader,
    if_none_match: IfNoneMatch = None,
    unit_code: Annotated[UnitCode | None, Query(description="omit for the whole city")] = None,
    from_: Annotated[CalendarDate | None, Query(alias="from", description="Vietnam date; default 29 days ago")] = None,
    to: Annotated[
        CalendarDate | None, Query(description="Vietnam date; default today; at most 730 days after from")
    ] = None,
    interval: Literal["day", "week"] = "day",
) -> Response:
    """Adopted staff and citizens at the end of each day or ISO week (Monday to Sunday), cumulative,
    of one unit (retired ones too) or of the whole city."""
    app, code = request.app, unit_code
    if principal.role is Role.ward_app:
        if code is None:
            raise AppError(403, "forbidden", "forbidden-unit", own=principal.unit_code, unit="*")
        ensure_unit_scope(principal, code)
    start, end = service.series_range(from_, to)
    if code is not None:
        await service.ensure_unit_known(app.state.pg, app.state.unit_codes, code)

    async def compute(_: int, __: datetime) -> Timeseries:
        return await service.timeseries(app.state.pg, unit_code=code, start=start, end=end, interval=interval)

    # Today's date is part of the answer when the range is defaulted.
    return await _cached(request, (code, start, end), compute)
