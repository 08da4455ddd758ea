"""Schemathesis over the three services (fuzzing.py says how): no server error, every response as the
OpenAPI document says (status, content type, schema, headers), every request the schema allows
accepted and every one it forbids refused."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text

from services.adoption.app import create_app as create_adoption_app
from services.adoption.units.service import apply_unit_change
from services.api.app import create_app as create_registry_app
from services.api.registrations.schemas import RegistrationCreate
from services.notifier.app import create_app as create_notifier_app
from services.notifier.models import Notification
from shared.auth import Role
from shared.contracts import UnitChanged, UnitRef
from shared.db import asyncpg_dsn, create_engine, session_factory
from shared.timeutil import utcnow
from tests.builders import create_directive, create_key, create_unit, register_focal_point
from tests.contract import fuzzing
from tests.support import tables

pytestmark = pytest.mark.timeout(600)

UNITS = [("193", "city", None), ("06652", "ward", "193"), ("06653", "ward", "193"), ("HL-VP", "department", "193")]
TESTING_PHASES = ("examples", "coverage", "fuzzing", "stateful")


def assert_clean(outcome: fuzzing.Outcome, *, phases: tuple[str, ...] = TESTING_PHASES) -> None:
    print(outcome.report())  # shown by pytest with the failure, or with -s
    assert outcome.failures == [] and outcome.errors == [], outcome.report()
    assert outcome.stop_reason is fuzzing.StopReason.COMPLETED, outcome.report()
    assert {p: outcome.phases.get(p) for p in phases} == dict.fromkeys(phases, "success"), outcome.phases


async def test_the_registry_conforms_to_its_openapi(db, registry_settings):
    for code, kind, parent in UNITS:
        await create_unit(db, code, kind=kind, parent_code=parent)
    directive = await create_directive(db, ["06652", "HL-VP"], deadline=utcnow() + timedelta(days=7))
    registration, _ = await register_focal_point(
        db,
        RegistrationCreate(
            directive_id=str(directive.id),
            unit_code="06652",
            full_name="Nguyễn Văn An",
            phone="0912 345 678",
            email="an.nv@halong.gov.vn",
        ),
    )
    spare = await create_key(db, Role.ops_centre)
    async with db() as session:
        spare_id = await session.execute(text("SELECT id FROM auth.api_keys WHERE key_hint = :h"), {"h": spare[:10]})
        spare_id = str(spare_id.scalar_one())
    codes = ["06652", "HL-VP", "193", "06653"]
    seeded = fuzzing.Seeded(
        path={
            "directive_id": [str(directive.id)],
            "registration_id": [str(registration.id)],
            "key_id": [spare_id],
            "code": codes,
        },
        body={
            "directive_id": [str(directive.id)],
            "unit_code": ["06652", "HL-VP"],
            "parent_code": ["193"],
            "unit_codes": [["06652"], ["06652", "06653", "HL-VP"]],
        },
        query={"parent_code": ["193"]},
    )
    app = create_registry_app(registry_settings)
    outcome = await asyncio.to_thread(fuzzing.run, app, dsn=asyncpg_dsn(registry_settings.database_url), seeded=seeded)
    assert_clean(outcome)


async def test_adoption_conforms_to_its_openapi(db, adoption_settings_for_contract):
    settings = adoption_settings_for_contract
    engine = create_engine(settings)
    try:
        async with engine.begin() as conn:
            await tables.empty(conn, tables.ADOPTION)
        sessions = session_factory(engine)
        for code, kind, parent in UNITS:
            async with sessions() as session:
                await apply_unit_change(
                    session,
                    UnitChanged(
                        message_id=uuid.uuid4(),
                        occurred_at=utcnow(),
                        active=True,
                        staff_headcount=40,
                        parent_code=parent,
                        unit=UnitRef(code=code, name=f"Đơn vị {code}", kind=kind, email=None, phone=None),
                    ),
                )
    finally:
        await engine.dispose()
    now = utcnow().isoformat()
    batches = [
        [
            {
                "event_id": f"contract-{n}-{i}",
                "unit_code": code,
                "subject": f"09120000{n}{i}",
                "audience": audience,
                "type": kind,
                "occurred_at": now,
            }
            for i, (code, audience, kind) in enumerate(
                [("06652", "staff", "installed"), ("HL-VP", "citizen", "activated"), ("06652", "staff", "uninstalled")]
            )
        ]
        for n in range(5)
    ]
    seeded = fuzzing.Seeded(
        path={"code": ["06652", "HL-VP"]},
        body={"unit_code": ["06652", "HL-VP"], "events": batches},
        query={"unit_code": ["06652", "HL-VP"]},
    )
    app = create_adoption_app(settings)
    outcome = await asyncio.to_thread(fuzzing.run, app, dsn=asyncpg_dsn(settings.database_url), seeded=seeded)
    assert_clean(outcome)


async def test_the_notifier_conforms_to_its_openapi(db, notifier_settings_for_contract):
    settings = notifier_settings_for_contract
    engine = create_engine(settings)
    try:
        async with engine.begin() as conn:
            await tables.empty(conn, tables.NOTIFIER)
        async with session_factory(engine)() as session:
            for channel, recipient in (("sms", "+84912345678"), ("email", "an.nv@halong.gov.vn")):
                session.add(
                    Notification(
                        dedupe_key=f"contract:{channel}",
                        message_id=uuid.uuid4(),
                        kind="focal_point_registered",
                        channel=channel,
                        recipient=recipient,
                        unit_code="06652",
                        directive_id=uuid.uuid4(),
                        body="Kính gửi đồng chí Nguyễn Văn An",
                        status="sent",
                        provider="sms:esms" if channel == "sms" else "smtp",
                        provider_ref="X1" if channel == "sms" else None,
                    )
                )
            await session.commit()
    finally:
        await engine.dispose()
    seeded = fuzzing.Seeded(path={"gateway": ["esms"]}, query={"unit_code": ["06652"]})
    app = create_notifier_app(settings)
    outcome = await asyncio.to_thread(
        fuzzing.run,
        app,
        dsn=asyncpg_dsn(settings.database_url),
        seeded=seeded,
        receipt_token=settings.receipt_token.get_secret_value(),
    )
    assert_clean(outcome)
