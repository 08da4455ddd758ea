"""Cursor pages for lists that grow without bound: ``{"items": [...], "next_cursor": "…" | null}``."""

from __future__ import annotations

import base64
import json
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from shared.problems import FieldError, InvalidFields
from shared.schemas import query_integer

T = TypeVar("T")

Limit = Annotated[int, query_integer(1, 1000), Query(description="page size (at most 1,000)")]
Cursor = Annotated[
    str | None, Query(max_length=512, description="`next_cursor` of the previous page, as given (opaque)")
]


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None


def encode_cursor(position: list[Any]) -> str:
    """An opaque token for the keyset position after the last item shown."""
    return base64.urlsafe_b64encode(json.dumps(position, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> list[Any] | None:
    if cursor is None:
        return None
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError):  # not base64, not UTF-8, not JSON
        raise InvalidFields(FieldError("cursor", "cursor_invalid")) from None
    if not isinstance(position, list):
        raise InvalidFields(FieldError("cursor", "cursor_invalid"))
    return position
