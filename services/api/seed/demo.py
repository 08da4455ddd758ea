"""The demo seed: what ``make run`` loads so that the system means something on first start.

- Hạ Long's 33 wards and communes of 2020 (GSO codes) and the city's departments (own codes);
- directive 984/UBND with its real dates, addressed to all of them, with a realistic spread of
  registrations (most on time, some late, some missing, one replaced);
- a second directive issued today whose deadline is two weeks ahead.

Running it again changes nothing that is already there. People, phones and e-mails are invented.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.api.directives import service as directives
from services.api.directives.schemas import DirectiveCreate
from services.api.keys import service as keys
from services.api.keys.schemas import KeyCreate
from services.api.models import Directive
from services.api.people import service as people
from services.api.people.models import Person
from services.api.people.passwords import hash_password, one_time_password
from services.api.people.schemas import PersonCreate
from services.api.registrations import service as registrations
from services.api.registrations.schemas import RegistrationCreate
from services.api.units import service as units
from services.api.units.importer import import_units
from services.api.units.schemas import UnitPatch
from shared.auth import Principal, Role
from shared.db import raw_connection
from shared.problems import describe
from shared.text import fold_for_search
from shared.timeutil import VIETNAM, utcnow, vietnam_midnight, vietnam_today

HERE = Path(__file__).parent
SEEDER = Principal(uuid.UUID(int=0), "demo seed", Role.office, None, None)
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Ngô", "Dương", "Lý"]
MIDDLE = ["Văn", "Thị", "Đức", "Minh", "Thu", "Thanh", "Quang", "Ngọc", "Hữu", "Hồng"]
GIVEN = [
    "An",
    "Bình",
    "Cường",
    "Dũng",
    "Giang",
    "Hà",
    "Hải",
    "Hạnh",
    "Hùng",
    "Hương",
    "Khánh",
    "Lan",
    "Linh",
    "Long",
    "Mai",
    "Nam",
    "Nga",
    "Phong",
    "Phương",
    "Quân",
    "Sơn",
    "Thảo",
    "Trang",
    "Tuấn",
    "Yến",
]
POSITIONS = [
    "Chuyên viên",
    "Công chức Văn phòng - Thống kê",
    "Phó Chánh Văn phòng",
    "Chuyên viên CNTT",
    "Công chức Văn hóa - Xã hội",
    "Phó Trưởng phòng",
]
MOBILE_PREFIXES = ["091", "094", "088", "098", "097", "086", "090", "093", "096", "035", "036", "083"]


@dataclass
class SeedReport:
    units_created: int
    units_updated: int
    directives_created: list[str]
    registrations: int


async def seed_demo(sessions: async_sessionmaker[AsyncSession], *, today: date | None = None) -> SeedReport:
    today = today or vietnam_today()
    rng = random.Random(984)
    async with sessions() as session:
        report_a = await import_units(session, HERE / "departments.csv", by="demo seed")
        report_b = await import_units(session, HERE / "halong-units-2020.csv", by="demo seed")
        if report_a.errors or report_b.errors:
            problems = [f"line {e.line} ({e.code}): {describe(e.error)}" for e in report_a.errors + report_b.errors]
            raise RuntimeError("demo units did not import: " + "; ".join(problems))
        await _ward_contacts(session, rng)
        halong = [u for u in await units.list_units(session, active=True) if u.kind not in ("city", "province")]
    codes = sorted(u.code for u in halong)
    created, registered = [], 0

    async with sessions() as session:
        dispatch = await _directive(
            session,
            DirectiveCreate(
                number="984/UBND",
                title=(
                    "Chuẩn bị công tác vận hành chính thức Trung tâm điều hành thành phố thông minh "
                    "của thành phố Hạ Long"
                ),
                issued_on=date(2020, 2, 13),
                deadline=datetime(2020, 2, 15, tzinfo=VIETNAM),
                operation_starts_at=datetime(2020, 2, 25, tzinfo=VIETNAM),
                unit_codes=codes,
            ),
        )
        if dispatch is not None:
            created.append("984/UBND (2020)")
            registered += await _registrations_984(session, dispatch, codes, rng)

    async with sessions() as session:
        deadline = vietnam_midnight(today + timedelta(days=14))
        follow_up = await _directive(
            session,
            DirectiveCreate(
                number="1250/UBND",
                title="Rà soát, cập nhật cán bộ đầu mối vận hành Trung tâm điều hành thành phố thông minh",
                issued_on=today,
                deadline=deadline,
                unit_codes=codes,
            ),
        )
        if follow_up is not None:
            created.append(f"1250/UBND ({today.year})")
            for code in rng.sample(codes, 9):
                await _register(session, follow_up.id, code, rng, at=vietnam_midnight(today) + timedelta(hours=9))
                registered += 1
    return SeedReport(report_a.created + report_b.created, report_a.updated + report_b.updated, created, registered)


DEMO_KEYS = [
    ("demo: Văn phòng HĐND và UBND", Role.office, None),
    ("demo: ứng dụng phường Hà Phong", Role.ward_app, "06652"),
    ("demo: màn hình Trung tâm điều hành", Role.ops_centre, None),
    ("demo: máy chủ Smart Quảng Ninh", Role.app_backend, None),
]


async def demo_keys(sessions: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    """Fresh keys for trying the demo (name → secret); the previous demo keys are revoked."""
    secrets: dict[str, str] = {}
    async with sessions() as session:
        for old in await keys.list_keys(session, include_revoked=False):
            if old.name.startswith("demo: "):
                await keys.revoke_key(session, old.id)
        for name, role, unit in DEMO_KEYS:
            created = await keys.create_key(session, KeyCreate(name=name, role=role, unit_code=unit))
            secrets[name] = created.key
    return secrets


DEMO_PEOPLE = [
    ("van-phong", "Văn phòng HĐND và UBND (demo)", "office", None),
    ("ioc", "Trực ban Trung tâm điều hành (demo)", "ops_centre", None),
    ("ha-phong", "Cán bộ phường Hà Phong (demo)", "unit", "06652"),
]


async def demo_people(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[str, str, str]]:
    """One person per role with a fresh random password, not asked to change it: (role, login, password).
    Their previous sessions end."""
    made = []
    async with sessions() as session:
        for login, name, role, unit in DEMO_PEOPLE:
            password = one_time_password()
            person = await session.scalar(select(Person).where(Person.login == login))
            if person is None:
                data = PersonCreate(
                    login=login, display_name=name, role=role, unit_code=unit, must_change_password=False
                )
                await people.create_person(session, data, by="demo seed", password=password)
            else:
                now = utcnow()
                person.password_hash = await hash_password(password)
                person.must_change_password, person.password_changed_at, person.disabled_at = False, now, None
                await people.revoke_sessions(session, person.id, now)
                await session.commit()
            made.append((role, login, password))
    return made


async def _ward_contacts(session: AsyncSession, rng: random.Random) -> None:
    """GSO lists carry no contacts: give each ward and commune an official address and a headcount."""
    for unit in await units.list_units(session, active=True):
        if unit.kind in ("ward", "commune", "town") and unit.email is None:
            slug = fold_for_search(unit.name).replace("phuong ", "").replace("xa ", "").replace(" ", "")
            await units.update_unit(
                session,
                unit.code,
                UnitPatch(
                    email=f"ubnd.{slug}@halong.example",
                    staff_headcount=rng.randint(18, 36),
                ),
                by="demo seed",
            )


async def _directive(session: AsyncSession, data: DirectiveCreate) -> Directive | None:
    """Create the directive unless a directive with its number and year exists (then None)."""
    exists = await session.scalar(
        select(Directive.id).where(Directive.number == data.number, Directive.issue_year == data.issued_on.year)
    )
    if exists is not None:
        return None
    # A directive of the past is history: its units are not told about it again.
    historic = data.deadline < vietnam_midnight(vietnam_today())
    directive, _ = await directives.create_directive(session, data, by="demo seed", notify=not historic)
    return directive


async def _registrations_984(session: AsyncSession, directive: Directive, codes: list[str], rng: random.Random) -> int:
    """Most units nominated on 13–14/02/2020, four after the deadline, the rest never did; one was replaced."""
    shuffled = rng.sample(codes, len(codes))
    on_time, late = shuffled[:36], shuffled[36:40]
    issued = datetime(2020, 2, 13, 14, 0, tzinfo=VIETNAM)
    count = 0
    for code in on_time:
        await _register(session, directive.id, code, rng, at=issued + timedelta(minutes=rng.randint(0, 33 * 60)))
        count += 1
    for code in late:
        await _register(
            session,
            directive.id,
            code,
            rng,
            at=datetime(2020, 2, 15, 8, tzinfo=VIETNAM) + timedelta(minutes=rng.randint(0, 3 * 24 * 60)),
        )
        count += 1
    # A ward replaced its focal point after the deadline: it stays on time (first standing submission).
    await _register(session, directive.id, on_time[0], rng, at=datetime(2020, 2, 20, 10, tzinfo=VIETNAM))
    return count + 1


async def _register(
    session: AsyncSession, directive_id: uuid.UUID, code: str, rng: random.Random, *, at: datetime
) -> None:
    name = f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"
    login = fold_for_search(name).split()
    phone = rng.choice(MOBILE_PREFIXES) + "".join(str(rng.randint(0, 9)) for _ in range(7))
    body = RegistrationCreate(
        directive_id=directive_id,
        unit_code=code,
        full_name=name,
        position=rng.choice(POSITIONS),
        phone=phone,
        email=f"{login[-1]}.{''.join(w[0] for w in login[:-1])}@halong.example",
    )
    engine = session.bind
    assert isinstance(engine, AsyncEngine), "the seed's sessions are bound to an engine"
    async with raw_connection(engine) as conn:
        await registrations.register(conn, body, principal=SEEDER, received_at=at, notify=False)
