"""Function-level authorization (OWASP API5): every route of the three services × every role, and no key.

``ACCESS`` (``tests/security/access.py``) is the contract's role table (``api-contract.md``, "Roles")
route by route; a reader can check one against the other. A role the row names gets a 2xx for a request
of its own (a ward app's for its own unit); a role it does not name gets 403; no key gets 401. A signed-in
person of each role is tried as well, with the rights of their role's key. A route the services serve
that has no row there, or a row whose route is gone, fails the test.
"""

from __future__ import annotations

from tests.builders import auth, create_key
from tests.security.access import ACCESS, CALLS, EVERYONE, OFFICE, OPEN, TOKEN, expected, send, served
from tests.security.builders import RECEIPT_TOKEN


async def test_every_route_has_a_row_in_the_role_table(world):
    routes = served(world)
    assert routes - ACCESS.keys() == set(), "routes without a row in ACCESS: add them"
    assert ACCESS.keys() - routes == set(), "rows of ACCESS for routes that are gone"
    assert CALLS.keys() == ACCESS.keys()


async def test_every_route_answers_every_role_as_the_contract_says(world):
    wrong = []
    for route in sorted(served(world)):
        for role in (*EVERYONE, None):
            response = await send(world, route, role)
            want = expected(route, role)
            got = response.status_code
            if (want == 2 and not 200 <= got < 300) or (want != 2 and got != want):
                wrong.append(f"{route} as {role or 'no key'}: {got}, expected {want if want != 2 else '2xx'}")
            elif want in (401, 403):
                assert response.headers["content-type"] == "application/problem+json", route
    assert not wrong, "\n".join(wrong)


async def test_receipts_take_the_gateways_token_and_no_key(world):
    route = ("notifier", "POST", "/v1/sms/receipts/{gateway}")
    call = await CALLS[route](world, OFFICE)
    client = world.client("notifier")
    assert (await client.post(call.url, json=call.json)).status_code == 401
    assert (await client.post(call.url + "?token=wrong", json=call.json)).status_code == 401
    assert (await client.post(f"{call.url}?token={RECEIPT_TOKEN}{'x' * 10_000}", json=call.json)).status_code == 401
    accepted = await client.post(f"{call.url}?token={RECEIPT_TOKEN}", json=call.json)
    assert accepted.status_code == 200 and accepted.json() == {"applied": False}  # no such message


async def test_a_revoked_or_malformed_key_is_401_everywhere(world):
    revoked = await create_key(world.apps["registry"].state.sessions, "office")
    office = {"Authorization": f"Bearer {world.keys[OFFICE]}"}
    keys = (await world.client("registry").get("/v1/keys", headers=office)).json()
    newest = max(keys, key=lambda k: k["created_at"])
    assert newest["key_hint"] and revoked.startswith(newest["key_hint"])
    assert (await world.client("registry").post(f"/v1/keys/{newest['id']}/revoke", headers=office)).status_code == 200
    signed_out = world.keys["ops_person"]
    assert (await world.client("registry").delete("/v1/sessions/current", headers=auth(signed_out))).status_code == 204
    bad = [
        f"Bearer {revoked}",
        f"Bearer {signed_out}",
        "Bearer ses_" + "x" * 43,
        f"Bearer {world.keys['office_person']}x",
        "Bearer " + "ses_" + "a" * 5000,
        "Bearer ioc_" + "x" * 43,
        f"Basic {world.keys[OFFICE]}",
        f"Bearer {world.keys[OFFICE]}x",
        f"Bearer {world.keys[OFFICE][:-1]}",
        "Bearer " + "ioc_" + "a" * 5000,
        "Bearer",
    ]
    for route in sorted(served(world)):
        if ACCESS[route] in (OPEN, TOKEN):
            continue
        service, method, _ = route
        call = await CALLS[route](world, OFFICE)
        for authorization in bad:
            response = await world.client(service).request(
                method, call.url, json=call.json, headers={"Authorization": authorization}
            )
            assert response.status_code == 401, (route, authorization[:20], response.text)
            assert response.headers["www-authenticate"].startswith("Bearer")
