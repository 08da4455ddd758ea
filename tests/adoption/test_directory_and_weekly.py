"""The unit directory reaches adoption by queue messages only; weekly nudges and digest go to the notifier."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

import services.adoption
from services.adoption.models import OutboxMessage, outbox
from services.adoption.weekly import service as weekly
from services.adoption.worker import build_worker, unit_changed
from services.api.worker import relay as registry_relay
from shared import queues
from shared.contracts import AdoptionDigest, AdoptionNudge, UnitChanged, UnitRef
from shared.outbox import Relay
from shared.timeutil import VIETNAM, utcnow
from tests.adoption.builders import add_unit, event, fold, settled
from tests.builders import auth, create_key
from tests.support.workers import running

EVENTS = "/v1/adoption/events"


async def relay(registry_settings, db) -> int:
    """The registry's outbox relay, one pass over new rows (as its worker does every 0.2 s)."""
    redis = await queues.connect(registry_settings)
    try:
        return await registry_relay(registry_settings, db, redis).relay_new()
    finally:
        await redis.aclose()


@contextlib.asynccontextmanager
async def adoption_worker(settings):
    """A real adoption worker (arq, this event loop) on an adoption queue emptied of other tests' jobs."""
    redis = await queues.connect(settings)
    await redis.delete(queues.queue_name(settings, queues.ADOPTION))
    await redis.aclose()
    process = build_worker(settings, poll_delay=0.05)
    async with running(process):
        yield process


async def adoption_unit(app, code: str):
    async with app.state.pg.acquire() as conn:
        return await conn.fetchrow("SELECT name, active, registry_headcount FROM adoption.units WHERE code = $1", code)


async def until(check, seconds: float = 10):
    async with asyncio.timeout(seconds):
        while not (result := await check()):
            await asyncio.sleep(0.02)
    return result


async def test_a_unit_made_in_the_registry_reaches_adoption_and_follows_its_changes(
    adoption, adoption_client, client, db, registry_settings, adoption_settings
):
    office = await create_key(db, "office")
    backend = await create_key(db, "app_backend")
    before = await adoption_client.post(EVENTS, json={"events": [event("0912000001")]}, headers=auth(backend))
    assert before.status_code == 422  # no such unit yet

    async with adoption_worker(adoption_settings):
        unit = {"code": "06652", "name": "Phường Hà Phong", "kind": "ward", "staff_headcount": 4}
        assert (await client.post("/v1/units", json=unit, headers=auth(office))).status_code == 201
        assert await relay(registry_settings, db) == 1
        row = await until(lambda: adoption_unit(adoption, "06652"))
        assert (row["name"], row["active"], row["registry_headcount"]) == ("Phường Hà Phong", True, 4)
        response = await adoption_client.post(EVENTS, json={"events": [event("0912000001")]}, headers=auth(backend))
        assert response.status_code == 202 and response.json()["accepted"] == 1
        await fold(adoption)

        patch = {"name": "Phường Hà Phong (mới)", "staff_headcount": 2}
        assert (await client.patch("/v1/units/06652", json=patch, headers=auth(office))).status_code == 200
        assert await relay(registry_settings, db) == 1
        await until(lambda: _named(adoption, "06652", "Phường Hà Phong (mới)"))
        rows = await _listed(adoption, adoption_client, office)
        assert rows["06652"]["unit_name"] == "Phường Hà Phong (mới)" and rows["06652"]["staff_rate"] == 0.5

        assert (await client.patch("/v1/units/06652", json={"active": False}, headers=auth(office))).status_code == 200
        assert await relay(registry_settings, db) == 1
        await until(lambda: _retired(adoption, "06652"))
    assert "06652" not in await _listed(adoption, adoption_client, office)
    response = await adoption_client.post(EVENTS, json={"events": [event("0912000002")]}, headers=auth(backend))
    assert response.status_code == 422  # a retired unit takes no more events


async def _named(app, code, name) -> bool:
    row = await adoption_unit(app, code)
    return row is not None and row["name"] == name


async def _retired(app, code) -> bool:
    row = await adoption_unit(app, code)
    return row is not None and not row["active"]


async def _listed(app, client, key) -> dict[str, dict]:
    await settled(app)  # the app hears of changes asynchronously (LISTEN)
    return {r["unit_code"]: r for r in (await client.get("/v1/adoption/units", headers=auth(key))).json()}


async def test_an_older_unit_message_delivered_late_does_not_undo_a_newer_one(adoption):
    def message(minutes_ago: int, name: str, active: bool) -> UnitChanged:
        return UnitChanged(
            message_id=uuid.uuid4(),
            occurred_at=utcnow() - timedelta(minutes=minutes_ago),
            unit=UnitRef(code="06652", name=name, kind="ward"),
            active=active,
        )

    ctx = {"sessions": adoption.state.sessions}
    await unit_changed(ctx, message(5, "Phường Hà Phong", True))
    newer, older = message(1, "Phường Hà Phong", False), message(3, "Phường Hà Phong (cũ)", True)
    await unit_changed(ctx, newer)
    await unit_changed(ctx, older)  # retried or run concurrently, it finishes after the newer one
    row = await adoption_unit(adoption, "06652")
    assert (row["name"], row["active"]) == ("Phường Hà Phong", False)


