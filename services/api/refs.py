"""The registry's rows as the shared message contracts (what other services are told)."""

from __future__ import annotations

from services.api.models import Directive, FocalPoint, Unit
from shared.contracts import DirectiveRef, FocalPointRef, UnitRef


def directive_ref(d: Directive) -> DirectiveRef:
    return DirectiveRef(
        id=d.id, number=d.number, title=d.title, deadline=d.deadline, operation_starts_at=d.operation_starts_at
    )


def unit_ref(u: Unit) -> UnitRef:
    return UnitRef(code=u.code, name=u.name, kind=u.kind, email=u.email, phone=u.phone)


def focal_point_ref(fp: FocalPoint, directive: Directive) -> FocalPointRef:
    return FocalPointRef(
        id=fp.id,
        version=fp.version,
        full_name=fp.full_name,
        position=fp.position,
        phone=fp.phone,
        email=fp.email,
        submitted_at=fp.submitted_at,
        on_time=fp.submitted_at < directive.deadline,
    )
