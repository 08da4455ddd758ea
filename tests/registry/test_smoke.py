from tests.builders import auth, create_directive, create_key, create_unit, registration


async def test_ward_app_registers_its_focal_point(client, db):
    await create_unit(db, "06652")
    directive = await create_directive(db, ["06652"])
    key = await create_key(db, "ward_app", unit="06652")
    response = await client.post("/v1/registrations", json=registration(directive.id), headers=auth(key))
    assert response.status_code == 201, response.text
    assert response.json()["phone"] == "+84912345678"
