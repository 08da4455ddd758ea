"""The OWASP API risks not covered by a file of their own (``docs/security.md`` maps each to its tests):
server-side request forgery (API7), misconfiguration (API8), inventory (API9) and the consumption of
other systems' data (API10)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy import text

from services.adoption.settings import AdoptionSettings
from services.notifier.settings import NotifierSettings
from shared.contracts import JOB_MESSAGES
from shared.queues import parse_message
from tests.builders import auth, registration
from tests.security.builders import RECEIPT_TOKEN, World, notification, snapshot
from tests.security.routes import body_schema, operations, routes_of, schema_fields

# --- API7: no request makes a service fetch what the caller names -------------------------------------


async def test_no_request_names_an_address_for_a_service_to_call(world):
    """Outbound calls go to the SMTP server and SMS gateways of the settings only: no body or parameter
    carries a URL, host or callback (a field like that would need its own allow-list first)."""
    suspicious = ("url", "uri", "host", "callback", "webhook", "endpoint", "redirect")
    for name, app in world.apps.items():
        document = app.openapi()
        for route, operation in operations(name, app):
            names = {p["name"] for p in operation.get("parameters", [])}
            if (schema := body_schema(operation)) is not None:
                names |= schema_fields(document, schema)
            assert not [n for n in names if any(s in n.lower() for s in suspicious)], route
        assert '"format": "uri"' not in str(document).replace("'", '"'), name


@pytest.mark.parametrize(
    "email", ["an@[127.0.0.1]", "an@localhost", "an@intranet", "an@halong.local", "an@169.254.169.254"]
)
async def test_e_mail_addresses_cannot_point_the_mail_relay_at_a_host(world, email):
    """The relay delivers to the recipient's domain: an IP literal or an internal name is refused."""
    before = await snapshot(world)
    response = await world.client("registry").post(
        "/v1/registrations",
        json=registration(world.directive_ab.id, World.A, email=email),
        headers=auth(world.keys["ward_app"]),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "email"
    assert await snapshot(world) == before


# --- API8: no development secret in production -------------------------------------------------------


def test_production_refuses_the_development_secrets():
    with pytest.raises(ValidationError, match="IOC_SUBJECT_HMAC_KEY"):
        AdoptionSettings(environment="production")
    with pytest.raises(ValidationError, match="IOC_RECEIPT_TOKEN"):
        NotifierSettings(environment="production")
    assert AdoptionSettings(environment="production", subject_hmac_key="k" * 32).environment == "production"


# --- API9: the inventory is the OpenAPI document, and nothing is served outside it ----------------------

UNDOCUMENTED = {"/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


async def test_every_route_is_documented_or_one_of_the_known_few(world):
    for name, app in world.apps.items():
        documented = {route for route, _ in operations(name, app)}
        served = routes_of(name, app)
        assert {path for _, _, path in served - documented} == UNDOCUMENTED, name
        assert all(path.startswith("/v1/") or path in ("/healthz", "/readyz") for _, _, path in documented)


# --- API10: what comes from the SMS gateways and the queues is checked before it is used ------------------


async def notification_status(world: World, notification_id: str) -> str:
    async with world.apps["notifier"].state.engine.connect() as conn:
        return await conn.scalar(text("SELECT status FROM notify.notifications WHERE id = :i"), {"i": notification_id})


@pytest.mark.parametrize(
    "payload",
    [
        {"RequestId": "' OR 1=1 --", "SendStatus": "5"},
        {"SMSID": "G-1' OR '1'='1", "SendStatus": "5"},
        {"SendStatus": "5"},
        {"RequestId": "00000000-0000-0000-0000-000000000007", "SMSID": 1, "SendStatus": 5, "Extra": {"a": [1]}},
    ],
)
async def test_odd_receipts_are_kept_and_change_no_notification(world, payload):
    """Well-typed receipts that match no message of ours: 200, not applied, kept whole as evidence."""
    notification_id = await notification(world)
    response = await world.client("notifier").post(f"/v1/sms/receipts/esms?token={RECEIPT_TOKEN}", json=payload)
    assert response.status_code == 200 and response.json() == {"applied": False}
    assert await notification_status(world, notification_id) == "sent"
    async with world.apps["notifier"].state.engine.connect() as conn:
        kept = (await conn.execute(text("SELECT payload, applied FROM notify.receipts"))).all()
    assert kept == [(payload, False)]


@pytest.mark.parametrize(
    "payload",
    [
        {"RequestId": {"$ne": None}, "SendStatus": "5"},
        {"RequestId": ["x"], "SMSID": {"a": 1}, "SendStatus": ["5"]},
        {"SMSID": "G-1", "SendStatus": True},
        {"SMSID": "G-1", "SendStatus": 5.5},
        [1, 2, 3],
        "5",
    ],
)
async def test_mistyped_receipts_are_refused_and_change_nothing(world, payload):
    """A receipt is an object whose fields are text or integers (the contract): anything else is a 422
    problem document, even when it names a message of ours (SMSID G-1), and neither the notification
    nor the kept receipts change."""
    notification_id = await notification(world)
    before = await snapshot(world)
    response = await world.client("notifier").post(f"/v1/sms/receipts/esms?token={RECEIPT_TOKEN}", json=payload)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/validation-error" and response.json()["errors"]
    assert await snapshot(world) == before
    assert await notification_status(world, notification_id) == "sent"


async def test_a_receipt_that_is_not_json_is_422(world):
    response = await world.client("notifier").post(
        f"/v1/sms/receipts/esms?token={RECEIPT_TOKEN}",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422 and response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("job_name", sorted(JOB_MESSAGES))
def test_queue_messages_are_refused_unless_they_match_their_contract(job_name):
    for payload in ({}, {"message_id": "x"}, {"unexpected": True}):
        with pytest.raises(ValidationError):
            parse_message(job_name, payload)
