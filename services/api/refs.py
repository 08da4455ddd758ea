"""The registry's rows as the shared message contracts (what other services are told), and the one
way a row's columns become a model's fields."""

from __future__ import annotations

from typing import Any, TypeVar

import asyncpg
from pydantic import BaseModel

from services.api.models import Directive, FocalPoint, Unit
from shared.contracts import DirectiveRef, FocalPointRef, UnitRef

M = TypeVar("M", bound=BaseModel)


def from_row(model: type[M], row: Any, **computed: Any) -> M:
    """``model`` filled with the row's columns of its fields' names (a mapped object's attributes or a
    record's fields), and ``computed`` for the fields no column holds: a column added to both the
    table and the model needs no change here."""
    read = row.__getitem__ if isinstance(row, asyncpg.Record) else row.__getattribute__
    return model(**{name: read(name) for name in model.model_fields if name not in computed}, **computed)


def directive_ref(d: Directive) -> DirectiveRef:
    return DirectiveRef(
        id=d.id, number=d.number, title=d.title, deadline=d.deadline, operation_starts_at=d.operation_starts_at
    )


def unit_ref(u: Unit) -> UnitRef:
    return UnitRef(code=u.code, name=u.name, kind=u.kind, email=u.email, phone=u.phone)


def focal_point_ref(fp: FocalPoint, directive: Directive) -> FocalPointRef:
    return from_row(FocalPointRef, fp, on_time=fp.submitted_at < directive.deadline)
