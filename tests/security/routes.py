"""What the services serve, read from the apps themselves: every route (their route tables) and what each
operation takes (their OpenAPI documents). The security tests compare their own tables with these, so
a route added without a row in them fails the suite."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi.routing import iter_route_contexts

Route = tuple[str, str, str]  # (service, method, path template)

# Parameters and body fields that name an object of one unit: a unit, a directive, a registration...
ID_NAMES = frozenset({"code", "unit_code", "unit_codes", "parent_code", "directive_id", "registration_id", "key_id"})


def routes_of(service: str, app: Any) -> set[Route]:
    """Every (method, path) the app answers, HEAD aside (Starlette answers it for GET routes)."""
    return {
        (service, method, context.path)
        for context in iter_route_contexts(app.routes)
        for method in context.methods or ()
        if method != "HEAD"
    }


def operations(service: str, app: Any) -> Iterator[tuple[Route, dict[str, Any]]]:
    """Each operation of the app's OpenAPI document, with its (service, method, path)."""
    for path, methods in app.openapi()["paths"].items():
        for method, operation in methods.items():
            yield (service, method.upper(), path), operation


def schema_fields(document: dict[str, Any], schema: dict[str, Any], seen: frozenset[str] = frozenset()) -> set[str]:
    """Every property name in ``schema``, nested objects, arrays and references included."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name in seen:
            return set()
        return schema_fields(document, document["components"]["schemas"][name], seen | {name})
    names: set[str] = set()
    for key, value in schema.get("properties", {}).items():
        names |= {key} | schema_fields(document, value, seen)
    for nested in (schema.get("items"), *schema.get("anyOf", ()), *schema.get("allOf", ()), *schema.get("oneOf", ())):
        if isinstance(nested, dict):
            names |= schema_fields(document, nested, seen)
    return names


def body_schema(operation: dict[str, Any]) -> dict[str, Any] | None:
    content = operation.get("requestBody", {}).get("content", {})
    return content.get("application/json", {}).get("schema")


def id_taking_routes(service: str, app: Any) -> set[Route]:
    """Operations that take a path parameter, or name a unit's object in their query or JSON body."""
    document = app.openapi()
    taking: set[Route] = set()
    for route, operation in operations(service, app):
        parameters = operation.get("parameters", [])
        names = {p["name"] for p in parameters}
        body = body_schema(operation)
        if body is not None:
            names |= schema_fields(document, body)
        if any(p["in"] == "path" for p in parameters) or names & ID_NAMES:
            taking.add(route)
    return taking
