"""Typed builders for the security tests: a world of two wards to cross, served by the three services,
and what the tests read back from the database (a digest of every row a request could change)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import text

from services.api.people import service as people
from services.api.people.schemas import PersonCreate
from services.api.registrations.schemas import RegistrationCreate
from tests.adoption.builders import add_unit
from tests.builders import Sessions, create_directive, create_key, create_unit, register_focal_point

RECEIPT_TOKEN = "security-test-receipt-token"
SUBJECT_KEY = "security-test-subject-key"

# Every table whose rows a request could change (the idempotency stores aside: a claim is not data; and
# people's sessions, whose last use every request with one moves on).
TABLES = (
    "registry.units",
    "registry.unit_changes",
    "registry.directives",
    "registry.directive_units",
    "registry.focal_points",
    "registry.outbox",
    "auth.api_keys",
    "auth.people",
    "registry.manual_reminders",
    "adoption.events",
    "adoption.headcounts",
    "adoption.reports",
    "notify.notifications",
    "notify.receipts",
)


@dataclass
class World:
    """Two wards, A (06652) and B (06653), a department, two directives, a key of every role and a
    signed-in person of every person's role (``keys``: role → key or session token; the unit person is
    A's), and data of B's that a key of A must never read or change."""

    apps: dict[str, Any]
    clients: dict[str, httpx.AsyncClient]
    keys: dict[str, str]
    directive_ab: Any = None  # addresses A, B and the department
    directive_b: Any = None  # addresses B only
    registration_a: Any = None
    registration_b: Any = None
    secrets_of_b: list[str] = field(default_factory=list)
    ward: str = "ward_app"  # the credential of A's that the object-level tests use: a key or a session
    person_of_b: str = ""  # the id of B's official's account

    A = "06652"
    B = "06653"

    def client(self, service: str) -> httpx.AsyncClient:
        return self.clients[service]


@contextlib.asynccontextmanager
async def world_of(db: Sessions, apps: dict[str, Any]) -> AsyncIterator[World]:
    """The world, made in the apps' (emptied) tables through the services' own functions and APIs, with
    a client of each app (``apps``: the registry's, the adoption service's and the notifier's)."""
    await create_unit(db, World.A, email="haphong@halong.example")
    await create_unit(db, World.B, email="hongha.bimat@halong.example", staff_headcount=77)
    await create_unit(db, "HL-VP", kind="department", name="Văn phòng HĐND và UBND thành phố")
    for code in (World.A, World.B):
        await add_unit(apps["adoption"], code)  # as the registry's announcement would
    keys = {
        "office": await create_key(db, "office"),
        "ops_centre": await create_key(db, "ops_centre"),
        "app_backend": await create_key(db, "app_backend"),
        "ward_app": await create_key(db, "ward_app", unit=World.A),
        "ward_app_b": await create_key(db, "ward_app", unit=World.B),
    }
    directive_ab = await create_directive(db, [World.A, World.B, "HL-VP"])
    directive_b = await create_directive(db, [World.B])
    registration_a, _ = await register_focal_point(
        db,
        RegistrationCreate(
            directive_id=directive_ab.id,
            unit_code=World.A,
            full_name="Nguyễn Văn An",
            phone="0912 345 678",
            email="an.nv@halong.gov.vn",
        ),
    )
    registration_b, _ = await register_focal_point(
        db,
        RegistrationCreate(
            directive_id=directive_ab.id,
            unit_code=World.B,
            full_name="Phạm Bảo Ngọc",
            phone="0987 654 321",
            email="ngoc.pb.bimat@halong.gov.vn",
            note="ghi chú riêng của phường Hồng Hà",
        ),
    )
    await register_focal_point(
        db,
        RegistrationCreate(
            directive_id=directive_b.id,
            unit_code=World.B,
            full_name="Phạm Bảo Ngọc",
            phone="0987 654 321",
            email="ngoc.pb.bimat@halong.gov.vn",
        ),
    )
    clients = {
        name: httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url=f"http://{name}.test"
        )
        for name, app in apps.items()
    }
    world = World(
        apps=apps,
        clients=clients,
        keys=keys,
        directive_ab=directive_ab,
        directive_b=directive_b,
        registration_a=registration_a,
        registration_b=registration_b,
        secrets_of_b=[
            "Phạm Bảo Ngọc",
            "+84987654321",
            "ngoc.pb.bimat@halong.gov.vn",
            "ghi chú riêng",
            "hongha.bimat@halong.example",
        ],
    )
    try:
        for role, (person_role, unit) in PEOPLE.items():
            login = role.replace("_", "-")
            password = await create_person(db, login, person_role, unit)
            signed = await clients["registry"].post("/v1/sessions", json={"login": login, "password": password})
            assert signed.status_code == 201, signed.text
            keys[role] = signed.json()["token"]
        await create_person(db, "can-bo-b", "unit", World.B)
        async with db() as session:
            world.person_of_b = str(await session.scalar(text("SELECT id FROM auth.people WHERE login = 'can-bo-b'")))
        await _adoption_figures_of_b(world)
        yield world
    finally:
        for client in clients.values():
            await client.aclose()


# The people of the world, by the name the tests give their role: (their role, their unit).
PEOPLE = {"office_person": ("office", None), "ops_person": ("ops_centre", None), "unit_person": ("unit", World.A)}


async def create_person(
    db: Sessions, login: str, role: str, unit: str | None = None, *, must_change_password: bool = False
) -> str:
    """A person's password."""
    async with db() as session:
        data = PersonCreate(
            login=login,
            display_name=f"Người {login}",
            role=role,
            unit_code=unit,
            must_change_password=must_change_password,
        )
        return (await people.create_person(session, data, by="test")).password


async def _adoption_figures_of_b(world: World) -> None:
    """B's own adoption figures: a headcount and a report, sent with B's key."""
    b_headers = {"Authorization": f"Bearer {world.keys['ward_app_b']}"}
    adoption_client = world.client("adoption")
    put = await adoption_client.put(
        f"/v1/adoption/units/{World.B}/headcount", json={"staff": 77, "as_of": "2020-02-20"}, headers=b_headers
    )
    assert put.status_code == 200, put.text
    report = {
        "unit_code": World.B,
        "as_of": "2020-02-20",
        "staff_total": 77,
        "staff_installed": 7,
        "citizens_guided": 3,
    }
    assert (await adoption_client.post("/v1/adoption/reports", json=report, headers=b_headers)).status_code == 201


async def snapshot(world: World) -> dict[str, str]:
    """A digest of every row of every table a request could change."""
    async with world.apps["registry"].state.engine.connect() as conn:
        return {
            table: await conn.scalar(
                text(f"SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {table} t")
            )
            for table in TABLES
        }


async def notification(world: World) -> str:
    """The id of an SMS the notifier sent through the gateway "esms" (its reference: G-1)."""
    async with world.apps["notifier"].state.engine.begin() as conn:
        return str(
            await conn.scalar(
                text(
                    "INSERT INTO notify.notifications (id, dedupe_key, message_id, kind, channel, recipient, body,"
                    " status, provider, provider_ref) VALUES (gen_random_uuid(), 'security-test', gen_random_uuid(),"
                    " 'focal_point_registered', 'sms', '+84912345678', 'x', 'sent', 'sms:esms', 'G-1') RETURNING id"
                )
            )
        )
