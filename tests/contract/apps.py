"""The three services' apps, made and never started: their OpenAPI documents and documentation pages
need no database or Redis."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI

from services.adoption.app import create_app as create_adoption_app
from services.adoption.settings import AdoptionSettings
from services.api.app import create_app as create_registry_app
from services.api.settings import RegistrySettings
from services.notifier.app import create_app as create_notifier_app
from services.notifier.settings import NotifierSettings

APPS: dict[str, Callable[[], FastAPI]] = {
    "registry": lambda: create_registry_app(RegistrySettings(environment="test", log_json=False)),
    "adoption": lambda: create_adoption_app(AdoptionSettings(environment="test", log_json=False)),
    "notifier": lambda: create_notifier_app(NotifierSettings(environment="test", log_json=False)),
}
