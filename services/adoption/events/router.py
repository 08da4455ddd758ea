"""``POST /v1/adoption/events``: batches of install/activate/uninstall events from the app's backend."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from pydantic import TypeAdapter

from services.adoption.events import service
from services.adoption.events.schemas import EventBatchIn, IngestResult
from shared.auth import Principal, Role, require
from shared.openapi import REF, problem_responses
from shared.problems import AppError, is_json, prefers_english

router = APIRouter(prefix="/v1/adoption", tags=["adoption events"])
Sender = Annotated[Principal, Depends(require(Role.app_backend, Role.ward_app, Role.office))]


@router.post(
    "/events",
    status_code=202,
    response_model=IngestResult,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"$ref": REF.format(model="EventBatchIn")}}},
        }
    },
    responses=problem_responses({422: "No event is valid (each one's errors under `rejected`), or the batch is"}),
)
async def post_events(request: Request, principal: Sender) -> Response:
    """Up to 1,000 events. Valid new events are accepted, known event ids are duplicates (they change
    nothing), and each invalid event comes back with its index and errors. A ward app posts its own
    unit's events only. Subjects are keyed-hashed on arrival and never stored."""
    body = await request.body()
    if body and not is_json(request.headers.get("content-type")):
        raise AppError(415, "unsupported-media-type")
    app = request.app
    result = await service.ingest(
        app.state.pg,
        body,
        principal=principal,
        hasher=app.state.hasher,
        units=app.state.unit_codes,
        writer=app.state.event_writer,
        max_events=app.state.settings.max_events_per_request,
        english=prefers_english(request.headers.get("accept-language")),
    )
    return Response(result.model_dump_json(), status_code=202, media_type="application/json")


def document_request_body(app: FastAPI, *, max_events: int) -> None:
    """Add ``EventBatchIn``, the body ``post_events`` refers to, to the app's OpenAPI document.

    The route reads the raw body (``service.parse`` decodes it), so FastAPI sees no body to document;
    the schema is pydantic's for ``EventBatchIn``, with the app's limit of events as ``maxItems``."""
    document = app.openapi  # the shared document, with every error (``shared/openapi.py``)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schemas = document().setdefault("components", {}).setdefault("schemas", {})
            batch = TypeAdapter(EventBatchIn).json_schema(ref_template=REF)
            schemas.update(batch.pop("$defs", {}))
            batch["properties"]["events"]["maxItems"] = max_events
            schemas["EventBatchIn"] = batch
        assert app.openapi_schema is not None, "document() keeps what it makes"
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's way to extend its document
