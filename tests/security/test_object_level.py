"""Object-level authorization across units (OWASP API1): a ward app's key of unit A cannot read or change
unit B's directive data, focal points, history, unit record, adoption figures, headcounts, reports,
notifications, keys or people; and neither can a signed-in person of unit A (their session token is tried
as the key is).

Every route that takes an object's identifier (a path parameter, or a unit, directive or registration
in its query or body, as the apps' OpenAPI documents say) has a case in ``CASES``: a route added
without one fails the suite. Each case is run by A's key against B's objects; afterwards no stored row
has changed, and no answer holds anything of B's (its focal point's name, phone, e-mail and note, its
unit's e-mail).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlalchemy import text

from tests.builders import auth, registration
from tests.security.builders import World, snapshot
from tests.security.routes import Route, id_taking_routes

Case = Callable[[World], Awaitable[list[httpx.Response]]]
CASES: dict[Route, Case] = {}


def case(service: str, method: str, path: str) -> Callable[[Case], Case]:
    def register(function: Case) -> Case:
        CASES[(service, method, path)] = function
        return function

    return register


def as_a(world: World, **headers: str) -> dict[str, str]:
    return auth(world.keys[world.ward], **headers)


def refused(response: httpx.Response, status: int = 403) -> httpx.Response:
    assert response.status_code == status, (response.request.url, response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json"
    return response


def not_a_code(response: httpx.Response, field: str = "unit_code") -> httpx.Response:
    """A unit code with spaces around it is no unit code (the contract's pattern): 422 naming the field,
    before any unit is compared with the key's."""
    refused(response, 422)
    assert {"field": field, "code": "unit_code_invalid"} in [
        {"field": e["field"], "code": e["code"]} for e in response.json()["errors"]
    ], response.text
    return response


# --- registry ---------------------------------------------------------------------------------------


@case("registry", "GET", "/v1/units")
async def _(w: World) -> list[httpx.Response]:
    answers = [
        await w.client("registry").get("/v1/units", params=params, headers=as_a(w))
        for params in ({}, {"q": w.B}, {"q": "06653"}, {"parent_code": w.B}, {"kind": "ward"})
    ]
    for answer in answers:
        assert answer.status_code == 200
        assert {u["code"] for u in answer.json()} <= {w.A}
    return answers


@case("registry", "GET", "/v1/units/{code}")
async def _(w: World) -> list[httpx.Response]:
    client = w.client("registry")
    return [refused(await client.get(f"/v1/units/{code}", headers=as_a(w))) for code in (w.B, "06653", "hl-vp")]


@case("registry", "POST", "/v1/units")
async def _(w: World) -> list[httpx.Response]:
    body = {"code": "06999", "name": "Phường Mới", "kind": "ward", "parent_code": w.B}
    return [refused(await w.client("registry").post("/v1/units", json=body, headers=as_a(w)))]


@case("registry", "PATCH", "/v1/units/{code}")
async def _(w: World) -> list[httpx.Response]:
    client = w.client("registry")
    return [
        refused(await client.patch(f"/v1/units/{w.B}", json={"email": "ke.gian@evil.example"}, headers=as_a(w))),
        refused(await client.patch(f"/v1/units/{w.A}", json={"parent_code": w.B}, headers=as_a(w))),
    ]


@case("registry", "POST", "/v1/directives")
async def _(w: World) -> list[httpx.Response]:
    body = {
        "number": "1/GIA",
        "title": "Giả mạo",
        "issued_on": "2030-01-02",
        "deadline": "2030-01-15T00:00:00+07:00",
        "unit_codes": [w.B],
    }
    return [refused(await w.client("registry").post("/v1/directives", json=body, headers=as_a(w)))]


@case("registry", "GET", "/v1/directives/{directive_id}")
async def _(w: World) -> list[httpx.Response]:
    client = w.client("registry")
    listed = await client.get("/v1/directives", headers=as_a(w))
    assert listed.status_code == 200
    assert str(w.directive_b.id) not in listed.text
    return [listed, refused(await client.get(f"/v1/directives/{w.directive_b.id}", headers=as_a(w)))]


@case("registry", "POST", "/v1/registrations")
async def _(w: World) -> list[httpx.Response]:
    async def register(directive_id: uuid.UUID, code: str) -> httpx.Response:
        return await w.client("registry").post(
            "/v1/registrations", json=registration(directive_id, code), headers=as_a(w)
        )

    return [refused(await register(w.directive_ab.id, code)) for code in (w.B, "06653", "hl-vp")] + [
        not_a_code(await register(w.directive_ab.id, " 06653 ")),
        # Its own unit under a directive that does not address it: refused, nothing stored.
        refused(await register(w.directive_b.id, w.A), 422),
    ]


@case("registry", "POST", "/v1/registrations/{registration_id}/withdraw")
async def _(w: World) -> list[httpx.Response]:
    body = {"reason": "Rút thay"}
    return [
        refused(
            await w.client("registry").post(
                f"/v1/registrations/{w.registration_b.id}/withdraw", json=body, headers=as_a(w)
            )
        )
    ]


@case("registry", "GET", "/v1/directives/{directive_id}/focal-points")
async def _(w: World) -> list[httpx.Response]:
    client = w.client("registry")
    shared = await client.get(f"/v1/directives/{w.directive_ab.id}/focal-points", headers=as_a(w))
    assert shared.status_code == 200
    assert [fp["unit_code"] for fp in shared.json()] == [w.A]
    return [shared, refused(await client.get(f"/v1/directives/{w.directive_b.id}/focal-points", headers=as_a(w)))]


@case("registry", "GET", "/v1/directives/{directive_id}/units/{code}/history")
async def _(w: World) -> list[httpx.Response]:
    client = w.client("registry")
    return [
        refused(await client.get(f"/v1/directives/{w.directive_ab.id}/units/{w.B}/history", headers=as_a(w))),
        refused(await client.get(f"/v1/directives/{w.directive_b.id}/units/{w.B}/history", headers=as_a(w))),
        # A directive that does not address A: as for the directive itself, 403.
        refused(await client.get(f"/v1/directives/{w.directive_b.id}/units/{w.A}/history", headers=as_a(w))),
    ]


@case("registry", "GET", "/v1/directives/{directive_id}/compliance")
async def _(w: World) -> list[httpx.Response]:
    client = w.client("registry")
    return [
        refused(await client.get(f"/v1/directives/{w.directive_ab.id}/compliance", params=p, headers=as_a(w)))
        for p in ({}, {"format": "csv"}, {"format": "xlsx"})
    ]


@case("registry", "POST", "/v1/keys")
async def _(w: World) -> list[httpx.Response]:
    body = {"name": "Khoá của phường Hồng Hà", "role": "ward_app", "unit_code": w.B}
    return [refused(await w.client("registry").post("/v1/keys", json=body, headers=as_a(w)))]


@case("registry", "POST", "/v1/keys/{key_id}/revoke")
async def _(w: World) -> list[httpx.Response]:
    client = w.client("registry")
    async with w.apps["registry"].state.sessions() as session:
        b_key = await session.scalar(text("SELECT id FROM auth.api_keys WHERE unit_code = :b"), {"b": w.B})
    answers = [
        refused(await client.post(f"/v1/keys/{b_key}/revoke", headers=as_a(w))),
        refused(await client.get("/v1/keys", headers=as_a(w))),
    ]
    assert (await client.get("/v1/units", headers=auth(w.keys["ward_app_b"]))).status_code == 200
    return answers


@case("registry", "POST", "/v1/directives/{directive_id}/reminders")
async def _(w: World) -> list[httpx.Response]:
    client = w.client("registry")
    return [
        refused(await client.post(f"/v1/directives/{d}/reminders", json=body, headers=as_a(w)))
        for d, body in ((w.directive_b.id, {}), (w.directive_ab.id, {"unit_codes": [w.B]}))
    ]


@case("registry", "POST", "/v1/people")
async def _(w: World) -> list[httpx.Response]:
    body = {"login": "ke-gian", "display_name": "Kẻ gian", "role": "unit", "unit_code": w.B}
    return [refused(await w.client("registry").post("/v1/people", json=body, headers=as_a(w)))]


@case("registry", "POST", "/v1/people/{person_id}/disable")
async def _(w: World) -> list[httpx.Response]:
    return [refused(await w.client("registry").post(f"/v1/people/{w.person_of_b}/disable", headers=as_a(w)))]


@case("registry", "POST", "/v1/people/{person_id}/password-reset")
async def _(w: World) -> list[httpx.Response]:
    client = w.client("registry")
    return [
        refused(await client.post(f"/v1/people/{w.person_of_b}/password-reset", headers=as_a(w))),
        refused(await client.get("/v1/people", headers=as_a(w))),
        refused(await client.get("/v1/audit", params={"login": "can-bo-b"}, headers=as_a(w))),
    ]


# --- adoption ---------------------------------------------------------------------------------------


def _event(unit: str) -> dict[str, str]:
    return {
        "event_id": uuid.uuid4().hex,
        "unit_code": unit,
        "subject": "0912000009",
        "audience": "staff",
        "type": "uninstalled",
        "occurred_at": "2020-02-21T09:15:00+07:00",
    }


@case("adoption", "POST", "/v1/adoption/events")
async def _(w: World) -> list[httpx.Response]:
    client = w.client("adoption")
    return [
        refused(await client.post("/v1/adoption/events", json={"events": events}, headers=as_a(w)))
        for events in ([_event(w.B)], [_event(w.A), _event("06653")], [_event(w.A), _event(w.B.lower())])
    ]


@case("adoption", "PUT", "/v1/adoption/units/{code}/headcount")
async def _(w: World) -> list[httpx.Response]:
    body = {"staff": 1000, "as_of": "2020-02-21"}
    return [
        refused(await w.client("adoption").put(f"/v1/adoption/units/{code}/headcount", json=body, headers=as_a(w)))
        for code in (w.B, "06653")
    ]


@case("adoption", "POST", "/v1/adoption/reports")
async def _(w: World) -> list[httpx.Response]:
    client = w.client("adoption")

    async def report(code: str) -> httpx.Response:
        body = {"unit_code": code, "as_of": "2020-02-20", "staff_total": 77, "staff_installed": 77}
        return await client.post("/v1/adoption/reports", json={**body, "citizens_guided": 9999}, headers=as_a(w))

    return [refused(await report(code)) for code in (w.B, "06653", "hl-vp")] + [not_a_code(await report(" 06653"))]


@case("adoption", "GET", "/v1/adoption/timeseries")
async def _(w: World) -> list[httpx.Response]:
    client = w.client("adoption")
    return [
        refused(await client.get("/v1/adoption/timeseries", params=p, headers=as_a(w)))
        for p in ({"unit_code": w.B}, {"unit_code": "06653"}, {})
    ]


async def _adoption_rows(w: World) -> list[httpx.Response]:
    listed = await w.client("adoption").get("/v1/adoption/units", headers=as_a(w))
    assert listed.status_code == 200 and [r["unit_code"] for r in listed.json()] == [w.A]
    return [listed, refused(await w.client("adoption").get("/v1/adoption/summary", headers=as_a(w)))]


# --- notifier ---------------------------------------------------------------------------------------


@case("notifier", "GET", "/v1/notifications")
async def _(w: World) -> list[httpx.Response]:
    client = w.client("notifier")
    return [
        refused(await client.get("/v1/notifications", params=p, headers=as_a(w)))
        for p in ({"unit_code": w.B}, {"directive_id": str(w.directive_b.id)}, {})
    ]


@case("notifier", "POST", "/v1/sms/receipts/{gateway}")
async def _(w: World) -> list[httpx.Response]:
    body = {"RequestId": str(uuid.uuid4()), "SendStatus": "4"}
    return [refused(await w.client("notifier").post("/v1/sms/receipts/esms", json=body, headers=as_a(w)), 401)]


# --- the tests --------------------------------------------------------------------------------------


async def test_every_route_taking_an_id_has_a_cross_unit_case(world):
    taking = set().union(*(id_taking_routes(name, app) for name, app in world.apps.items()))
    assert taking - CASES.keys() == set(), "routes taking an id without a case in CASES: add one"


@pytest.mark.parametrize("credential", ["ward_app", "unit_person"])
async def test_a_ward_app_reaches_nothing_of_another_unit(world, credential):
    world.ward = credential
    for route, attempt in sorted(CASES.items()):
        before = await snapshot(world)
        answers = await attempt(world)
        assert await snapshot(world) == before, f"{route} changed stored data"
        for answer in answers:
            for secret in world.secrets_of_b:
                assert secret not in answer.text, (route, secret)


async def test_a_ward_app_sees_only_its_own_adoption_row(world):
    before = await snapshot(world)
    for answer in await _adoption_rows(world):
        for secret in world.secrets_of_b:
            assert secret not in answer.text
    assert await snapshot(world) == before


async def test_idempotency_keys_belong_to_the_key_that_used_them(world):
    """A's request with the Idempotency-Key B used gets its own answer, never B's stored one."""
    client = w_client = world.client("registry")
    idem = {"Idempotency-Key": "dang-ky-1"}
    b_body = registration(world.directive_ab.id, world.B, full_name="Phạm Bảo Ngọc", phone="0987 654 321")
    b_body["email"] = "ngoc.pb.bimat@halong.gov.vn"
    b_first = await client.post("/v1/registrations", json=b_body, headers=auth(world.keys["ward_app_b"], **idem))
    assert b_first.status_code in (200, 201), b_first.text
    a_body = registration(world.directive_ab.id, world.A, full_name="Trần Văn Cường")
    a_answer = await w_client.post("/v1/registrations", json=a_body, headers=as_a(world, **idem))
    assert a_answer.status_code == 201, a_answer.text
    assert a_answer.json()["unit_code"] == world.A and "idempotent-replayed" not in a_answer.headers
    for secret in world.secrets_of_b:
        assert secret not in a_answer.text
