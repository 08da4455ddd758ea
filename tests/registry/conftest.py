"""Fixtures of the registry's tests: each starts from empty registry tables, whether it names them
(``db``, ``client``) or reaches them another way (the ``ioc`` command line, the worker)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
async def empty_registry(registry_tables) -> None:
    """Used by every test here: nearly all of them read or write the registry's tables."""
