"""Fixtures of the security tests: the adoption and notifier apps next to the registry's (each
``create_app`` call is one "process" with its own memory) on the session's database, and the world of
two wards they serve (``tests/security/builders.py``), made on emptied tables."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.adoption.app import create_app as create_adoption_app
from services.adoption.migrations import upgrade as upgrade_adoption
from services.adoption.settings import AdoptionSettings
from services.notifier.app import create_app as create_notifier_app
from services.notifier.migrations import upgrade as upgrade_notifier
from services.notifier.settings import NotifierSettings
from tests.security.builders import RECEIPT_TOKEN, SUBJECT_KEY, World, world_of
from tests.support import tables


@pytest.fixture(scope="session")
async def other_apps(registry_database, redis_url, queue_prefix, tmp_path_factory) -> AsyncIterator[dict[str, Any]]:
    """The adoption and notifier apps on the session's database (next to the registry's tables)."""
    await asyncio.to_thread(upgrade_adoption, registry_database)
    await asyncio.to_thread(upgrade_notifier, registry_database)
    common = {
        "database_url": registry_database,
        "redis_url": redis_url,
        "queue_prefix": queue_prefix,
        "environment": "test",
        "log_json": False,
        "log_level": "WARNING",
    }
    adoption = create_adoption_app(AdoptionSettings(**common, subject_hmac_key=SUBJECT_KEY))
    notifier = create_notifier_app(
        NotifierSettings(**common, receipt_token=RECEIPT_TOKEN, sink_dir=str(tmp_path_factory.mktemp("sink")))
    )
    async with adoption.router.lifespan_context(adoption), notifier.router.lifespan_context(notifier):
        yield {"adoption": adoption, "notifier": notifier}


@pytest.fixture
async def world(registry_app, other_apps, db) -> AsyncIterator[World]:
    """The world of two wards, on the three services' tables emptied first (``db`` empties the registry's)."""
    adoption, notifier = other_apps["adoption"], other_apps["notifier"]
    async with adoption.state.engine.begin() as conn:
        await tables.empty_adoption(conn)
        await tables.empty(conn, tables.NOTIFIER)
    apps = {"registry": registry_app, "adoption": adoption, "notifier": notifier}
    async with world_of(db, apps) as made:
        yield made
