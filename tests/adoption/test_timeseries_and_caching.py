"""The time series in Vietnam days and weeks, and the ETags that let many screens poll cheaply."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

import asyncpg
import pytest

from services.adoption.metrics import service
from shared.db import asyncpg_dsn
from shared.timeutil import utcnow
from tests.adoption.builders import add_unit, event, fold, settled
from tests.builders import auth, create_key

SERIES = "/v1/adoption/timeseries"
METRICS_URLS = ("/v1/adoption/summary", "/v1/adoption/units", f"{SERIES}?unit_code=06652&from=2020-02-17&to=2020-02-21")


@pytest.fixture
async def keys(adoption, db) -> dict[str, str]:
    await add_unit(adoption, "06652", headcount=4)
    return {"app": await create_key(db, "app_backend"), "office": await create_key(db, "office")}


async def post(client, key: str, *events: dict) -> None:
    response = await client.post("/v1/adoption/events", json={"events": list(events)}, headers=auth(key))
    assert response.status_code == 202 and not response.json()["rejected"], response.text


async def series(app, client, key: str, query: str) -> list[tuple[str, str, int]]:
    await settled(app)
    response = await client.get(f"{SERIES}?{query}", headers=auth(key))
    assert response.status_code == 200, response.text
    return [(p["period_start"], p["period_end"], p["staff_adopted"]) for p in response.json()["points"]]


async def new_etag(client, url: str, key: str, old: str, seconds: float = 5) -> str:
    """Poll (as a screen does) until the ETag is no longer ``old``; the change is heard asynchronously."""
    async with asyncio.timeout(seconds):
        while True:
            response = await client.get(url, headers=auth(key, **{"If-None-Match": old}))
            if response.status_code == 200:
                return response.headers["etag"]
            await asyncio.sleep(0.02)


async def test_days_are_vietnam_days_across_a_month_boundary(adoption, adoption_client, keys):
    await post(
        adoption_client,
        keys["app"],
        event("0912000001", at="2020-02-29T23:30:00+07:00"),  # 29 Feb in Hạ Long
        event("0912000002", at="2020-02-29T17:30:00Z"),  # 00:30 on 1 March in Hạ Long
        event("0912000003", at="2020-02-28T17:00:00Z"),  # midnight starting 29 Feb
    )
    await fold(adoption)
    points = await series(adoption, adoption_client, keys["office"], "unit_code=06652&from=2020-02-27&to=2020-03-02")
    assert points == [
        ("2020-02-27", "2020-02-27", 0),
        ("2020-02-28", "2020-02-28", 0),
        ("2020-02-29", "2020-02-29", 2),
        ("2020-03-01", "2020-03-01", 3),
        ("2020-03-02", "2020-03-02", 3),
    ]
    city = await series(adoption, adoption_client, keys["office"], "from=2020-02-27&to=2020-03-02")
    assert city == points


async def test_the_city_series_counts_the_units_the_summary_counts(adoption, adoption_client, keys):
    await add_unit(adoption, "06653", headcount=4)
    await add_unit(adoption, "22", kind="city")
    await post(
        adoption_client,
        keys["app"],
        event("0912000001", at="2020-02-18T09:00:00+07:00"),
        event("0912000002", at="2020-02-19T09:00:00+07:00", unit="06653"),
        event("0912000003", at="2020-02-19T10:00:00+07:00", unit="22"),
    )
    await fold(adoption)
    query = "from=2020-02-17&to=2020-02-20"
    # The city's own events (unit 22) are no ward's: the summary leaves them out, and so does the series.
    assert [p[2] for p in await series(adoption, adoption_client, keys["office"], query)] == [0, 1, 2, 2]

    await add_unit(adoption, "06653", headcount=4, active=False)  # merged into another ward
    city = await series(adoption, adoption_client, keys["office"], query)
    assert [p[2] for p in city] == [0, 1, 1, 1]
    summary = (await adoption_client.get("/v1/adoption/summary", headers=auth(keys["office"]))).json()
    assert summary["staff_adopted"] == city[-1][2]
    retired = await series(adoption, adoption_client, keys["office"], f"unit_code=06653&{query}")
    assert [p[2] for p in retired] == [0, 0, 1, 1]  # its own history stays readable


async def test_weeks_run_monday_to_sunday_and_show_the_value_at_their_end(adoption, adoption_client, keys):
    await post(
        adoption_client,
        keys["app"],
        event("0912000001", at="2020-02-04T09:00:00+07:00"),  # Tuesday, week 1
        event("0912000002", at="2020-02-16T23:30:00+07:00"),  # Sunday night, week 2
        event("0912000003", at="2020-02-16T17:30:00Z"),  # Monday 00:30 in Hạ Long, week 3
        event("0912000004", at="2020-02-17T09:00:00+07:00"),  # Monday, week 3 (4 adopted) …
        event("0912000004", "uninstalled", at="2020-02-19T09:00:00+07:00"),  # … back to 3 by Sunday
    )
    await fold(adoption)
    weeks = await series(
        adoption, adoption_client, keys["office"], "unit_code=06652&from=2020-02-03&to=2020-02-23&interval=week"
    )
    assert weeks == [("2020-02-03", "2020-02-09", 1), ("2020-02-10", "2020-02-16", 2), ("2020-02-17", "2020-02-23", 3)]
    # A range that starts and ends mid-week is cut at its ends; inner periods are still whole weeks.
    cut = await series(
        adoption, adoption_client, keys["office"], "unit_code=06652&from=2020-02-05&to=2020-02-18&interval=week"
    )
    assert cut == [("2020-02-05", "2020-02-09", 1), ("2020-02-10", "2020-02-16", 2), ("2020-02-17", "2020-02-18", 4)]


async def test_bad_ranges_are_422(adoption, adoption_client, keys):
    queries = {
        "to before from": "from=2020-02-20&to=2020-02-19",
        "over two years": "from=2018-01-01&to=2020-01-02",
        "not a date": "from=2020-02-30&to=2020-03-02",
        "unknown interval": "interval=month",
    }
    for case, query in queries.items():
        response = await adoption_client.get(f"{SERIES}?{query}", headers=auth(keys["office"]))
        assert response.status_code == 422, case
        assert response.headers["content-type"].startswith("application/problem+json"), case
    year = await adoption_client.get(f"{SERIES}?from=2019-02-01&to=2020-02-01", headers=auth(keys["office"]))
    assert year.status_code == 200 and len(year.json()["points"]) == 366


async def test_the_series_of_an_unknown_unit_is_a_404(adoption, adoption_client, keys):
    """A code no unit has ever had is a 404 problem, as for the units endpoints, not a curve of zeros;
    also to a poll with If-None-Match. Once the directory has the unit, its series is there."""
    office = keys["office"]
    for extra in ({}, {"If-None-Match": "*"}):
        headers = auth(office, **{"Accept-Language": "en", **extra})
        response = await adoption_client.get(f"{SERIES}?unit_code=99999", headers=headers)
        assert response.status_code == 404, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert (problem["type"], problem["detail"]) == ("/problems/not-found", "There is no unit with code 99999.")
    await add_unit(adoption, "99999")
    await settled(adoption)
    response = await adoption_client.get(
        f"{SERIES}?unit_code=99999&from=2020-02-17&to=2020-02-21", headers=auth(office)
    )
    assert response.status_code == 200
    assert [p["staff_adopted"] for p in response.json()["points"]] == [0] * 5


async def test_every_metrics_get_has_an_etag_and_answers_304_without_a_body(adoption, adoption_client, keys):
    for url in METRICS_URLS:
        response = await adoption_client.get(url, headers=auth(keys["office"]))
        assert response.status_code == 200, response.text
        etag = response.headers["etag"]
        assert re.fullmatch(r'"[^"]+"', etag)  # strong
        assert "max-age" in response.headers["cache-control"]
        again = await adoption_client.get(url, headers=auth(keys["office"], **{"If-None-Match": etag}))
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag
        stale = await adoption_client.get(url, headers=auth(keys["office"], **{"If-None-Match": '"0-old"'}))
        assert stale.status_code == 200 and stale.json() == response.json()


async def test_a_new_event_or_headcount_changes_the_etag(adoption, adoption_client, keys):
    await settled(adoption)
    office = keys["office"]
    etags = {url: (await adoption_client.get(url, headers=auth(office))).headers["etag"] for url in METRICS_URLS}
    await post(adoption_client, keys["app"], event("0912000001", at="2020-02-19T09:00:00+07:00"))
    await fold(adoption)
    for url in METRICS_URLS:
        etags[url] = await new_etag(adoption_client, url, office, etags[url])
    summary = await adoption_client.get(METRICS_URLS[0], headers=auth(office))
    assert summary.json()["staff_adopted"] == 1

    response = await adoption_client.put(
        "/v1/adoption/units/06652/headcount", json={"staff": 2, "as_of": "2020-02-20"}, headers=auth(office)
    )
    assert response.status_code == 200
    await new_etag(adoption_client, METRICS_URLS[0], office, etags[METRICS_URLS[0]])
    assert (await adoption_client.get(METRICS_URLS[0], headers=auth(office))).json()["staff_rate"] == 0.5


async def test_a_304_computes_nothing_and_reads_no_figure(
    adoption, adoption_client, adoption_settings, keys, monkeypatch
):
    calls = {"unit_rows": 0, "timeseries": 0}
    for name in calls:
        real = getattr(service, name)

        def counting(*args, _real=real, _name=name, **kwargs):
            calls[_name] += 1
            return _real(*args, **kwargs)

        monkeypatch.setattr(service, name, counting)
    await post(adoption_client, keys["app"], event("0912000001", at="2020-02-19T09:00:00+07:00"))
    await fold(adoption)
    await settled(adoption)
    etags = {
        url: (await adoption_client.get(url, headers=auth(keys["office"]))).headers["etag"] for url in METRICS_URLS
    }
    assert calls == {"unit_rows": 2, "timeseries": 1}

    # Another session holds every table the figures come from: any read of them would wait.
    locker = await asyncpg.connect(asyncpg_dsn(adoption_settings.database_url))
    try:
        async with locker.transaction():
            await locker.execute(
                "LOCK TABLE adoption.units, adoption.unit_stats, adoption.daily, adoption.headcounts, "
                "adoption.reports, adoption.events IN ACCESS EXCLUSIVE MODE"
            )
            async with asyncio.timeout(5):
                for _ in range(3):
                    for url, etag in etags.items():
                        headers = auth(keys["office"], **{"If-None-Match": etag})
                        assert (await adoption_client.get(url, headers=headers)).status_code == 304
    finally:
        await locker.close()
    assert calls == {"unit_rows": 2, "timeseries": 1}


async def test_prometheus_shows_each_units_staff_rate(adoption, adoption_client, keys):
    await add_unit(adoption, "06653")  # no headcount: no rate to show
    await post(
        adoption_client, keys["app"], event("0912000001"), event("0912000002"), event("0912000003", unit="06653")
    )
    await fold(adoption)
    response = await adoption_client.get("/metrics", headers=auth(keys["office"]))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert re.search(r'^ioc_adoption_staff_rate\{unit_code="06652"\} 0\.5$', response.text, re.M)
    assert 'ioc_adoption_staff_rate{unit_code="06653"}' not in response.text


async def test_prometheus_labels_requests_by_route_template_never_by_raw_path(adoption, adoption_client, keys):
    for path in ("/docs", "/openapi.json", "/v1/adoption/timeseries?unit_code=06652", "/no/such/page"):
        await adoption_client.get(path, headers=auth(keys["office"]))
    text = (await adoption_client.get("/metrics", headers=auth(keys["office"]))).text
    routes = set(re.findall(r'^ioc_http_requests_total\{[^}]*route="([^"]*)"', text, re.M))
    assert {"/docs", "/openapi.json", "/v1/adoption/timeseries", "unmatched"} <= routes
    assert not any("no/such" in r or "?" in r for r in routes)


async def test_change_7d_moves_with_the_calendar_even_when_no_event_arrives(
    adoption, adoption_client, keys, monkeypatch
):
    await post(adoption_client, keys["app"], event("0912000001", at=utcnow() - timedelta(days=5)))
    await fold(adoption)
    await settled(adoption)
    first = await adoption_client.get("/v1/adoption/units", headers=auth(keys["office"]))
    assert first.json()[0]["change_7d"] == 1

    real_today = service.vietnam_today
    monkeypatch.setattr(service, "vietnam_today", lambda now=None: real_today(now) + timedelta(days=3))  # 3 days on
    later = await adoption_client.get("/v1/adoption/units", headers=auth(keys["office"]))
    assert later.json()[0]["change_7d"] == 0  # the install is 8 days old now
    assert later.headers["etag"] != first.headers["etag"]


async def test_a_change_heard_while_the_version_is_read_is_not_lost(adoption, adoption_client, keys):
    office = keys["office"]
    cache, real_pool = adoption.state.metrics_cache, adoption.state.pg
    await settled(adoption)
    screen = await adoption_client.get("/v1/adoption/units", headers=auth(office))
    assert [r["unit_code"] for r in screen.json()] == ["06652"]

    class RacingPool:
        """The real pool; its first version read is overtaken by a change committed and heard meanwhile."""

        def __getattr__(self, name):
            return getattr(real_pool, name)

        async def fetchrow(self, query, *args):
            record = await real_pool.fetchrow(query, *args)
            if "adoption.state" not in query:
                return record
            adoption.state.pg = real_pool
            heard = cache.changes_heard
            await add_unit(adoption, "06653", headcount=4)
            async with asyncio.timeout(5):  # the change's notice reaches the cache before this read returns
                while cache.changes_heard == heard:
                    await asyncio.sleep(0.005)
            return record

    cache.changed()  # as after any change: the next poll reads the version
    adoption.state.pg = RacingPool()
    try:
        assert (await adoption_client.get("/v1/adoption/summary", headers=auth(office))).status_code == 200
    finally:
        adoption.state.pg = real_pool
    # The first screen keeps polling with its ETag: it must learn of unit 06653.
    await new_etag(adoption_client, "/v1/adoption/units", office, screen.headers["etag"], seconds=2)
