"""RFC 9457 problem+json errors, in Vietnamese by default and English on request.

Services raise :class:`AppError` (or a subclass); one set of handlers, installed by
:func:`install_problem_handlers`, turns every failure into a problem document. Routes never build
error JSON, and no stack trace or SQL ever reaches a client.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.json_schema import SkipJsonSchema
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Scope, Send

from shared.db import DATABASE_ERRORS, is_database_unavailable
from shared.texts import DEFAULT_FIELD_MESSAGE, DETAILS, FIELD_MESSAGES, TITLES

log = structlog.get_logger("problems")

PROBLEM_MEDIA_TYPE = "application/problem+json"
DB_RETRY_AFTER_SECONDS = 5


class FieldErrorOut(BaseModel):
    """One field's failure, as problem documents and adoption's ``rejected`` entries show it."""

    field: str = Field(description="dotted path of the field (`body`: the body as a whole)", examples=["phone"])
    message: str = Field(description="for people, in Vietnamese or English (Accept-Language)")
    code: str = Field(
        description="for programs: the rule broken, a stable key such as `string_too_long`, "
        "`phone_old_format`, `unit_not_addressed`",
        examples=["phone_old_format"],
    )


class RejectedEvent(BaseModel):
    index: int = Field(description="the event's position in `events`, from 0")
    errors: list[FieldErrorOut]


class Problem(BaseModel):
    """An RFC 9457 problem document (``application/problem+json``); other members may follow."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="a relative URI naming the kind of problem", examples=["/problems/validation-error"])
    title: str = Field(description="the kind of problem, for people")
    status: int = Field(description="the HTTP status")
    detail: str = Field(description="this occurrence, for people")
    instance: str = Field(description="the request's path")
    errors: list[FieldErrorOut] | SkipJsonSchema[None] = Field(None, description="each field's failure (422)")
    rejected: list[RejectedEvent] | SkipJsonSchema[None] = Field(
        None, description="POST /v1/adoption/events: each event's failures, when none is valid"
    )


class FieldError:
    """One field's failure: ``field`` is a dotted path, ``key`` a FIELD_MESSAGES entry."""

    __slots__ = ("field", "key", "params")

    def __init__(self, field: str, key: str, **params: Any) -> None:
        self.field, self.key, self.params = field, key, params


class AppError(Exception):
    """A failure the client should see, carrying its status and message key."""

    def __init__(
        self,
        status: int,
        problem: str,
        detail_key: str | None = None,
        *,
        errors: Sequence[FieldError] = (),
        headers: Mapping[str, str] | None = None,
        extensions: Mapping[str, Any] | None = None,
        **params: Any,
    ) -> None:
        super().__init__(detail_key or problem)
        self.status, self.problem, self.detail_key = status, problem, detail_key or problem
        self.errors, self.headers, self.params = list(errors), dict(headers or {}), params
        self.extensions = dict(extensions or {})  # extra members of the problem document


class NotFound(AppError):
    def __init__(self, detail_key: str = "not-found", **params: Any) -> None:
        super().__init__(404, "not-found", detail_key, **params)


class Conflict(AppError):
    def __init__(self, detail_key: str, **params: Any) -> None:
        super().__init__(409, "conflict", detail_key, **params)


class Forbidden(AppError):
    def __init__(self, detail_key: str, **params: Any) -> None:
        super().__init__(403, "forbidden", detail_key, **params)


class InvalidFields(AppError):
    """422 with field errors, for rules that need the database (unknown unit codes...)."""

    def __init__(self, *errors: FieldError, detail_key: str = "validation-error", **params: Any) -> None:
        super().__init__(422, "validation-error", detail_key, errors=errors, **params)


def ensure_date_range(start: date, end: date, *, max_days: int) -> None:
    """422 on the field ``to`` when a range of days asked for is reversed or longer than ``max_days``."""
    if end < start:
        raise InvalidFields(FieldError("to", "range_reversed", start=start.isoformat()))
    if (end - start).days >= max_days:
        raise InvalidFields(
            FieldError("to", "range_too_long", days=max_days), detail_key="range-too-long", days=max_days
        )


