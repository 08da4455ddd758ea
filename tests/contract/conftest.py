"""Fixtures of the contract tests: each service's settings on the session's database and Redis, with its
schema migrated. The apps made without a database are in ``tests/contract/apps.py``."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from services.adoption.migrations import upgrade as upgrade_adoption
from services.adoption.settings import AdoptionSettings
from services.notifier.migrations import upgrade as upgrade_notifier
from services.notifier.settings import NotifierSettings


@pytest.fixture(scope="session")
async def adoption_settings_for_contract(registry_database, redis_url, queue_prefix) -> AdoptionSettings:
    await asyncio.to_thread(upgrade_adoption, registry_database)
    return AdoptionSettings(
        database_url=registry_database,
        redis_url=redis_url,
        queue_prefix=f"{queue_prefix}-contract",
        environment="test",
        log_json=False,
        log_level="WARNING",
        subject_hmac_key="contract-subject-key",
    )


@pytest.fixture(scope="session")
async def notifier_settings_for_contract(registry_database, redis_url, queue_prefix, tmp_path_factory):
    await asyncio.to_thread(upgrade_notifier, registry_database)
    return NotifierSettings(
        database_url=registry_database,
        redis_url=redis_url,
        queue_prefix=f"{queue_prefix}-contract-{uuid.uuid4().hex[:6]}",
        environment="test",
        log_json=False,
        log_level="WARNING",
        sink_dir=str(tmp_path_factory.mktemp("sink")),
        receipt_token="contract-receipt-token",
    )
