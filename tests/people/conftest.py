"""Fixtures of the people and sessions tests: the registry's tables emptied before each test, and the
adoption and notifier apps beside the registry's (the security tests' ``other_apps``), which must
accept a person's session like a key."""

from __future__ import annotations

import pytest

from tests.security.conftest import other_apps  # noqa: F401  (a fixture, used by name)


@pytest.fixture(autouse=True)
async def empty_registry(registry_tables) -> None:
    """Used by every test here: people, sessions and the audit trail start empty."""
