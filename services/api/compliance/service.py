"""Who has nominated a focal point for a directive, and when (DHIS2: expected, reporting and on-time rates).

A unit's status comes from its first still-standing submission: a replacement of an on-time focal
point keeps the unit on time; a withdrawal makes it missing until it registers again.
"""

from __future__ import annotations

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.compliance.schemas import Compliance, FocalPointContact, UnitCompliance
from services.api.models import Directive, DirectiveUnit, FocalPoint, Unit
from shared.timeutil import utcnow

STATUS_ORDER = {"missing": 0, "late": 1, "on_time": 2}


async def compliance(session: AsyncSession, directive: Directive) -> Compliance:
    rows = (
        await session.execute(
            select(
                Unit.code,
                Unit.name,
                Unit.kind,
                FocalPoint.standing_since,
                FocalPoint.full_name,
                FocalPoint.phone,
                FocalPoint.email,
            )
            .select_from(DirectiveUnit)
            .join(Unit, Unit.id == DirectiveUnit.unit_id)
            .outerjoin(
                FocalPoint,
                and_(
                    FocalPoint.directive_id == DirectiveUnit.directive_id,
                    FocalPoint.unit_id == DirectiveUnit.unit_id,
                    FocalPoint.status == "active",
                ),
            )
            .where(DirectiveUnit.directive_id == directive.id)
        )
    ).all()
    units = []
    for row in rows:
        if row.standing_since is None:
            status, contact = "missing", None
        else:
            status = "on_time" if row.standing_since < directive.deadline else "late"
            contact = FocalPointContact(full_name=row.full_name, phone=row.phone, email=row.email)
        units.append(
            UnitCompliance(
                unit_code=row.code,
                unit_name=row.name,
                unit_kind=row.kind,
                status=status,
                submitted_at=row.standing_since,
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
