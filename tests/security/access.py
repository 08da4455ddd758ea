"""Who may call what: the contract's role table (``api-contract.md``, "Roles") route by route, and a
request each route answers with 2xx for a role it admits.

``ACCESS`` reads as the contract's table, so a reader can check one against the other. A role its row
names gets a 2xx for a request of its own (a ward app's for its own unit); a role it does not name gets
403; no key gets 401. A signed-in person has the rights of the key role their role maps to (``PEOPLE``),
and those a row names for them. The security tests send ``CALLS`` to every route, as every role.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from services.api.people.models import Person
from services.api.registrations.schemas import RegistrationCreate
from shared.auth import ApiKey, hash_key
from tests.builders import create_key, register_focal_point, registration
from tests.security.builders import World, create_person
from tests.security.routes import Route, routes_of

OFFICE, WARD, OPS, BACKEND = "office", "ward_app", "ops_centre", "app_backend"
ROLES = (OFFICE, WARD, OPS, BACKEND)
# People's sessions, and the key role whose rights each has (the unit person is ward A's).
OFFICE_PERSON, OPS_PERSON, UNIT_PERSON = "office_person", "ops_person", "unit_person"
PEOPLE = {OFFICE_PERSON: OFFICE, OPS_PERSON: OPS, UNIT_PERSON: WARD}
EVERYONE = (*ROLES, *PEOPLE)
OPEN = "open"  # no key needed: health, readiness, the API's own documentation, and signing in
TOKEN = "token"  # the SMS gateway's receipts: authenticated by the token in their URL, not by a key
SESSION = frozenset(PEOPLE)  # a person's session, whatever their role; no key

ACCESS: dict[Route, frozenset[str] | str] = {
    # registry
    ("registry", "GET", "/v1/units"): frozenset({OFFICE, OPS, WARD}),
    ("registry", "GET", "/v1/units/{code}"): frozenset({OFFICE, OPS, WARD}),
    ("registry", "POST", "/v1/units"): frozenset({OFFICE}),
    ("registry", "PATCH", "/v1/units/{code}"): frozenset({OFFICE}),
    ("registry", "POST", "/v1/directives"): frozenset({OFFICE}),
    ("registry", "GET", "/v1/directives"): frozenset({OFFICE, OPS, WARD}),
    ("registry", "GET", "/v1/directives/{directive_id}"): frozenset({OFFICE, OPS, WARD}),
    ("registry", "POST", "/v1/registrations"): frozenset({OFFICE, WARD}),
    ("registry", "POST", "/v1/registrations/{registration_id}/withdraw"): frozenset({OFFICE, UNIT_PERSON}),
    ("registry", "GET", "/v1/directives/{directive_id}/focal-points"): frozenset({OFFICE, OPS, WARD}),
    ("registry", "GET", "/v1/directives/{directive_id}/units/{code}/history"): frozenset({OFFICE, OPS, WARD}),
    ("registry", "GET", "/v1/directives/{directive_id}/compliance"): frozenset({OFFICE, OPS}),
    ("registry", "POST", "/v1/keys"): frozenset({OFFICE}),
    ("registry", "GET", "/v1/keys"): frozenset({OFFICE}),
    ("registry", "POST", "/v1/keys/{key_id}/revoke"): frozenset({OFFICE}),
    ("registry", "POST", "/v1/units/import"): frozenset({OFFICE}),
    ("registry", "POST", "/v1/directives/{directive_id}/reminders"): frozenset({OFFICE}),
    ("registry", "POST", "/v1/people"): frozenset({OFFICE}),
    ("registry", "GET", "/v1/people"): frozenset({OFFICE}),
    ("registry", "POST", "/v1/people/{person_id}/disable"): frozenset({OFFICE}),
    ("registry", "POST", "/v1/people/{person_id}/password-reset"): frozenset({OFFICE}),
    ("registry", "GET", "/v1/audit"): frozenset({OFFICE}),
    ("registry", "POST", "/v1/sessions"): OPEN,
    ("registry", "GET", "/v1/sessions/current"): SESSION,
    ("registry", "DELETE", "/v1/sessions/current"): SESSION,
    ("registry", "POST", "/v1/sessions/current/password"): SESSION,
    # adoption
    ("adoption", "POST", "/v1/adoption/events"): frozenset({BACKEND, WARD, OFFICE}),
    ("adoption", "PUT", "/v1/adoption/units/{code}/headcount"): frozenset({OFFICE, WARD}),
    ("adoption", "POST", "/v1/adoption/reports"): frozenset({OFFICE, WARD}),
    ("adoption", "GET", "/v1/adoption/summary"): frozenset({OFFICE, OPS}),
    ("adoption", "GET", "/v1/adoption/units"): frozenset({OFFICE, OPS, WARD}),
    ("adoption", "GET", "/v1/adoption/timeseries"): frozenset({OFFICE, OPS, WARD}),
    # notifier
    ("notifier", "GET", "/v1/notifications"): frozenset({OFFICE}),
    ("notifier", "POST", "/v1/sms/receipts/{gateway}"): TOKEN,
    # every service: Prometheus metrics are the monitoring's (the Office's or the operations centre's key)
    **{(s, "GET", "/metrics"): frozenset({OFFICE, OPS}) for s in ("registry", "adoption", "notifier")},
    **{
        (s, "GET", path): OPEN
        for s in ("registry", "adoption", "notifier")
        for path in ("/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")
    },
}


@dataclass
class Call:
    url: str
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)  # an Authorization here is a session of its own
    content: bytes | None = None


Builder = Callable[[World, str], Awaitable[Call]]


def _fresh_code() -> str:
    return f"T{uuid.uuid4().int % 10**6:06d}"


def _event(unit: str) -> dict[str, str]:
    return {
        "event_id": uuid.uuid4().hex,
        "unit_code": unit,
        "subject": "0912000001",
        "audience": "staff",
        "type": "installed",
        "occurred_at": "2020-02-20T09:15:00+07:00",
    }


async def _revocable_key(world: World, role: str) -> Call:
    key_id = await world_key_id(world)
    return Call(f"/v1/keys/{key_id}/revoke")


async def world_key_id(world: World) -> uuid.UUID:
    """The id of a fresh key, for a revocation."""
    secret = await create_key(world.apps["registry"].state.sessions, "ops_centre")
    async with world.apps["registry"].state.sessions() as session:
        return await session.scalar(select(ApiKey.id).where(ApiKey.key_hash == hash_key(secret)))


async def _withdrawal(world: World, role: str) -> Call:
    """A's focal point of the moment (earlier rows of the table may have replaced the world's)."""
    active, _ = await register_focal_point(
        world.apps["registry"].state.sessions,
        RegistrationCreate(**registration(world.directive_ab.id, world.A, full_name=f"Lê Văn {uuid.uuid4().hex[:6]}")),
    )
    return Call(f"/v1/registrations/{active.id}/withdraw", {"reason": "Chuyển công tác"})


async def _person_id(world: World) -> str:
    """A fresh account's id, to disable or reset."""
    login = f"p-{uuid.uuid4().hex[:10]}"
    await create_person(world.apps["registry"].state.sessions, login, "ops_centre")
    async with world.apps["registry"].state.sessions() as session:
        return str(await session.scalar(select(Person.id).where(Person.login == login)))


