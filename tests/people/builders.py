"""People, sign-ins and clients from given addresses, for the people and sessions tests."""

from __future__ import annotations

from typing import Any

import httpx

from services.api.people import service as people
from services.api.people.schemas import PersonCreate
from tests.builders import Sessions


async def create_person(
    db: Sessions,
    login: str = "ha-phong",
    *,
    role: str = "unit",
    unit: str | None = "06652",
    must_change_password: bool = False,
    name: str = "Nguyễn Thị Lan",
) -> str:
    """A person's one-time password (the unit must exist for role unit)."""
    async with db() as session:
        created = await people.create_person(
            session,
            PersonCreate(
                login=login,
                display_name=name,
                role=role,
                unit_code=unit if role == "unit" else None,
                must_change_password=must_change_password,
            ),
            by="test",
        )
        return created.password


def client_from(app: Any, address: str, service: str = "registry") -> httpx.AsyncClient:
    """A client of ``app`` whose requests come from ``address``."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False, client=(address, 40123))
    return httpx.AsyncClient(transport=transport, base_url=f"http://{service}.test")


async def sign_in(client: httpx.AsyncClient, login: str, password: str) -> str:
    response = await client.post("/v1/sessions", json={"login": login, "password": password})
    assert response.status_code == 201, response.text
    return response.json()["token"]
