"""Fixtures of the deployment tests: each overlay (``overlay``, its name) rendered once a session."""

from __future__ import annotations

import pytest

from tests.support.kubernetes import K8S, OVERLAYS, Manifest, render


@pytest.fixture(scope="session", params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="session")
def manifests(overlay: str) -> list[Manifest]:
    """Every object of the overlay, as ``kubectl kustomize`` renders it."""
    return render(K8S / "overlays" / overlay)