async def _signed_in(world: World, *, must_change_password: bool = False) -> tuple[str, str]:
    """(a fresh person's password, a session of theirs): for the calls that end or change a session."""
    login = f"s-{uuid.uuid4().hex[:10]}"
    password = await create_person(
        world.apps["registry"].state.sessions, login, "ops_centre", must_change_password=must_change_password
    )
    signed = await world.client("registry").post("/v1/sessions", json={"login": login, "password": password})
    assert signed.status_code == 201, signed.text
    return password, signed.json()["token"]


async def _sign_in(world: World, role: str) -> Call:
    login = f"s-{uuid.uuid4().hex[:10]}"
    password = await create_person(world.apps["registry"].state.sessions, login, "unit", world.A)
    return Call("/v1/sessions", {"login": login, "password": password})


async def _sign_out(world: World, role: str) -> Call:
    _, token = await _signed_in(world)
    return Call("/v1/sessions/current", headers={"Authorization": f"Bearer {token}"})


async def _password_change(world: World, role: str) -> Call:
    password, token = await _signed_in(world, must_change_password=True)
    body = {"current_password": password, "new_password": "mot mat khau moi dai"}
    return Call("/v1/sessions/current/password", body, headers={"Authorization": f"Bearer {token}"})


def _call(url: str, json: Any = None) -> Builder:
    async def build(world: World, role: str) -> Call:
        return Call(url.format(w=world), json)

    return build


