from tests.adoption.builders import add_unit, event, fold
from tests.builders import auth, create_key


async def test_events_become_metrics(adoption, adoption_client, db):
    await add_unit(adoption, "06652", headcount=4)
    key = await create_key(db, "app_backend")
    office = await create_key(db, "office")
    body = {
        "events": [
            event("0912345678"),
            event("0912345679"),
            event("+84912345678", "activated"),
            event("0900000000", audience="citizen"),
        ]
    }
    response = await adoption_client.post("/v1/adoption/events", json=body, headers=auth(key))
    assert response.status_code == 202, response.text
    assert response.json() == {"accepted": 4, "duplicates": 0, "rejected": []}
    await fold(adoption)
    summary = await adoption_client.get("/v1/adoption/summary", headers=auth(office))
    assert summary.status_code == 200, summary.text
    data = summary.json()
    assert data["staff_adopted"] == 2 and data["staff_total"] == 4 and data["staff_rate"] == 0.5
    assert data["citizens_adopted"] == 1
    units = (await adoption_client.get("/v1/adoption/units", headers=auth(office))).json()
    assert units[0]["unit_code"] == "06652" and units[0]["source"] == "measured"
    series = await adoption_client.get(
        "/v1/adoption/timeseries?unit_code=06652&from=2020-02-18&to=2020-02-21", headers=auth(office)
    )
    assert [p["staff_adopted"] for p in series.json()["points"]] == [0, 0, 2, 2]
    etag = summary.headers["etag"]
    again = await adoption_client.get("/v1/adoption/summary", headers=auth(office, **{"If-None-Match": etag}))
    assert again.status_code == 304
