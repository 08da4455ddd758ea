"""Subjects (phone numbers, account ids) are keyed-hashed on arrival: never stored, echoed or logged."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import re
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import structlog
import structlog.testing

from services.adoption.app import create_app
from services.notifier.migrations import upgrade as migrate_notifier
from shared.timeutil import utcnow
from tests.adoption.builders import add_unit, event, fold
from tests.builders import auth, create_key
from tests.support import tables
from tests.support.apps import serving

EVENTS = "/v1/adoption/events"
VALID = ["0912 345 678", "+84 987 654 321", "zalo:7f3a9c1e-ANH", "an.nv@halong.gov.vn"]
INVALID_ONLY = ["0933 222 111", "0944555666", "acct-invalid-Q42", "0977 888 999"]


def needles(subject: str) -> set[str]:
    """The subject as sent, folded, and (for a phone) its national digits in any prefix form."""
    found = {subject, subject.casefold(), subject.replace(" ", "")}
    digits = re.sub(r"\D", "", subject)
    if len(digits) >= 9 and re.fullmatch(r"[\d +.\-]+", subject):
        national = digits[-9:]
        found |= {national, "0" + national, "84" + national}
    return found


ALL_NEEDLES = sorted(set().union(*(needles(s) for s in VALID + INVALID_ONLY)))


@pytest.fixture
async def logged(adoption_settings) -> AsyncIterator[tuple[httpx.AsyncClient, list[dict]]]:
    """A client of an adoption app of the test's own, and every event structlog logs meanwhile, through
    the processors the adoption service configures (masking included) up to the rendering of the line.

    The app is made here, after every other app of the session: structlog fixes a logger's level at its
    first use, and this app's access log is first used by this test, at the adoption service's level."""
    app = create_app(adoption_settings)  # configures logging as the adoption service does
    *processors, _render = structlog.get_config()["processors"]  # the last one renders the line
    with structlog.testing.capture_logs(processors=processors) as events:
        async with serving(app, "http://adoption.test") as client:
            yield client, events


@pytest.fixture
async def every_table_empty(adoption, db, adoption_settings) -> None:
    """The tables of every service emptied, so that what the dump finds is this test's: the adoption
    and registry fixtures empty their own; the notifier's are emptied here (its schema first, a no-op if
    it is there)."""
    await asyncio.to_thread(migrate_notifier, adoption_settings.database_url)
    async with adoption.state.engine.begin() as conn:
        await tables.empty(conn, tables.NOTIFIER)


async def post_everything(app, client, key) -> list[str]:
    """Valid and invalid events, and a batch with no valid event; returns the response bodies."""
    future = (utcnow() + timedelta(hours=3)).isoformat()
    mixed = {
        "events": [
            event(VALID[0], at="2020-02-18T09:00:00+07:00"),
            event(VALID[1], audience="citizen"),
            event(VALID[2]),
            event(VALID[3], "activated"),
            {**event(INVALID_ONLY[0]), "type": "opened"},
            event(INVALID_ONLY[1], at=future),
            event(INVALID_ONLY[2], unit="99999"),
            event("0912345678", "uninstalled", at="2020-02-19T09:00:00+07:00"),
        ]
    }
    bodies = []
    response = await client.post(EVENTS, json=mixed, headers=auth(key))
    assert response.status_code == 202 and response.json()["accepted"] == 5, response.text
    assert len(response.json()["rejected"]) == 3
    bodies.append(response.text)
    nothing_valid = {"events": [{**event(INVALID_ONLY[3]), "audience": "robot"}]}
    response = await client.post(EVENTS, json=nothing_valid, headers=auth(key))
    assert response.status_code == 422
    bodies.append(response.text)
    await fold(app)
    return bodies


async def every_stored_text(app) -> str:
    """Every row of every table outside PostgreSQL's own schemas (adoption, registry, auth, notify…)."""
    async with app.state.pg.acquire() as conn:
        tables = await conn.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema')"
        )
        schemas = {t["table_schema"] for t in tables}
        assert {"adoption", "registry", "auth", "notify"} <= schemas
        chunks = []
        for t in tables:
            rows = await conn.fetch(f'SELECT t::text AS row FROM "{t["table_schema"]}"."{t["table_name"]}" t')
            chunks += [r["row"] for r in rows]
    return "\n".join(chunks)


async def test_subjects_are_stored_nowhere_in_clear(
    adoption, adoption_client, adoption_settings, db, every_table_empty
):
    await add_unit(adoption, "06652", headcount=10)
    key = await create_key(db, "app_backend")
    bodies = await post_everything(adoption, adoption_client, key)

    stored = await every_stored_text(adoption)
    async with adoption.state.pg.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM adoption.events") == 5
    # The dump reads the events: their keyed hashes are in it (bytea as hex).
    secret = adoption_settings.subject_hmac_key.get_secret_value().encode()
    assert hmac.new(secret, b"+84912345678", hashlib.sha256).hexdigest() in stored
    leaked = [n for n in ALL_NEEDLES if n in stored]
    assert leaked == []
    echoed = [n for n in ALL_NEEDLES if any(n in body for body in bodies)]
    assert echoed == []


async def test_subjects_are_logged_nowhere(adoption, db, logged, caplog):
    client, events = logged
    caplog.set_level(logging.INFO)
    await add_unit(adoption, "06652", headcount=10)
    key = await create_key(db, "app_backend")
    await post_everything(adoption, client, key)

    structured = "\n".join(json.dumps(e, ensure_ascii=False, default=str) for e in events)
    # The capture works: the app's access log events for the posts are there.
    assert structured.count('"path": "/v1/adoption/events"') >= 2
    stdlib = caplog.text + "\n".join(repr(r.args) for r in caplog.records)
    assert "/v1/adoption/events" in stdlib  # httpx logs each request through the standard library
    assert [n for n in ALL_NEEDLES if n in structured] == []
    assert [n for n in ALL_NEEDLES if n in stdlib] == []


async def test_the_stored_hash_is_hmac_sha256_keyed_with_the_secret(adoption, adoption_client, adoption_settings, db):
    await add_unit(adoption, "06652")
    key = await create_key(db, "app_backend")
    body = {"events": [event("0912 345 678", event_id="phone"), event("zalo-user-42", event_id="account")]}
    response = await adoption_client.post(EVENTS, json=body, headers=auth(key))
    assert response.json()["accepted"] == 2
    async with adoption.state.pg.acquire() as conn:
        stored = {
            r["event_id"]: bytes(r["subject_hash"])
            for r in await conn.fetch("SELECT event_id, subject_hash FROM adoption.events")
        }

    secret = adoption_settings.subject_hmac_key.get_secret_value().encode()
    for event_id, canonical in (("phone", "+84912345678"), ("account", "zalo-user-42")):
        expected = hmac.new(secret, canonical.encode(), hashlib.sha256).digest()
        assert stored[event_id] == expected
        assert stored[event_id] != hashlib.sha256(canonical.encode()).digest()
        assert stored[event_id] != hmac.new(b"another-secret", canonical.encode(), hashlib.sha256).digest()
