"""The registry's HTTP app: units, directives, focal-point registrations, compliance, reminders, keys,
people, their sessions and the audit trail.

Run with ``uvicorn services.api.app:create_app --factory`` (``make run`` does).
"""

from __future__ import annotations

from fastapi import FastAPI

from services.api.audit.router import router as audit_router
from services.api.compliance.router import router as compliance_router
from services.api.directives.router import router as directives_router
from services.api.keys.router import router as keys_router
from services.api.models import idempotency_keys
from services.api.people.router import router as people_router
from services.api.registrations.router import router as registrations_router
from services.api.reminders.router import router as reminders_router
from services.api.sessions.router import router as sessions_router
from services.api.settings import RegistrySettings, get_settings
from services.api.units.router import router as units_router
from shared.metrics import metrics_router
from shared.web import create_service_app

DESCRIPTION = """
Registry of the Hạ Long Intelligent Operations Centre (dispatch 984/UBND): the unit directory,
directives with deadlines, focal-point registrations posted by ward apps, and compliance for the Office.

Authenticate with `Authorization: Bearer <key>`: an API key, or a person's session token from
`POST /v1/sessions`. Errors are RFC 9457 `application/problem+json`, in
Vietnamese unless `Accept-Language` prefers English. Every POST accepts an `Idempotency-Key`.
"""


def create_app(settings: RegistrySettings | None = None) -> FastAPI:
    settings = settings or get_settings()
    return create_service_app(
        settings,
        service="registry",
        title="IOC Hạ Long – Registry",
        description=DESCRIPTION,
        # Registrations first: routes are matched in order, and it is the path the ward apps hammer.
        routers=[
            registrations_router,
            units_router,
            directives_router,
            compliance_router,
            reminders_router,
            keys_router,
            sessions_router,
            people_router,
            audit_router,
            metrics_router(),
        ],
        idempotency_table=idempotency_keys,
        max_body_bytes=settings.max_body_bytes,
    )
