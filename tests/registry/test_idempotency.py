"""Idempotency-Key on POST: retries replay the first answer and never act twice."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update

from services.api.models import FocalPoint, idempotency_keys
from shared import idempotency
from tests.builders import auth, create_directive, create_key, create_unit, registration


@pytest.fixture
async def ward(db):
    await create_unit(db, "06652")
    directive = await create_directive(db, ["06652"])
    return directive, await create_key(db, "ward_app", unit="06652")


async def versions(db) -> int:
    async with db() as session:
        return await session.scalar(select(func.count()).select_from(FocalPoint))


async def test_same_key_same_body_replays_the_first_response(client, db, ward):
    directive, key = ward
    headers = auth(key, **{"Idempotency-Key": "dang-ky-1"})
    first = await client.post("/v1/registrations", json=registration(directive.id), headers=headers)
    replay = await client.post("/v1/registrations", json=registration(directive.id), headers=headers)
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json()
    assert replay.headers["idempotent-replayed"] == "true"
    assert await versions(db) == 1


async def test_same_key_different_body_is_422(client, db, ward):
    directive, key = ward
    headers = auth(key, **{"Idempotency-Key": "dang-ky-2"})
    await client.post("/v1/registrations", json=registration(directive.id), headers=headers)
    other = await client.post(
        "/v1/registrations", json=registration(directive.id, full_name="Trần Văn Bình"), headers=headers
    )
    assert other.status_code == 422
    assert other.json()["type"] == "/problems/idempotency-mismatch"
    assert await versions(db) == 1


async def test_same_key_while_first_runs_is_409(client, db, registry_app, ward):
    directive, key = ward
    headers = auth(key, **{"Idempotency-Key": "dang-ky-3"})
    # Hold the unit's lock so the first request stays in flight.
    async with registry_app.state.engine.connect() as blocker:
        await blocker.execute(text("BEGIN"))
        await blocker.execute(text("SELECT 1 FROM registry.directive_units FOR UPDATE"))
        first = asyncio.create_task(client.post("/v1/registrations", json=registration(directive.id), headers=headers))
        for _ in range(100):  # until the first request has claimed the key
            async with registry_app.state.engine.connect() as conn:
                if await conn.scalar(text("SELECT count(*) FROM registry.idempotency_keys")):
                    break
            await asyncio.sleep(0.02)
        second = await client.post("/v1/registrations", json=registration(directive.id), headers=headers)
        assert second.status_code == 409
        assert second.headers.get("retry-after")
        await blocker.execute(text("ROLLBACK"))
    assert (await first).status_code == 201
    assert await versions(db) == 1


async def test_keys_are_per_api_key(client, db, ward):
    directive, key = ward
    office = await create_key(db, "office")
    await client.post(
        "/v1/registrations", json=registration(directive.id), headers=auth(key, **{"Idempotency-Key": "k"})
    )
    other = await client.post(
        "/v1/registrations",
        json=registration(directive.id, full_name="Lê Văn Cường"),
        headers=auth(office, **{"Idempotency-Key": "k"}),
    )
    assert other.status_code == 201  # another caller's key of the same name is another key


async def test_validation_failures_are_replayed_too(client, db, ward):
    directive, key = ward
    headers = auth(key, **{"Idempotency-Key": "sai-so"})
    bad = registration(directive.id, phone="0168 345 6789")
    first = await client.post("/v1/registrations", json=bad, headers=headers)
    second = await client.post("/v1/registrations", json=bad, headers=headers)
    assert first.status_code == second.status_code == 422
    assert second.json() == first.json()


async def test_unauthenticated_requests_leave_no_key(client, registry_app, ward):
    directive, _ = ward
    response = await client.post(
        "/v1/registrations",
        json=registration(directive.id),
        headers={"Authorization": "Bearer ioc_nope", "Idempotency-Key": "x"},
    )
    assert response.status_code == 401
    async with registry_app.state.engine.connect() as conn:
        assert await conn.scalar(text("SELECT count(*) FROM registry.idempotency_keys")) == 0


async def test_an_abandoned_claim_can_be_taken_over(client, db, registry_app, ward):
    """A process that died mid-request leaves its claim; after the lease, a retry runs again."""
    directive, key = ward
    headers = auth(key, **{"Idempotency-Key": "mo-coi"})
    await client.post("/v1/registrations", json=registration(directive.id), headers=headers)
    async with registry_app.state.engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE registry.idempotency_keys SET status = NULL, response_body = NULL, "
                "locked_until = now() - interval '1 second'"
            )
        )
    retried = await client.post("/v1/registrations", json=registration(directive.id), headers=headers)
    assert retried.status_code == 200  # ran again: equal to the active focal point, nothing new
    assert await versions(db) == 1


async def test_keys_older_than_the_retention_are_purged_by_the_worker(client, db, registry_settings):
    key = await create_key(db)
    for name in ("old", "recent"):
        headers = auth(key, **{"Idempotency-Key": name})
        body = {"code": f"HL-{name.upper()}", "name": f"Phòng {name}", "kind": "department"}
        assert (await client.post("/v1/units", json=body, headers=headers)).status_code == 201
    async with db() as session, session.begin():
        await session.execute(
            update(idempotency_keys)
            .where(idempotency_keys.c.key == "old")
            .values(created_at=func.now() - timedelta(hours=registry_settings.idempotency_retention_hours, minutes=1))
        )
    purge = idempotency.purge_job(idempotency_keys).coroutine
    assert await purge({"settings": registry_settings, "sessions": db}) == 1
    async with db() as session:
        assert (await session.scalars(select(idempotency_keys.c.key))).all() == ["recent"]
