"""Demo adoption data: four weeks of Smart Quảng Ninh installs across Hạ Long's units, so that the
operations centre's screens mean something on first run.

Run ``python -m services.adoption.seed [--wait 60]`` once the unit directory has reached this service
(``make run`` does). Most units have an event feed: their staff install over the weeks (a few
uninstall, some of those re-install), citizens follow; a few units only send their own reports. Event
ids are derived from the data, so running it again adds nothing. People are invented.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import uuid
from datetime import datetime, timedelta
from typing import Any

from services.adoption.aggregation import service as aggregation
from services.adoption.events.service import ingest
from services.adoption.events.writer import EventWriter
from services.adoption.metrics.cache import MetricsCache
from services.adoption.models import DirectoryUnit
from services.adoption.settings import AdoptionSettings, get_settings
from services.adoption.subjects import SubjectHasher
from services.adoption.units import repository as directory
from services.adoption.units import service as units
from services.adoption.units.schemas import ReportIn
from shared.auth import Principal, Role
from shared.db import create_engine, create_pg_pool, session_factory
from shared.timeutil import utcnow, vietnam_today

SEEDER = Principal(uuid.UUID(int=0), "demo seed", Role.app_backend, None, None)
NAMESPACE = uuid.UUID("6f1c0b52-8a3e-4c59-9d1e-984000000000")
DAYS = 28
SELF_REPORTING = 5  # units without an event feed


def _events_for(unit: DirectoryUnit, rng: random.Random, now: datetime) -> list[dict[str, Any]]:
    staff = unit.registry_headcount or rng.randint(15, 40)
    share = 1.0 if rng.random() < 0.3 else rng.uniform(0.45, 0.97)
    citizens = rng.randint(40, 400) if unit.kind in ("ward", "commune", "town") else rng.randint(0, 30)
    start = now - timedelta(days=DAYS)
    events: list[dict[str, Any]] = []

    def add(audience: str, person: int, kind: str, at: datetime) -> None:
        events.append(
            {
                "event_id": str(uuid.uuid5(NAMESPACE, f"{unit.code}:{audience}:{person}:{kind}:{len(events)}")),
                "unit_code": unit.code,
                "subject": f"demo-{unit.code}-{audience}-{person}",
                "audience": audience,
                "type": kind,
                "occurred_at": at.isoformat(),
            }
        )

    for audience, people in (("staff", round(staff * share)), ("citizen", citizens)):
        for person in range(people):
            # Most install in the first two weeks after the campaign started; citizens later and slower.
            offset = rng.triangular(0, DAYS, 3 if audience == "staff" else 12)
            installed = start + timedelta(days=offset, hours=rng.uniform(7, 18) - 12)
            installed = min(installed, now - timedelta(minutes=5))
            add(audience, person, "installed", installed)
            if rng.random() < 0.5:
                add(audience, person, "activated", min(installed + timedelta(hours=rng.uniform(0.1, 30)), now))
            if rng.random() < 0.08:  # uninstalled, and half of those came back
                gone = min(installed + timedelta(days=rng.uniform(1, 10)), now - timedelta(minutes=2))
                add(audience, person, "uninstalled", gone)
                if rng.random() < 0.5:
                    add(audience, person, "installed", min(gone + timedelta(days=rng.uniform(0.5, 5)), now))
    return events


async def seed(settings: AdoptionSettings, *, wait_seconds: float) -> str:
    engine = create_engine(settings, pool_size=2, max_overflow=0)
    sessions = session_factory(engine)
    pg = await create_pg_pool(settings)
    try:
        deadline = asyncio.get_running_loop().time() + wait_seconds
        while True:  # the directory arrives from the registry through the queue
            async with sessions() as session:
                all_units = list(await directory.city_units(session))
            if all_units or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(1)
        if not all_units:
            return "no units yet: run the registry (and its worker) first"
        rng = random.Random(984)
        now = utcnow()
        reporting = set(u.code for u in rng.sample(all_units, min(SELF_REPORTING, len(all_units))))
        events = [e for u in all_units if u.code not in reporting for e in _events_for(u, rng, now)]
        hasher = SubjectHasher(settings.subject_hmac_key.get_secret_value().encode())
        accepted = 0
        unit_codes = units.UnitCodes(MetricsCache())  # not listening: it reads the version for every batch
        writer = EventWriter()
        for i in range(0, len(events), 1000):
            body = json.dumps({"events": events[i : i + 1000]}).encode()
            result = await ingest(
                pg,
                body,
                principal=SEEDER,
                hasher=hasher,
                units=unit_codes,
                writer=writer,
                max_events=1000,
                english=False,
            )
            accepted += result.accepted
        async with pg.acquire() as conn:
            await aggregation.fold_all(conn, max_events=settings.aggregate_max_events)
        for unit in all_units:
            if unit.code in reporting:
                total = unit.registry_headcount or rng.randint(15, 40)
                async with sessions() as session:
                    await units.record_report(
                        session,
                        ReportIn(
                            unit_code=unit.code,
                            as_of=vietnam_today() - timedelta(days=2),
                            staff_total=total,
                            staff_installed=round(total * rng.uniform(0.5, 1.0)),
                            citizens_guided=rng.randint(20, 200),
                        ),
                    )
        return (
            f"{accepted} new events ({len(events) - accepted} already there) for "
            f"{len(all_units) - len(reporting)} units, reports from {len(reporting)}"
        )
    finally:
        await pg.close()
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wait", type=float, default=0, help="seconds to wait for the unit directory")
    args = parser.parse_args()
    print(asyncio.run(seed(get_settings(), wait_seconds=args.wait)))


if __name__ == "__main__":
    main()
