"""Security headers on every response, and browsers refused unless an origin is configured (OWASP API8).

The headers come from one middleware (``shared.http.SecurityHeaders``) that ``shared.web`` wraps around
every service; these tests send a request to every route of the three services, and provoke each kind
of error, and look at what comes back.
"""

from __future__ import annotations

import pytest
from fastapi import APIRouter

from services.api.app import create_app
from services.api.models import idempotency_keys
from shared.web import create_service_app
from tests.builders import auth, create_key
from tests.security.access import ACCESS, OPEN, PEOPLE, TOKEN, send, served
from tests.support.apps import serving

# The adoption metrics are polled by many screens: the contract gives them Cache-Control and ETag.
CACHED_BY_CONTRACT = {
    ("adoption", "GET", "/v1/adoption/summary"),
    ("adoption", "GET", "/v1/adoption/units"),
    ("adoption", "GET", "/v1/adoption/timeseries"),
}


def assert_secure(response, *, cache: str = "no-store") -> None:
    headers = response.headers
    where = f"{response.request.method} {response.request.url.path} {response.status_code}"
    assert headers["x-content-type-options"] == "nosniff", where
    assert headers["referrer-policy"] == "no-referrer", where
    assert headers["x-frame-options"] == "DENY", where
    policy = headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy and policy.startswith("default-src 'none'"), where
    if not headers.get("content-type", "").startswith("text/html"):
        assert policy == "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'", where
    else:  # FastAPI's documentation pages: scripts and styles from the service itself, no other host
        assert "script-src 'self' 'unsafe-inline';" in policy and "http" not in policy, where
    assert headers["cache-control"] == cache or (cache == "private" and headers["cache-control"].startswith(cache))
    assert len(headers.get_list("content-security-policy")) == 1 and len(headers.get_list("cache-control")) == 1


def role_for(route) -> str | None:
    access = ACCESS[route]
    if access in (OPEN, TOKEN):
        return None
    return next(role for role in ("office", "ops_centre", "ward_app", "app_backend", *PEOPLE) if role in access)


async def test_every_route_answers_with_the_security_headers(world):
    for route in sorted(served(world)):
        response = await send(world, route, role_for(route))
        if route in CACHED_BY_CONTRACT:
            assert response.status_code == 200 and response.headers["etag"]
            assert_secure(response, cache="private")
        else:
            assert_secure(response)


async def test_errors_carry_them_too(world):
    registry, adoption = world.client("registry"), world.client("adoption")
    office = auth(world.keys["office"])
    answers = [
        await registry.get("/v1/units"),  # 401
        await registry.post("/v1/keys", json={"name": "x", "role": "office"}, headers=auth(world.keys["ward_app"])),
        await registry.get("/v1/no/such/page", headers=office),  # 404
        await registry.delete("/v1/units/06652", headers=office),  # 405
        await registry.post("/v1/units", json={"code": "06652", "bogus": 1}, headers=office),  # 422
        await registry.post("/v1/units", content=b"x" * (1024 * 1024 + 1), headers=office),  # 413
        await adoption.post(  # 422
            "/v1/adoption/events",
            content=b"{",
            headers=auth(world.keys["app_backend"], **{"Content-Type": "application/json"}),
        ),
    ]
    assert [a.status_code for a in answers] == [401, 403, 404, 405, 422, 413, 422]
    for answer in answers:
        assert answer.headers["content-type"] == "application/problem+json"
        assert_secure(answer)
    # A 304 keeps the metrics' own caching headers.
    first = await adoption.get("/v1/adoption/summary", headers=office)
    again = await adoption.get("/v1/adoption/summary", headers={**office, "If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert_secure(again, cache="private")


async def test_a_rate_limited_answer_carries_them(db, client):
    key = await create_key(db, "ops_centre", rate_limit_per_minute=1)
    assert (await client.get("/v1/units", headers=auth(key))).status_code == 200
    refused = await client.get("/v1/units", headers=auth(key))
    assert refused.status_code == 429
    assert_secure(refused)


async def test_an_unexpected_error_answers_500_with_them(registry_settings):
    router = APIRouter()

    @router.get("/v1/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    app = create_service_app(
        registry_settings,
        service="registry",
        title="test",
        description="",
        routers=[router],
        idempotency_table=idempotency_keys,
    )
    async with serving(app) as client:
        response = await client.get("/v1/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "a bug" not in response.text and "Traceback" not in response.text
    assert_secure(response)


# --- cross-origin requests (CORS) -----------------------------------------------------------------------


def preflight(origin: str, method: str = "POST", headers: str = "authorization, content-type") -> dict[str, str]:
    return {"Origin": origin, "Access-Control-Request-Method": method, "Access-Control-Request-Headers": headers}


@pytest.mark.parametrize("service", ["registry", "adoption", "notifier"])
async def test_browsers_are_refused_by_default(world, service):
    client = world.client(service)
    path = {"registry": "/v1/units", "adoption": "/v1/adoption/units", "notifier": "/v1/notifications"}[service]
    response = await client.get(path, headers=auth(world.keys["office"], Origin="https://evil.example"))
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    refused = await client.options(path, headers=preflight("https://evil.example"))
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    assert "access-control-allow-origin" not in refused.headers
    assert "trình duyệt" in refused.json()["detail"]
    english = await client.options(path, headers={**preflight("https://evil.example"), "Accept-Language": "en"})
    assert english.json()["detail"] == "Pages of this origin may not call the API from a browser."
    assert_secure(refused)


async def test_configured_origins_and_only_they_are_allowed(db, registry_settings):
    allowed = "https://ioc.halong.gov.vn"
    key = await create_key(db, "office")
    app = create_app(registry_settings.model_copy(update={"cors_origins": [allowed]}))
    async with serving(app) as client:
        response = await client.get("/v1/units", headers=auth(key, Origin=allowed))
        assert response.status_code == 200
        assert response.headers["access-control-allow-origin"] == allowed
        assert "Origin" in response.headers["vary"]
        assert "ETag" in response.headers["access-control-expose-headers"]
        assert "access-control-allow-credentials" not in response.headers

        ok = await client.options("/v1/registrations", headers=preflight(allowed))
        assert ok.status_code == 200
        assert ok.headers["access-control-allow-origin"] == allowed
        assert "Authorization" in ok.headers["access-control-allow-headers"]
        assert_secure(ok)

        for headers in (
            preflight("https://evil.example"),
            preflight(allowed, method="DELETE"),
            preflight(allowed, headers="authorization, x-evil"),
        ):
            refused = await client.options("/v1/registrations", headers=headers)
            assert refused.status_code == 403, headers
            assert "access-control-allow-origin" not in refused.headers
        other = await client.get("/v1/units", headers=auth(key, Origin="https://evil.example"))
        assert other.status_code == 200 and "access-control-allow-origin" not in other.headers


async def test_cors_origins_are_read_from_the_environment(monkeypatch):
    from services.api.settings import RegistrySettings

    monkeypatch.setenv("IOC_CORS_ORIGINS", '["https://ioc.halong.gov.vn", "https://man-hinh.halong.gov.vn"]')
    assert RegistrySettings().cors_origins == ["https://ioc.halong.gov.vn", "https://man-hinh.halong.gov.vn"]
    monkeypatch.delenv("IOC_CORS_ORIGINS")
    assert RegistrySettings().cors_origins == []