def is_json(content_type: str | None) -> bool:
    """Whether a Content-Type is JSON (``application/json``, or ``application/…+json``), as FastAPI reads it."""
    media_type = (content_type or "").partition(";")[0].strip().lower()
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def prefers_english(accept_language: str | None) -> bool:
    """True when the client ranks English above Vietnamese (or asks for English and not Vietnamese)."""
    if not accept_language:
        return False
    best: tuple[float, int, str] | None = None
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower().split("-")[0]
        if tag not in ("vi", "en"):
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0 and (best is None or (quality, -position) > (best[0], best[1])):
            best = (quality, -position, tag)
    return best is not None and best[2] == "en"


def _pick(pair: tuple[str, str], english: bool, params: Mapping[str, Any]) -> str:
    template = pair[1] if english else pair[0]
    try:
        return template.format(**params)
    except (KeyError, IndexError, ValueError):
        return template


def render_field_errors(errors: Sequence[FieldError], english: bool) -> list[dict[str, str]]:
    """Field errors as the API shows them: ``[{"field", "message", "code"}]``, the message in the chosen
    language, the code its stable key."""
    return [
        {
            "field": e.field,
            "message": _pick(FIELD_MESSAGES.get(e.key, DEFAULT_FIELD_MESSAGE), english, e.params),
            "code": e.key,
        }
        for e in errors
    ]


