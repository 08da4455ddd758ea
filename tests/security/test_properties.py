"""Property-level authorization (OWASP API3): no body sets a field the server owns, and no answer shows a
secret.

Every operation with a JSON body (from the apps' OpenAPI documents) is sent the valid body of
``access.CALLS`` with one field more: a field the server decides (``status``, ``version``,
``id``, ``role``…) or one that does not exist. Each answer is 422 naming the field, and nothing stored
changes. The one body open by contract, an SMS gateway's delivery receipt, keeps such a field as
evidence and changes no notification. Then every route's answers are searched for key secrets, key
hashes and the other secrets.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

import pytest
from sqlalchemy import text

from shared.auth import hash_key
from tests.builders import auth
from tests.security.access import ACCESS, CALLS, OPEN, PEOPLE, TOKEN, send, served
from tests.security.builders import RECEIPT_TOKEN, SUBJECT_KEY, TABLES, World, notification, snapshot
from tests.security.routes import body_schema, operations, schema_fields

RECEIPTS = ("notifier", "POST", "/v1/sms/receipts/{gateway}")

# Fields the server owns (or that name another principal), and one that no model has.
PRIVILEGED = (
    "id",
    "status",
    "version",
    "role",
    "unit_code",
    "key",
    "key_hash",
    "key_hint",
    "created_at",
    "updated_at",
    "submitted_at",
    "on_time",
    "revoked_at",
    "standing_since",
    "recorded_at",
    "rate_limit_per_minute",
    "is_admin",
)


def body_routes(world: World) -> dict[tuple[str, str, str], set[str]]:
    """Each operation with a JSON body, and the fields its body may carry."""
    found = {}
    for name, app in world.apps.items():
        document = app.openapi()
        for route, operation in operations(name, app):
            if (schema := body_schema(operation)) is not None:
                found[route] = schema_fields(document, schema)
    return found


def open_bodies(world: World) -> set[tuple[str, str, str]]:
    """Operations whose JSON body allows fields it does not name (``additionalProperties: true``)."""
    return {
        route
        for name, app in world.apps.items()
        for route, operation in operations(name, app)
        if (schema := body_schema(operation)) is not None and schema.get("additionalProperties") is True
    }


def role_for(route) -> str | None:
    """A role the route admits (None: it needs no key, as signing in)."""
    if ACCESS[route] == OPEN:
        return None
    return next(r for r in ("office", "ward_app", "app_backend", *PEOPLE) if r in ACCESS[route])


def with_extra(body: dict[str, Any], field: str) -> list[dict[str, Any]]:
    """The body with ``field`` added at its top level, and in its first nested object (an event)."""
    top = {**body, field: "x" if field != "version" else 99}
    variants = [top]
    for key, value in body.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            nested = copy.deepcopy(body)
            nested[key][0][field] = "x"
            variants.append(nested)
    return variants


async def test_server_owned_and_unknown_fields_are_refused_and_change_nothing(world):
    routes = body_routes(world)
    assert len(routes) >= 9  # registrations, withdrawal, units ×2, directives, keys, events, headcount, reports
    # The one body open by contract, a gateway's receipt, keeps every field: the next test holds it.
    assert open_bodies(world) == {RECEIPTS}
    for route, allowed in sorted(routes.items()):
        if route == RECEIPTS:
            continue
        service, method, _ = route
        role = role_for(route)
        for field in PRIVILEGED:
            if field in allowed:
                continue  # a field of this body (e.g. a key's role): checked by its own rules
            call = await CALLS[route](world, role)
            for body in with_extra(call.json, field):
                before = await snapshot(world)
                english = {"Accept-Language": "en"}
                headers = auth(world.keys[role], **english) if role else english
                response = await world.client(service).request(method, call.url, json=body, headers=headers)
                assert await snapshot(world) == before, (route, field)
                assert response.status_code == 422, (route, field, response.status_code, response.text)
                problem = response.json()
                errors = problem.get("errors") or [e for r in problem.get("rejected", []) for e in r["errors"]]
                assert any(e["field"].endswith(field) and e["message"] == "Unknown field." for e in errors), (
                    route,
                    field,
                    problem,
                )


async def test_a_receipts_extra_fields_are_kept_and_set_nothing(world):
    """A gateway's receipt may carry fields of its own (kept as evidence, the contract), so a field the
    server owns is taken too: it is kept in the receipt and changes no notification, and no stored row
    but the kept receipt."""
    notification_id = await notification(world)
    tables = [t for t in TABLES if t != "notify.receipts"]
    for field in PRIVILEGED:
        # SendStatus 2: the message is on its way, which changes nothing; the extra field says otherwise.
        body = {"RequestId": notification_id, "SendStatus": "2", field: "5" if field == "status" else "delivered"}
        before = await snapshot(world)
        response = await world.client("notifier").post(f"/v1/sms/receipts/esms?token={RECEIPT_TOKEN}", json=body)
        assert response.status_code == 200 and response.json() == {"applied": False}, (field, response.text)
        after = await snapshot(world)
        assert [after[t] for t in tables] == [before[t] for t in tables], field
        async with world.apps["notifier"].state.engine.connect() as conn:
            kept = await conn.scalar(text("SELECT payload FROM notify.receipts ORDER BY id DESC LIMIT 1"))
        assert kept == body, field


@pytest.mark.parametrize(
    "field, value",
    [("status", "withdrawn"), ("version", 1), ("id", "00000000-0000-0000-0000-000000000001"), ("on_time", True)],
)
async def test_a_ward_app_cannot_set_its_registrations_state(world, field, value):
    route = ("registry", "POST", "/v1/registrations")
    call = await CALLS[route](world, "ward_app")
    before = await snapshot(world)
    response = await world.client("registry").post(
        call.url, json={**call.json, field: value}, headers=auth(world.keys["ward_app"])
    )
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert errors == [{"field": field, "message": "Trường không được hỗ trợ.", "code": "extra_forbidden"}]
    assert await snapshot(world) == before


async def test_no_answer_shows_a_secret(world):
    """Every route, as every role it admits: no key's secret (but a new key's, once, to its maker), no
    key hash, no subject in clear, neither the subject key nor the receipt token."""
    async with world.apps["registry"].state.engine.connect() as conn:
        hashes = [row[0] for row in await conn.execute(text("SELECT key_hash FROM auth.api_keys"))]
    forbidden = [*world.keys.values(), SUBJECT_KEY, RECEIPT_TOKEN, "key_hash", "0912000001"]
    forbidden += [h.hex() for h in hashes] + [hashlib.sha256(k.encode()).hexdigest() for k in world.keys.values()]
    for route in sorted(served(world)):
        access = ACCESS[route]
        roles = [None] if access in (OPEN, TOKEN) else sorted(access)
        for role in roles:
            response = await send(world, route, role)
            body = response.text
            if route == ("registry", "POST", "/v1/keys") and response.status_code == 201:
                created = response.json()
                assert set(created) == {
                    "id", "name", "role", "unit_code", "key_hint", "rate_limit_per_minute", "created_at",
                    "revoked_at", "key",
                }  # fmt: skip
                assert hash_key(created["key"]) not in hashes
                body = body.replace(created["key"], "")
            for secret in forbidden:
                assert secret not in body, (route, role, secret[:12])
    listed = (await world.client("registry").get("/v1/keys", headers=auth(world.keys["office"]))).json()
    assert listed and all("key" not in k and "key_hash" not in k and len(k["key_hint"]) <= 12 for k in listed)