def test_the_adoption_service_never_reads_another_services_tables():
    root = Path(services.adoption.__file__).parent
    offences = []
    for path in root.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        for pattern in (
            r"\b(registry|notify)\.[a-z_]+\b",
            r"schema\s*=\s*['\"](registry|notify)",
            r"services\.(api|notifier)",
        ):
            offences += [f"{path.relative_to(root)}: {m.group(0)}" for m in re.finditer(pattern, text)]
    assert offences == []
    assert len(list(root.rglob("*.py"))) > 10


async def outbox_messages(app, week: str) -> dict[str, dict]:
    """The adoption outbox's messages for ``week``: {message id: payload}."""
    async with app.state.sessions() as session:
        rows = (await session.scalars(select(OutboxMessage).order_by(OutboxMessage.created_at))).all()
    return {str(r.id): r.payload for r in rows if r.payload.get("week") == week}


async def test_weekly_nudges_lagging_units_and_sends_one_digest_once_a_week(
    adoption, adoption_client, adoption_settings, db
):
    for code, headcount in (("L1", 10), ("L2", 4), ("T", 2), ("N", None)):
        await add_unit(adoption, code, headcount=headcount, email=f"{code.lower()}@halong.gov.vn")
    adopted = {"L1": 2, "L2": 1, "T": 2, "N": 1}  # rates .2, .25, 1.0 (at target), none (no headcount)
    backend = await create_key(db, "app_backend")
    body = {"events": [event(f"09120000{i:02d}", unit=c) for c, n in adopted.items() for i in range(n)]}
    assert (await adoption_client.post(EVENTS, json=body, headers=auth(backend))).json()["accepted"] == 6
    await fold(adoption)

    async def send(*moment: int) -> int:
        now = datetime(*moment, tzinfo=VIETNAM)
        return await weekly.send_weekly(adoption.state.sessions, adoption.state.pg, adoption_settings, now=now)

    assert await send(2020, 3, 2, 9, 0) == 3  # Monday 2 March 09:00, ISO week 10
    written = await outbox_messages(adoption, "2020-W10")
    types = sorted(payload["type"] for payload in written.values())
    assert types == ["adoption.unit.lagging", "adoption.unit.lagging", "adoption.weekly_digest"]
    messages = [
        (AdoptionDigest if p["type"] == "adoption.weekly_digest" else AdoptionNudge).model_validate(p)
        for p in written.values()
    ]
    nudges = sorted((m for m in messages if isinstance(m, AdoptionNudge)), key=lambda m: m.unit.code)
    assert [(n.unit.code, n.unit.email, n.staff_rate) for n in nudges] == [
        ("L1", "l1@halong.gov.vn", 0.2),
        ("L2", "l2@halong.gov.vn", 0.25),
    ]
    (digest,) = [m for m in messages if isinstance(m, AdoptionDigest)]
    assert [u.unit.code for u in digest.lagging] == ["L1", "L2"]  # the furthest behind first
    assert (digest.staff_total, digest.staff_adopted) == (16, 5)

    assert await send(2020, 3, 4, 10, 0) == 0  # later the same week: nothing more
    assert await send(2020, 3, 2, 9, 0) == 0
    assert await outbox_messages(adoption, "2020-W10") == written

    assert await send(2020, 3, 9, 7, 59) == 0  # next Monday, before 08:00
    assert await outbox_messages(adoption, "2020-W11") == {}
    assert await send(2020, 3, 9, 8, 0) == 3
    assert len(await outbox_messages(adoption, "2020-W11")) == 3


async def test_the_weekly_messages_go_to_the_notifiers_bulk_lane_once(adoption, adoption_settings):
    await add_unit(adoption, "L1", headcount=10, email="l1@halong.gov.vn")
    await weekly.send_weekly(
        adoption.state.sessions, adoption.state.pg, adoption_settings, now=datetime(2020, 3, 2, 9, tzinfo=VIETNAM)
    )
    written = await outbox_messages(adoption, "2020-W10")
    redis = await queues.connect(adoption_settings)
    bulk = queues.queue_name(adoption_settings, queues.NOTIFIER, "bulk")
    try:
        await redis.delete(bulk)
        relay = Relay(outbox, adoption.state.sessions, redis, adoption_settings)
        assert await relay.relay_new() == 2
        assert await relay.relay_new() == 0
        assert {m.decode() for m in await redis.zrange(bulk, 0, -1)} == set(written)
    finally:
        await redis.delete(bulk)
        await redis.aclose()