def problem_body(
    accept_language: str | None,
    instance: str,
    status: int,
    problem: str,
    detail_key: str,
    params: Mapping[str, Any],
    errors: Sequence[FieldError] = (),
    extensions: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    english = prefers_english(accept_language)
    body: dict[str, Any] = {
        "type": f"/problems/{problem}",
        "title": _pick(TITLES.get(problem, TITLES["internal-error"]), english, params),
        "status": status,
        "detail": _pick(DETAILS.get(detail_key, DETAILS.get(problem, ("", ""))), english, params),
        "instance": instance,
    }
    if errors:
        body["errors"] = render_field_errors(errors, english)
    if extensions:
        body.update(extensions)
    return body


def problem_response(
    request: Request,
    status: int,
    problem: str,
    detail_key: str | None = None,
    *,
    params: Mapping[str, Any] | None = None,
    errors: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> JSONResponse:
    body = problem_body(
        request.headers.get("accept-language"),
        request.url.path,
        status,
        problem,
        detail_key or problem,
        params or {},
        errors,
        extensions,
    )
    return JSONResponse(body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE)


async def send_problem(
    scope: Scope,
    send: Send,
    status: int,
    problem: str,
    detail_key: str | None = None,
    *,
    params: Mapping[str, Any] | None = None,
    errors: Sequence[FieldError] = (),
    headers: Mapping[str, str] | None = None,
) -> None:
    """The same document, sent from an ASGI middleware that runs outside FastAPI's handlers."""
    accept_language = dict(scope["headers"]).get(b"accept-language", b"").decode("latin-1")
    body = json.dumps(
        problem_body(accept_language, scope["path"], status, problem, detail_key or problem, params or {}, errors),
        ensure_ascii=False,
    ).encode("utf-8")
    raw_headers = [(b"content-type", PROBLEM_MEDIA_TYPE.encode()), (b"content-length", str(len(body)).encode())]
    raw_headers += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


def field_errors_from_pydantic(raw: Sequence[Mapping[str, Any]]) -> list[FieldError]:
    """Pydantic's errors as FieldErrors: the location without its 'body'/'query' root, our message key."""
    errors = []
    for err in raw:
        loc = [str(part) for part in err.get("loc", ())]
        if loc and loc[0] in ("body", "query", "path", "header"):
            loc = loc[1:]
        ctx = dict(err.get("ctx") or {})
        kind = err.get("type", "value_error")
        if kind == "value_error" and isinstance(ctx.get("error"), Exception):
            ctx = {}
        if kind == "json_invalid":
            loc = []
        if kind in ("literal_error", "enum") and isinstance(ctx.get("expected"), str):
            ctx["expected"] = _choices(ctx["expected"])
        errors.append(FieldError(".".join(loc) or "body", kind, **ctx))
    return errors


def _choices(expected: str) -> str:
    """Pydantic's "'day' or 'week'" as "day, week": the same in every language."""
    return ", ".join(part.strip().strip("'") for part in re.split(r",| or ", expected) if part.strip())


def _methods_of(request: Request) -> list[str]:
    """Every method the request's path has, as the app's OpenAPI document lists them."""
    paths = getattr(request.app.state, "path_methods", None)
    if paths is None:
        # A path without parameters first: /v1/units/import is its own resource, not /v1/units/{code}.
        documented = sorted(request.app.openapi().get("paths", {}).items(), key=lambda entry: "{" in entry[0])
        paths = request.app.state.path_methods = [
            (re.compile(re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(path)) + r"\Z"), sorted(m.upper() for m in item))
            for path, item in documented
        ]
    path = request.scope["path"]
    return next((methods for pattern, methods in paths if pattern.match(path)), [])


def install_problem_handlers(app: FastAPI) -> None:
    async def on_app_error(request: Request, exc: AppError) -> JSONResponse:
        return problem_response(
            request,
            exc.status,
            exc.problem,
            exc.detail_key,
            params=exc.params,
            errors=exc.errors,
            headers=exc.headers,
            extensions=exc.extensions,
        )

    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        # FastAPI reads a body as JSON only when its Content-Type says JSON; otherwise the model gets bytes.
        if any(tuple(e.get("loc", ())) == ("body",) and isinstance(e.get("input"), bytes) for e in errors):
            return problem_response(request, 415, "unsupported-media-type")
        return problem_response(request, 422, "validation-error", errors=field_errors_from_pydantic(errors))

    async def on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # FastAPI could not read the body (not UTF-8, say): not JSON, then
            return problem_response(request, 422, "validation-error", errors=[FieldError("body", "json_invalid")])
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405 and (methods := _methods_of(request)):
            # Starlette names the methods of the first route of the path only.
            headers = {**(headers or {}), "Allow": ", ".join(methods)}
        problem = {
            401: "unauthorized",
            403: "forbidden",
            404: "not-found",
            405: "method-not-allowed",
            413: "payload-too-large",
            415: "unsupported-media-type",
        }.get(exc.status_code, "internal-error")
        return problem_response(request, exc.status_code, problem, params=getattr(exc, "params", None), headers=headers)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, sa_exc.TimeoutError):  # every pooled connection busy: overload, not an outage
            log.warning("database_pool_exhausted")
            return problem_response(
                request,
                503,
                "service-unavailable",
                "database-busy",
                headers={"Retry-After": "1"},
            )
        if is_database_unavailable(exc):
            log.warning("database_unavailable", error=type(exc).__name__)
            return problem_response(
                request,
                503,
                "service-unavailable",
                "database-unavailable",
                headers={"Retry-After": str(DB_RETRY_AFTER_SECONDS)},
            )
        request_id = request.headers.get("x-request-id") or getattr(request.state, "request_id", "-")
        log.exception("unhandled_error", error=type(exc).__name__)
        return problem_response(request, 500, "internal-error", params={"request_id": request_id})

    # Starlette types a handler's exception as Exception; each of these takes its own class only.
    app.add_exception_handler(AppError, on_app_error)  # type: ignore[arg-type]  # see above
    app.add_exception_handler(RequestValidationError, on_validation)  # type: ignore[arg-type]  # see above
    app.add_exception_handler(StarletteHTTPException, on_http)  # type: ignore[arg-type]  # see above
    # Registered for Exception, so Starlette runs it in its outermost middleware: every failure,
    # including the database going away mid-request, ends as problem+json.
    app.add_exception_handler(Exception, on_unexpected)
    # The database's own errors are also handled one layer in, so that an outage answers 503 without
    # Starlette re-raising it into the server log as a crash.
    for exc_class in DATABASE_ERRORS:
        app.add_exception_handler(exc_class, on_unexpected)


def describe(exc: AppError | ValidationError, *, english: bool = False) -> str:
    """A failure in the words the API uses for it, on one line (the command line's messages): the
    problem's detail, then each field's message."""
    if isinstance(exc, ValidationError):
        exc = InvalidFields(*field_errors_from_pydantic(exc.errors()))
    body = problem_body("en" if english else "vi", "", exc.status, exc.problem, exc.detail_key, exc.params, exc.errors)
    return " ".join([body["detail"], *(f"{e['field']}: {e['message']}" for e in body.get("errors", []))])
