"""The demo seed behind `make run`: figures for every unit, and nothing added when run again."""

from __future__ import annotations

from services.adoption.seed import SELF_REPORTING, seed
from tests.adoption.builders import add_unit, settled
from tests.builders import auth, create_key

UNITS = [f"0665{i}" for i in range(8)]


async def summary(app, client, key: str) -> dict:
    await settled(app)
    response = await client.get("/v1/adoption/summary", headers=auth(key))
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_demo_seed_gives_every_unit_figures_and_adds_nothing_when_run_again(
    adoption, adoption_client, adoption_settings, db
):
    office = await create_key(db, "office")
    for code in UNITS:
        await add_unit(adoption, code, headcount=20)

    first = await seed(adoption_settings, wait_seconds=0)
    assert first.endswith(f"for {len(UNITS) - SELF_REPORTING} units, reports from {SELF_REPORTING}")
    seeded = await summary(adoption, adoption_client, office)
    assert seeded["units_measured"] == len(UNITS) - SELF_REPORTING
    assert seeded["units_self_reported"] == SELF_REPORTING
    assert 0 < seeded["staff_adopted"] <= seeded["staff_total"]
    assert seeded["citizens_adopted"] > 0

    again = await seed(adoption_settings, wait_seconds=0)
    assert again.startswith("0 new events")
    after = await summary(adoption, adoption_client, office)
    assert (after["staff_adopted"], after["citizens_adopted"]) == (seeded["staff_adopted"], seeded["citizens_adopted"])
