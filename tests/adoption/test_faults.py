"""Faults: PostgreSQL going away while the app's backend posts events costs no event."""

from __future__ import annotations

import asyncio

import httpx

from services.adoption.app import create_app
from tests.adoption.conftest import add_unit, event
from tests.builders import auth, create_key
from tests.support.proxy import database_behind_proxy

EVENTS = "/v1/adoption/events"


async def test_posts_while_the_database_is_down_answer_503_and_are_taken_whole_once_it_is_back(
    adoption, adoption_settings, db
):
    await add_unit(adoption, "06652")
    key = await create_key(db, "app_backend")
    batches = [{"events": [event(f"09120000{b}{i}") for i in range(5)]} for b in range(4)]
    async with database_behind_proxy(create_app, adoption_settings) as (client, proxy):

        async def post(body: dict) -> httpx.Response:
            return await client.post(EVENTS, json=body, headers=auth(key))

        assert (await post(batches[0])).json()["accepted"] == 5
        await proxy.cut()
        down = await asyncio.gather(*(post(b) for b in batches[1:]))  # arriving together, as a group would
        assert [r.status_code for r in down] == [503, 503, 503]
        assert all(r.headers["content-type"] == "application/problem+json" for r in down)
        await proxy.restore()
        # The backend sends the same batches again: each is taken whole, and the first stays a replay.
        again = await asyncio.gather(*(post(b) for b in batches))
        assert [r.status_code for r in again] == [202] * 4
        assert [r.json()["accepted"] for r in again] == [0, 5, 5, 5]
    async with adoption.state.pg.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM adoption.events") == 20
