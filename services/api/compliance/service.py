"""Who has nominated a focal point for a directive, and when (DHIS2: expected, reporting and on-time rates).

A unit's status comes from its first still-standing submission: a replacement of an on-time focal
point keeps the unit on time; a withdrawal makes it missing until it registers again.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.api.compliance.schemas import Compliance, FocalPointContact, UnitCompliance
from services.api.models import Directive
from services.api.registrations.service import addressed_units
from shared.timeutil import utcnow

STATUS_ORDER = {"missing": 0, "late": 1, "on_time": 2}


async def compliance(session: AsyncSession, directive: Directive) -> Compliance:
    units = []
    for unit, fp in await addressed_units(session, directive.id):
        if fp is None:
            status, contact = "missing", None
        else:
            status = "on_time" if fp.standing_since < directive.deadline else "late"
            contact = FocalPointContact(full_name=fp.full_name, phone=fp.phone, email=fp.email)
        units.append(
            UnitCompliance(
                unit_code=unit.code,
                unit_name=unit.name,
                unit_kind=unit.kind,
                status=status,
                submitted_at=fp.standing_since if fp else None,
                focal_point=contact,
            )
        )
    # Missing first, then late: the Office reads the list top-down for whom to call.
    units.sort(key=lambda u: (STATUS_ORDER[u.status], u.unit_code))
    expected = len(units)
    on_time = sum(u.status == "on_time" for u in units)
    late = sum(u.status == "late" for u in units)
    submitted = on_time + late
    return Compliance(
        directive_id=directive.id,
        number=directive.number,
        deadline=directive.deadline,
        as_of=utcnow(),
        expected=expected,
        submitted=submitted,
        on_time=on_time,
        late=late,
        missing=expected - submitted,
        reporting_rate=round(submitted / expected, 4) if expected else 0.0,
        on_time_rate=round(on_time / expected, 4) if expected else 0.0,
        units=units,
    )
