"""Unrestricted resource consumption (OWASP API4): every list, batch, body, query and import is bounded.

The routes come from the apps' route tables and OpenAPI documents, so a new body route, page or string
parameter is checked without a line here (or fails until its bound is known). The per-key rate limits
are tested in ``test_rate_limits.py``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
from sqlalchemy import func, select

from services.api.models import Unit
from services.notifier.receipts.schemas import GATEWAY_PATTERN
from shared.schemas import UNIT_CODE_PATTERN
from tests.builders import auth
from tests.security.access import ACCESS, CALLS, OPEN, PEOPLE, TOKEN, served
from tests.security.builders import RECEIPT_TOKEN, World, snapshot
from tests.security.routes import body_schema, operations
from tests.support.cli import ioc

MIB = 1024 * 1024
MAX_PAGE = 1000
# String parameters bounded by their pattern, not a maxLength: the longest value each pattern matches.
BOUND_BY_PATTERN = {UNIT_CODE_PATTERN: 32, GATEWAY_PATTERN: 60}
# Headers compared with an ETag and never stored: any value is taken (a 304 or a 200), and their size is
# bounded where every header's is, in the reverse proxy and the HTTP server (docs/security.md, API4).
COMPARED_ONLY = {"If-None-Match"}


def caller(world: World, route) -> tuple[dict[str, str], str]:
    """Headers and a query string that pass the route's authentication (the Office's key, or the token)."""
    if ACCESS[route] == TOKEN:
        return {}, f"token={RECEIPT_TOKEN}"
    if ACCESS[route] == OPEN:
        return {}, ""
    role = next(r for r in ("office", "ward_app", "app_backend", *PEOPLE) if r in ACCESS[route])
    return auth(world.keys[role]), ""


def with_query(url: str, query: str) -> str:
    if not query:
        return url
    return f"{url}{'&' if '?' in url else '?'}{query}"


async def test_every_body_over_one_mib_is_413_and_changes_nothing(world):
    """Declared over the limit: refused before the route runs. Sent without a length: refused as soon as
    the route has read past the limit (a route that reads no body, as a revocation, never buffers one)."""
    writes = sorted(r for r in served(world) if r[1] in ("POST", "PUT", "PATCH"))
    assert len(writes) >= 11
    reading = {route for name, app in world.apps.items() for route, op in operations(name, app) if body_schema(op)}
    reading.add(("notifier", "POST", "/v1/sms/receipts/{gateway}"))  # reads the gateway's raw JSON or form
    padding = {"padding": "x" * MIB}

    async def streamed() -> AsyncIterator[bytes]:
        for _ in range(17):
            yield b"x" * (64 * 1024)

    for route in writes:
        service, method, _ = route
        headers, query = caller(world, route)
        call = await CALLS[route](world, "office" if "office" in ACCESS[route] else "app_backend")
        body: dict[str, Any] = {**(call.json or {}), **padding}
        client = world.client(service)
        url = with_query(call.url, query)
        before = await snapshot(world)
        answers = [("content-length", await client.request(method, url, json=body, headers=headers))]
        if route in reading:
            chunked = {**headers, "Content-Type": "application/json"}
            answers.append(("streamed", await client.request(method, url, content=streamed(), headers=chunked)))
        for how, response in answers:
            assert response.status_code == 413, (route, how, response.status_code, response.text[:200])
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["type"] == "/problems/payload-too-large"
        assert await snapshot(world) == before, route


async def test_every_page_is_at_most_a_thousand_items(world):
    paged = []
    for name, app in world.apps.items():
        for route, operation in operations(name, app):
            response_schema = str(operation.get("responses", {}).get("200", {}))
            limits = [p for p in operation.get("parameters", []) if p["name"] == "limit"]
            if "Page_" in response_schema:
                assert limits, f"{route} answers pages without a limit parameter"
            if limits:
                assert limits[0]["schema"]["maximum"] <= MAX_PAGE and limits[0]["schema"]["minimum"] >= 1, route
                paged.append(route)
    assert {r[2] for r in paged} == {"/v1/directives", "/v1/notifications", "/v1/audit"}
    for route in paged:
        service = route[0]
        headers, _ = caller(world, route)
        client = world.client(service)
        assert (await client.get(route[2], params={"limit": MAX_PAGE}, headers=headers)).status_code == 200
        for bad in (MAX_PAGE + 1, 0, -1, 10**12):
            response = await client.get(route[2], params={"limit": bad}, headers=headers)
            assert response.status_code == 422, (route, bad)
            assert response.json()["errors"][0]["field"] == "limit"


async def test_every_string_parameter_has_a_length_bound_and_holds_it(world):
    checked = 0
    for name, app in world.apps.items():
        for route, operation in operations(name, app):
            for parameter in operation.get("parameters", []):
                schema = parameter["schema"]
                variants = schema.get("anyOf", [schema])
                strings = [v for v in variants if v.get("type") == "string" and "enum" not in v and "format" not in v]
                if not strings:
                    continue
                headers, query = caller(world, route)
                service, method, path = route
                call = await CALLS[route](world, "office")
                if parameter["in"] == "header" and parameter["name"] in COMPARED_ONLY:
                    assert "maxLength" not in strings[0], (route, parameter["name"])
                    headers = {**headers, parameter["name"]: '"' + "A" * 64 * 1024 + '"'}
                    response = await world.client(service).request(method, call.url, json=call.json, headers=headers)
                    assert response.status_code == 200, (route, parameter["name"], response.status_code)
                    continue
                bound = strings[0].get("maxLength") or BOUND_BY_PATTERN.get(strings[0].get("pattern", ""))
                assert bound, f"{route} {parameter['name']}: a string without a length bound"
                too_long = "A" * (bound + 1)
                before = await snapshot(world)
                if parameter["in"] == "header":
                    url = with_query(call.url, query)
                    headers = {**headers, parameter["name"]: too_long}
                elif parameter["in"] == "path":
                    url = path.replace("{" + parameter["name"] + "}", too_long)
                    for other in ("directive_id", "registration_id", "key_id"):
                        url = url.replace("{" + other + "}", str(uuid.uuid4()))
                    url = with_query(url, query)
                else:
                    url = with_query(with_query(call.url.split("?")[0], query), f"{parameter['name']}={too_long}")
                response = await world.client(service).request(method, url, json=call.json, headers=headers)
                assert response.status_code == 422, (route, parameter["name"], response.status_code, response.text)
                assert response.headers["content-type"] == "application/problem+json"
                assert [e["field"] for e in response.json()["errors"]] == [parameter["name"]], response.text
                assert await snapshot(world) == before, (route, parameter["name"])
                checked += 1
    assert checked >= 8


async def test_an_idempotency_key_in_several_header_lines_holds_its_bound_as_one(world):
    """Several Idempotency-Key lines are one value, joined by ", " (RFC 9110): together over 255
    characters they are refused, whichever line is short, and nothing is stored."""
    route = ("registry", "POST", "/v1/registrations")
    call = await CALLS[route](world, "office")
    authorization = [(b"authorization", f"Bearer {world.keys['office']}".encode())]
    for lines in ([b"A" * 300, b"k-1"], [b"k-2", b"A" * 300], [b"A" * 127, b"B" * 127]):
        before = await snapshot(world)
        headers = httpx.Headers(authorization + [(b"idempotency-key", line) for line in lines])
        response = await world.client("registry").post(call.url, json=call.json, headers=headers)
        assert response.status_code == 422, (lines, response.status_code, response.text)
        assert response.json()["errors"] == [
            {"field": "Idempotency-Key", "message": "Không được dài quá 255 ký tự.", "code": "string_too_long"}
        ]
        assert await snapshot(world) == before, lines


def test_each_pattern_bound_is_the_longest_value_its_pattern_matches():
    for pattern, bound in BOUND_BY_PATTERN.items():
        assert re.fullmatch(pattern, "A" * bound) and not re.fullmatch(pattern, "A" * (bound + 1)), pattern


async def test_an_event_batch_holds_at_most_a_thousand_events(world):
    client = world.client("adoption")
    headers = auth(world.keys["app_backend"])

    def batch(n: int) -> dict[str, list[dict[str, str]]]:
        return {
            "events": [
                {
                    "event_id": uuid.uuid4().hex,
                    "unit_code": World.A,
                    "subject": f"09120{i:05d}",
                    "audience": "citizen",
                    "type": "installed",
                    "occurred_at": "2020-02-20T09:15:00+07:00",
                }
                for i in range(n)
            ]
        }

    before = await snapshot(world)
    refused = await client.post("/v1/adoption/events", json=batch(1001), headers=headers)
    assert refused.status_code == 422
    assert refused.json()["type"] == "/problems/validation-error"
    assert "1000" in refused.json()["detail"].replace(",", "").replace(".", "")
    assert await snapshot(world) == before
    accepted = await client.post("/v1/adoption/events", json=batch(1000), headers=headers)
    assert accepted.status_code == 202 and accepted.json()["accepted"] == 1000


async def test_a_directive_addresses_at_most_five_thousand_units(world):
    body = {
        "number": "5001/UBND",
        "title": "Quá nhiều đơn vị",
        "issued_on": "2030-01-02",
        "deadline": "2030-01-15T00:00:00+07:00",
        "unit_codes": [f"U{i:05d}" for i in range(5001)],
    }
    before = await snapshot(world)
    response = await world.client("registry").post("/v1/directives", json=body, headers=auth(world.keys["office"]))
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "unit_codes"
    assert await snapshot(world) == before


# --- the unit import (`ioc units import`) -------------------------------------------------------------


async def units(db) -> int:
    async with db() as session:
        return await session.scalar(select(func.count()).select_from(Unit))


async def test_an_oversized_unit_file_is_refused_before_it_is_read(client, db, registry_settings, tmp_path):
    big = tmp_path / "big.csv"
    with big.open("w", encoding="utf-8") as handle:
        handle.write("code,name,kind\n")
        handle.write("06652,Phường Hà Phong,ward\n")
        handle.write(f"06653,Phường {'x' * (5 * MIB)},ward\n")
    result = await ioc(registry_settings, tmp_path, "units", "import", str(big))
    assert result.returncode == 2 and "at most 5,242,880" in result.stderr and "Traceback" not in result.stderr
    assert await units(db) == 0


async def test_a_unit_file_of_too_many_rows_is_refused(client, db, registry_settings, tmp_path):
    many = tmp_path / "many.csv"
    many.write_text("code,name,kind\n" + "".join(f"X{i:05d},P,ward\n" for i in range(20_001)), encoding="utf-8")
    result = await ioc(registry_settings, tmp_path, "units", "import", str(many))
    assert result.returncode == 2 and "more than 20,000 rows" in result.stderr and "Traceback" not in result.stderr
    assert await units(db) == 0


async def test_a_long_chain_of_parents_or_short_rows_never_crash_the_import(client, db, registry_settings, tmp_path):
    chain = tmp_path / "chain.csv"
    # 3,000 units each the parent of the next, listed children first; their kind is wrong, so each row
    # is reported and none stored. The ordering used to recurse once per ancestor.
    rows = [f"C{i:05d},Đơn vị {i},khong-ro,C{i - 1:05d}\n" for i in range(3000, 0, -1)]
    chain.write_text("code,name,kind,parent_code\n" + "".join(rows), encoding="utf-8")
    result = await ioc(registry_settings, tmp_path, "units", "import", str(chain))
    assert result.returncode == 1, result.stderr[-2000:]
    assert "rejected 3000" in result.stdout and "Traceback" not in result.stderr

    short = tmp_path / "short.csv"
    short.write_text("ward_code,ward_name,ward_type\n06652,Phường Hà Phong,Phường\n06653\n", encoding="utf-8")
    result = await ioc(registry_settings, tmp_path, "units", "import", str(short))
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
    assert "created 1" in result.stdout and "rejected 1" in result.stdout
