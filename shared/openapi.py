"""The services' OpenAPI documents: every error an operation can answer, as problem+json.

FastAPI documents the happy path. ``problem_document`` adds, to each operation of the generated
document, the errors the shared machinery gives it, read from the operation itself:

- every ``/v1/`` operation reads the database (API keys live there): 503 with ``Retry-After``;
- a bearer key (``HTTPBearer``): 401, 403 (the key's role or unit does not allow it), 429 with
  ``Retry-After``; the SMS gateways' receipt token (``ReceiptToken``): 401;
- parameters: 422; a request body: 413 (over the limit), 415 (not JSON), 422;
- a POST with a bearer key takes ``Idempotency-Key``: 409 while the first request runs, 422 when the
  key was used for another request;
- optional query parameters: an empty value means the parameter is absent (``allowEmptyValue``).

What only an operation knows (404 for an id it looks up, 409 for a code in use, 304 for an ETag) is
declared on its route with ``problem_responses``, and so are its ``link``s. Every error body is a
``Problem``.
"""

from __future__ import annotations

import copy
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from shared.idempotency import IDEMPOTENCY_KEY_PATTERN
from shared.problems import PROBLEM_MEDIA_TYPE, Problem

REF = "#/components/schemas/{model}"
PROBLEM_REF = {"$ref": REF.format(model="Problem")}
RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before trying again",
        "required": True,
        "schema": {"type": "string", "pattern": "^[0-9]+$"},
    }
}
# What each status means wherever the shared machinery gives it.
COMMON = {
    401: "Missing, unknown or revoked key",
    403: "The key's role, or the unit it is bound to, does not allow this",
    409: "A request with the same Idempotency-Key is still running (Retry-After)",
    413: "The body is over the size limit (1 MiB)",
    415: "The body is not JSON (Content-Type: application/json)",
    422: "Invalid parameters or fields (`errors`, each with its `code`), or a rule of this operation broken",
    429: "Over the key's rate limit (Retry-After)",
    503: "The database is unavailable or every connection is busy (Retry-After)",
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Retrying with the same key and body replays the first response (kept 48 h); the same key "
    "with another request is a 422, while the first is still running a 409.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": IDEMPOTENCY_KEY_PATTERN},
}
METHODS = ("get", "put", "post", "delete", "patch")


def link(method: str, path: str, description: str, **parameters: str) -> dict[str, Any]:
    """An OpenAPI link: what a client can do next with values of this response (``$response.body#/id``)."""
    pointer = path.replace("~", "~0").replace("/", "~1").replace("{", "%7B").replace("}", "%7D")
    return {"operationRef": f"#/paths/{pointer}/{method}", "description": description, "parameters": parameters}


def problem_responses(statuses: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """Route ``responses`` for errors only the route knows: ``{404: "No such unit"}``."""
    return {status: problem_response(status, description) for status, description in statuses.items()}


def problem_response(status: int, description: str) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REF}}}
    if status in (409, 429, 503):
        response["headers"] = copy.deepcopy(RETRY_AFTER)
        if status == 409:  # only the Idempotency-Key's 409 says when to retry
            response["headers"]["Retry-After"]["required"] = False
    return response


def problem_document(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI document with its errors (see the module's docstring)."""
    document = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    _, defs = models_json_schema([(Problem, "serialization")], ref_template=REF)
    for name, schema in defs["$defs"].items():
        for member in schema.get("properties", {}).values():
            if "default" in member and member["default"] is None:  # optional members: absent, never null
                del member["default"]
        schemas[name] = schema
    for path, item in document.get("paths", {}).items():
        for method in METHODS:
            if method in item:
                _document_errors(path, method, item[method])
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document


def _document_errors(path: str, method: str, operation: dict[str, Any]) -> None:
    schemes = {name for requirement in operation.get("security", []) for name in requirement}
    parameters = operation.setdefault("parameters", [])
    statuses: dict[int, str] = {}
    if path.startswith("/v1/"):
        statuses[503] = COMMON[503]
    if "HTTPBearer" in schemes:
        statuses |= {401: COMMON[401], 403: COMMON[403], 429: COMMON[429]}
        if method == "post":
            parameters.append(copy.deepcopy(IDEMPOTENCY_KEY))
            statuses |= {409: COMMON[409], 422: COMMON[422]}
    elif schemes:
        statuses[401] = COMMON[401]
    if any(_can_fail(parameter) for parameter in parameters):
        statuses[422] = COMMON[422]
    if "requestBody" in operation:
        statuses |= {413: COMMON[413], 415: COMMON[415], 422: COMMON[422]}
    for parameter in parameters:
        if parameter.get("in") == "query" and not parameter.get("required"):
            parameter["allowEmptyValue"] = True
            parameter["description"] = (parameter.get("description", "") + " (empty: as if absent)").strip()
    if not parameters:
        del operation["parameters"]
    responses = operation.setdefault("responses", {})
    if 422 not in statuses and _is_fastapi_validation_error(responses.get("422", {})):
        del responses["422"]  # FastAPI's, for parameters that cannot be refused
    for status, description in sorted(statuses.items()):
        declared = responses.get(str(status))
        if declared is None or _is_fastapi_validation_error(declared):
            responses[str(status)] = problem_response(status, description)
        elif description not in declared.get("description", ""):  # the route's own meaning, then the common one
            declared["description"] = f"{declared.get('description', '')}. Also: {description}"
            if headers := problem_response(status, description).get("headers"):
                declared.setdefault("headers", {}).update(headers)


def _can_fail(parameter: dict[str, Any]) -> bool:
    """Whether a value of the parameter can be refused: anything but free text (If-None-Match)."""
    schema = parameter.get("schema", {})
    kinds = [s for s in schema.get("anyOf", [schema]) if s.get("type") != "null"]
    annotations = {"type", "title", "description", "examples", "default"}
    return parameter.get("required", False) or not all(
        kind.get("type") == "string" and set(kind) <= annotations for kind in kinds
    )


def _is_fastapi_validation_error(response: dict[str, Any]) -> bool:
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return str(schema.get("$ref", "")).endswith("/HTTPValidationError")