# A request each route answers with 2xx for a role it admits (a ward app's for its own unit, A).
CALLS: dict[Route, Builder] = {
    ("registry", "GET", "/v1/units"): _call("/v1/units"),
    ("registry", "GET", "/v1/units/{code}"): _call("/v1/units/{w.A}"),
    ("registry", "POST", "/v1/units"): lambda w, r: _async(
        Call("/v1/units", {"code": _fresh_code(), "name": "Phường Thử", "kind": "ward"})
    ),
    ("registry", "PATCH", "/v1/units/{code}"): _call("/v1/units/{w.A}", {"name": "Phường Hà Phong"}),
    ("registry", "POST", "/v1/directives"): lambda w, r: _async(
        Call(
            "/v1/directives",
            {
                "number": f"{uuid.uuid4().int % 10000}/UBND",
                "title": "Cử cán bộ đầu mối",
                "issued_on": "2030-01-02",
                "deadline": "2030-01-15T00:00:00+07:00",
                "unit_codes": [w.A],
            },
        )
    ),
    ("registry", "GET", "/v1/directives"): _call("/v1/directives"),
    ("registry", "GET", "/v1/directives/{directive_id}"): _call("/v1/directives/{w.directive_ab.id}"),
    ("registry", "POST", "/v1/registrations"): lambda w, r: _async(
        Call("/v1/registrations", registration(w.directive_ab.id, w.A, full_name=f"Nguyễn Văn {r}"))
    ),
    ("registry", "POST", "/v1/registrations/{registration_id}/withdraw"): _withdrawal,
    ("registry", "GET", "/v1/directives/{directive_id}/focal-points"): _call(
        "/v1/directives/{w.directive_ab.id}/focal-points"
    ),
    ("registry", "GET", "/v1/directives/{directive_id}/units/{code}/history"): _call(
        "/v1/directives/{w.directive_ab.id}/units/{w.A}/history"
    ),
    ("registry", "GET", "/v1/directives/{directive_id}/compliance"): _call(
        "/v1/directives/{w.directive_ab.id}/compliance"
    ),
    ("registry", "POST", "/v1/keys"): _call("/v1/keys", {"name": "Màn hình IOC", "role": "ops_centre"}),
    ("registry", "GET", "/v1/keys"): _call("/v1/keys"),
    ("registry", "POST", "/v1/keys/{key_id}/revoke"): _revocable_key,
    ("registry", "POST", "/v1/units/import"): lambda w, r: _async(
        Call(
            "/v1/units/import",
            headers={"Content-Type": "text/csv"},
            content=f"code,name,kind\n{_fresh_code()},Phường Thử,ward\n".encode(),
        )
    ),
    ("registry", "POST", "/v1/directives/{directive_id}/reminders"): _call(
        "/v1/directives/{w.directive_ab.id}/reminders", {"unit_codes": None}
    ),
    ("registry", "POST", "/v1/people"): lambda w, r: _async(
        Call("/v1/people", {"login": f"p-{uuid.uuid4().hex[:10]}", "display_name": "Người thử", "role": "ops_centre"})
    ),
    ("registry", "GET", "/v1/people"): _call("/v1/people"),
    ("registry", "POST", "/v1/people/{person_id}/disable"): lambda w, r: _url(w, "/v1/people/{}/disable"),
    ("registry", "POST", "/v1/people/{person_id}/password-reset"): lambda w, r: _url(w, "/v1/people/{}/password-reset"),
    ("registry", "GET", "/v1/audit"): _call("/v1/audit"),
    ("registry", "POST", "/v1/sessions"): _sign_in,
    ("registry", "GET", "/v1/sessions/current"): _call("/v1/sessions/current"),
    ("registry", "DELETE", "/v1/sessions/current"): _sign_out,
    ("registry", "POST", "/v1/sessions/current/password"): _password_change,
    ("adoption", "POST", "/v1/adoption/events"): lambda w, r: _async(
        Call("/v1/adoption/events", {"events": [_event(w.A)]})
    ),
    ("adoption", "PUT", "/v1/adoption/units/{code}/headcount"): _call(
        "/v1/adoption/units/{w.A}/headcount", {"staff": 40, "as_of": "2020-02-20"}
    ),
    ("adoption", "POST", "/v1/adoption/reports"): lambda w, r: _async(
        Call(
            "/v1/adoption/reports",
            {"unit_code": w.A, "as_of": "2020-02-21", "staff_total": 40, "staff_installed": 4, "citizens_guided": 1},
        )
    ),
    ("adoption", "GET", "/v1/adoption/summary"): _call("/v1/adoption/summary"),
    ("adoption", "GET", "/v1/adoption/units"): _call("/v1/adoption/units"),
    ("adoption", "GET", "/v1/adoption/timeseries"): _call("/v1/adoption/timeseries?unit_code={w.A}"),
    ("notifier", "GET", "/v1/notifications"): _call("/v1/notifications"),
    ("notifier", "POST", "/v1/sms/receipts/{gateway}"): _call(
        "/v1/sms/receipts/esms", {"RequestId": str(uuid.UUID(int=7)), "SendStatus": "5"}
    ),
    **{(s, "GET", "/metrics"): _call("/metrics") for s in ("registry", "adoption", "notifier")},
    **{
        (s, "GET", path): _call(path)
        for s in ("registry", "adoption", "notifier")
        for path in ("/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")
    },
}


async def _async(call: Call) -> Call:
    return call


async def _url(world: World, template: str) -> Call:
    return Call(template.format(await _person_id(world)))


def expected(route: Route, role: str | None) -> int:
    """The status class a role (None: no key) gets: 2 (2xx), or exactly 401 or 403."""
    access = ACCESS[route]
    if access == OPEN:
        return 2
    if access == TOKEN:
        return 401
    if role is None:
        return 401
    if role in PEOPLE:
        return 2 if role in access or PEOPLE[role] in access else 403
    return 2 if role in access else 403


async def send(world: World, route: Route, role: str | None) -> Any:
    service, method, _ = route
    call = await CALLS[route](world, role or "anonymous")
    headers = dict(call.headers)
    if role is None:
        headers.pop("Authorization", None)
    elif role not in PEOPLE or "Authorization" not in headers:  # a call's own session stands for any person
        headers["Authorization"] = f"Bearer {world.keys[role]}"
    return await world.client(service).request(method, call.url, json=call.json, content=call.content, headers=headers)


def served(world: World) -> set[Route]:
    return set().union(*(routes_of(name, app) for name, app in world.apps.items()))
